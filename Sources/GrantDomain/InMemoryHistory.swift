/// The whole history in memory: a `StateReader` for pure tests and for replays.
///
/// No locking: it is never shared between concurrent deciders.
public struct InMemoryHistory: StateReader {
    /// Events per stream, in order.
    public private(set) var streams: [String: [DomainEvent]] = [:]
    /// All events, in log order.
    public private(set) var log: [DomainEvent] = []

    public init() {}

    /// Records events as the log would.
    public mutating func record(_ events: [DomainEvent]) {
        for event in events {
            streams[event.streamID, default: []].append(event)
            log.append(event)
        }
    }

    /// Decides `command` and records its events when accepted.
    @discardableResult
    public mutating func execute(_ command: Command) async throws -> [DomainEvent] {
        let events = try await decide(command, reader: self)
        record(events)
        return events
    }

    public func organisation(_ id: String) async throws -> OrganisationProfile? {
        Fold.organisation(streams[Streams.organisation(id)] ?? [])
    }
    public func reportingRules() async throws -> ReportingRules {
        Fold.reportingRules(streams[Streams.reportingRules] ?? [])
    }
    public func call(_ id: String) async throws -> CallState? { Fold.call(streams[Streams.call(id)] ?? []) }
    public func consortium(_ id: String) async throws -> ConsortiumState? {
        Fold.consortium(streams[Streams.consortium(id)] ?? [])
    }
    public func application(_ id: String) async throws -> ApplicationState? {
        Fold.application(streams[Streams.application(id)] ?? [])
    }
    public func grant(_ id: String) async throws -> GrantState? { Fold.grant(streams[Streams.grant(id)] ?? []) }
    public func subGrant(_ id: String) async throws -> SubGrantState? {
        Fold.subGrant(streams[Streams.subGrant(id)] ?? [])
    }
    public func indexValue(_ indexId: IndexId, year: Int64) async throws -> RecordIndexValue? {
        var latest: RecordIndexValue?
        for case .indexValueRecorded(let e) in streams[Streams.index(indexId, year)] ?? [] { latest = e }
        return latest
    }
    public func activity(_ id: String) async throws -> ActivityState? {
        Fold.activity(streams[Streams.activity(id)] ?? [])
    }
    public func unregisteredOrganisations(_ ids: [String]) async throws -> [String] {
        ids.filter { Fold.organisation(streams[Streams.organisation($0)] ?? []) == nil }
    }

    private func awards(where predicate: (GrantAwarded) -> Bool) -> [GrantAwarded] {
        log.compactMap { event -> GrantAwarded? in
            guard case .grantAwarded(let award) = event, predicate(award) else { return nil }
            return award
        }
    }

    public func grantAwards(ofCall callId: String) async throws -> [GrantAwardFacts] {
        awards { $0.callId == callId }.map(GrantAwardFacts.init)
    }
    public func grantAwards(ofConsortium consortiumId: String) async throws -> [GrantAwardFacts] {
        awards { $0.consortiumId == consortiumId }.map(GrantAwardFacts.init)
    }
    public func applications(ofConsortium consortiumId: String, call callId: String) async throws -> [ApplicationState]
    {
        log.compactMap { event -> ApplicationState? in
            guard case .applicationSubmitted(let s) = event, s.consortiumId == consortiumId, s.callId == callId else {
                return nil
            }
            return Fold.application(streams[Streams.application(s.applicationId)] ?? [])
        }
    }
    public func subGrants(ofGrant grantId: String) async throws -> [SubGrantState] {
        log.compactMap { event -> SubGrantState? in
            guard case .subGrantAwarded(let s) = event, s.grantId == grantId else { return nil }
            return Fold.subGrant(streams[Streams.subGrant(s.subGrantId)] ?? [])
        }
    }
    public func grantId(withContractNumber contractNumber: String) async throws -> String? {
        awards { $0.contractNumber == contractNumber }.first?.grantId
    }
    public func indicatorReport(_ reportId: String) async throws -> IndicatorReportSignedOff? {
        for case .indicatorReportSignedOff(let e) in streams[Streams.indicatorReport(reportId)] ?? [] { return e }
        return nil
    }
    public func indicatorTarget(_ targetId: String) async throws -> SetIndicatorTarget? {
        var latest: SetIndicatorTarget?
        for case .indicatorTargetSet(let e) in streams[Streams.indicatorTarget(targetId)] ?? [] { latest = e }
        return latest
    }
    public func logHead() async throws -> Int64 { Int64(log.count) }
    /// An in-memory log stands for one recorded as the store records today: every text
    /// encrypted.
    public func textsInClear(ofOrganisation organisationId: String) async throws -> Bool { false }
    /// The reference fold; an in-memory log has no chain, so the hash is empty.
    public func indicatorFigures(_ signOff: SignOffIndicatorReport, at position: Int64) async throws
        -> (figures: SignedFigures, asOf: LogPoint)
    {
        let positioned = log.enumerated().map { (position: Int64($0.offset + 1), event: $0.element) }
        let asOf = LogPoint(position: position, recordedAt: nil, hash: "")
        guard signOff.indicator != .i3 else {
            return (.i3(I3Reference.compute(positioned, query: signOff.query, cutoff: position)), asOf)
        }
        var ledger = ActivityLedger()
        for (at, event) in positioned where at <= position { ledger.apply(event, at: at) }
        return (.indicator(ledger.figures(signOff.indicator.definition, signOff.indicatorQuery)), asOf)
    }
}
