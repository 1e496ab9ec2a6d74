import EventStore
import GrantDomain
import PostgresClient

/// Reads entity state for one decision, inside the handler's open transaction.
///
/// Every entity read takes a transaction-scoped advisory lock on its stream first, and
/// every cross-entity lookup takes the lock of the entity that guards it (the call for its
/// budget, the grant for its envelope, the consortium for its applications and membership,
/// the contract number for its uniqueness). Commands that touch the same entities thus run
/// one after another from read to commit, so each rule is checked against a state nobody
/// can change before the events are appended. Commands on different entities run in
/// parallel. The versions read are also sent as expected versions, as a second guard.
actor PostgresStateReader: StateReader {
    private let session: StoreSession
    /// The entity keys locked so far: the decision's guards (`CommandGuards`).
    private(set) var locked: Set<String> = []
    /// Version of each stream read, for expected-version checks.
    private(set) var versions: [String: Int64] = [:]

    /// A sign-off's figures, computed from the log before the transaction began.
    struct SignedFigures: Sendable {
        var signOff: SignOffIndicatorReport
        var position: Int64
        var figures: GrantDomain.SignedFigures
        var asOf: LogPoint
    }
    private let signedFigures: SignedFigures?

    init(session: StoreSession, signedFigures: SignedFigures? = nil) {
        self.session = session
        self.signedFigures = signedFigures
    }

    private func lock(_ key: String) async throws {
        guard locked.insert(key).inserted else { return }
        try await session.lock(.entity(key))
    }

    /// Locks the stream, reads and decodes it, and remembers its version. The lock and the
    /// read go in one round trip.
    private func stream(_ streamID: String) async throws -> [DomainEvent] {
        let lockNow = locked.insert(streamID).inserted
        let stored = try await session.stream(streamID, locking: lockNow ? .entity(streamID) : nil)
        versions[streamID] = Int64(stored.count)
        return try Self.decoded(stored, of: streamID)
    }

    /// The stream's events of this version's types. An event that does not decode as its
    /// type (quarantined: docs/architecture.md, "Threat model") makes the command undecidable:
    /// refused with a clear answer, never a server error.
    static func decoded(_ stored: [(type: String, data: String)], of streamID: String) throws -> [DomainEvent] {
        var events: [DomainEvent] = []
        for (index, event) in stored.enumerated() {
            switch DomainEvent.decodeOrQuarantine(position: 0, type: event.type, data: event.data) {
            case .event(let decoded): events.append(decoded)
            case .unknown: continue
            case .quarantined(let bad):
                throw quarantined(streamID, version: index + 1, type: event.type, reason: bad.reason)
            }
        }
        return events
    }

    static func quarantined(_ streamID: String, version: Int, type: String, reason: String) -> DomainError {
        DomainError(
            .ruleViolated,
            "the history of \(streamID) holds an event that does not read as its type (version \(version), \(type): \(reason)); "
                + "no command can be checked against it until an auditor has looked (audit verify, GET /v1/audit/quarantine)"
        )
    }

    /// Reads streams without locking them (for facts guarded by another entity's lock), in
    /// one round trip however many there are: each stream's events, in the order of `streamIDs`.
    private func unlockedStreams(_ streamIDs: [String]) async throws -> [[DomainEvent]] {
        let found = try await session.streams(streamIDs)
        return try streamIDs.map { id in try Self.decoded(found[id] ?? [], of: id) }
    }

    func organisation(_ id: String) async throws -> OrganisationProfile? {
        Fold.organisation(try await stream(Streams.organisation(id)))
    }

    func reportingRules() async throws -> ReportingRules {
        Fold.reportingRules(try await stream(Streams.reportingRules))
    }

    func call(_ id: String) async throws -> CallState? { Fold.call(try await stream(Streams.call(id))) }

    func consortium(_ id: String) async throws -> ConsortiumState? {
        Fold.consortium(try await stream(Streams.consortium(id)))
    }

    func application(_ id: String) async throws -> ApplicationState? {
        Fold.application(try await stream(Streams.application(id)))
    }

    func grant(_ id: String) async throws -> GrantState? { Fold.grant(try await stream(Streams.grant(id))) }

    func subGrant(_ id: String) async throws -> SubGrantState? {
        Fold.subGrant(try await stream(Streams.subGrant(id)))
    }

    func indexValue(_ indexId: IndexId, year: Int64) async throws -> RecordIndexValue? {
        var latest: RecordIndexValue?
        for case .indexValueRecorded(let e) in try await stream(Streams.index(indexId, year)) { latest = e }
        return latest
    }

    func activity(_ id: String) async throws -> ActivityState? {
        Fold.activity(try await stream(Streams.activity(id)))
    }

    /// One round trip for all of them, unlocked: a registration is never undone.
    func unregisteredOrganisations(_ ids: [String]) async throws -> [String] {
        let found = try await session.streams(ids.map(Streams.organisation))
        return ids.filter { id in
            !(found[Streams.organisation(id)] ?? []).contains { $0.type == "OrganisationRegistered" }
        }
    }

    /// The facts of the awards whose `field` equals `value`, read from the three fields
    /// alone (a call's budget check reads every award of the call).
    private func awards(field: String, value: String) async throws -> [GrantAwardFacts] {
        try await session.fields(
            ["grantId", "applicationId", "amount"], ofType: "GrantAwarded", where: field, equals: value
        ).map { row in
            guard let amount = Money(row[2]) else {
                throw Self.quarantined(
                    Streams.grant(row[0]), version: 1, type: "GrantAwarded", reason: "amount: not a decimal amount")
            }
            return GrantAwardFacts(grantId: row[0], applicationId: row[1], amount: amount)
        }
    }

    func grantAwards(ofCall callId: String) async throws -> [GrantAwardFacts] {
        try await lock(Streams.call(callId))
        return try await awards(field: "callId", value: callId)
    }

    func grantAwards(ofConsortium consortiumId: String) async throws -> [GrantAwardFacts] {
        try await lock(Streams.consortium(consortiumId))
        return try await awards(field: "consortiumId", value: consortiumId)
    }

    func applications(ofConsortium consortiumId: String, call callId: String) async throws -> [ApplicationState] {
        try await lock(Streams.consortium(consortiumId))
        let ids = try await session.fields(
            ["applicationId", "callId"], ofType: "ApplicationSubmitted", where: "consortiumId", equals: consortiumId
        ).filter { $0[1] == callId }.map { Streams.application($0[0]) }
        // Not locked: only rejection or withdrawal can change one, which can only make a live
        // application stop being live; a stale read is merely conservative.
        return try await unlockedStreams(ids).compactMap(Fold.application)
    }

    func subGrants(ofGrant grantId: String) async throws -> [SubGrantState] {
        try await lock(Streams.grant(grantId))
        let ids = try await session.fields(["subGrantId"], ofType: "SubGrantAwarded", where: "grantId", equals: grantId)
            .map { Streams.subGrant($0[0]) }
        // Not locked: cancellation, the only change that matters to the envelope, also locks
        // the grant.
        return try await unlockedStreams(ids).compactMap(Fold.subGrant)
    }

    func grantId(withContractNumber contractNumber: String) async throws -> String? {
        try await lock("contract:" + contractNumber)
        return try await awards(field: "contractNumber", value: contractNumber).first?.grantId
    }

    func indicatorReport(_ reportId: String) async throws -> IndicatorReportSignedOff? {
        for case .indicatorReportSignedOff(let e) in try await stream(Streams.indicatorReport(reportId)) { return e }
        return nil
    }

    func indicatorTarget(_ targetId: String) async throws -> SetIndicatorTarget? {
        var latest: SetIndicatorTarget?
        for case .indicatorTargetSet(let e) in try await stream(Streams.indicatorTarget(targetId)) { latest = e }
        return latest
    }

    func logHead() async throws -> Int64 { try await session.lastAppended() }

    func textsInClear(ofOrganisation organisationId: String) async throws -> Bool {
        let subGrants = try await session.fields(
            ["subGrantId"], ofType: "SubGrantAwarded", where: "organisationId", equals: organisationId
        ).map { Streams.subGrant($0[0]) }
        let found = try await session.streams([Streams.organisation(organisationId)] + subGrants)
        return found.values.joined().contains { PersonalData.hasClearText(type: $0.type, data: $0.data) }
    }

    /// Computed from the events up to `position` by the handler before the transaction
    /// began (`CommandHandler.signOffFigures`); never read from a read model.
    func indicatorFigures(_ signOff: SignOffIndicatorReport, at position: Int64) async throws
        -> (figures: GrantDomain.SignedFigures, asOf: LogPoint)
    {
        guard let signedFigures, signedFigures.signOff == signOff, signedFigures.position == position else {
            throw DomainError(
                .conflict,
                "position \(position) is not yet sealed (a command before it is still being committed); try again"
            )
        }
        return (signedFigures.figures, signedFigures.asOf)
    }
}
