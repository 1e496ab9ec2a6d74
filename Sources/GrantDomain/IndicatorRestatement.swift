/// A sign-off of any indicator but I.3 against the figures at a later cut-off
/// (docs/domain.md §14): the signed-off and current value, the delta of the value and of
/// every disaggregation key, and what changed with the events that changed it. I.3 keeps
/// its §9 shape (`Restatement`).
public struct IndicatorRestatement: Sendable, Encodable {
    public struct SignedOff: Sendable, Encodable {
        public var position: Int64
        public var signedOffOn: BusinessDate
        public var actor: String?
        public var value: Int64?
        public var hash: String
        public var treeSize: Int64?
        public var rootHash: String?
    }
    public struct Current: Sendable, Encodable {
        public var position: Int64
        public var recordedAt: String?
        public var hash: String
        public var value: Int64?
        public var treeSize: Int64?
        public var rootHash: String?
    }
    /// current − signed-off for `value` and every key of every disaggregation (zeros
    /// included); the people cells as a list like the report's.
    public struct Delta: Sendable, Encodable {
        public var value: Int64
        public var disaggregations: [(name: String, counts: [String: Int64])]
        public var cells: [IndicatorFigures.Cell]?

        struct Key: CodingKey {
            var stringValue: String
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(value, forKey: Key("value"))
            for (name, counts) in disaggregations { try c.encode(counts, forKey: Key(name)) }
            if let cells { try c.encode(cells, forKey: Key("cells")) }
        }
    }
    /// An event in (sign-off position, `asOf`] that made a change.
    public struct Cause: Sendable, Hashable, Encodable {
        public var position: Int64
        public var type: String
        public var recordedAt: String
        /// `startedOn` of a recorded activity, `retractedOn` of a retraction; absent for an
        /// index value, which has no business date.
        public var businessDate: BusinessDate?
        public var activityId: String?
    }
    /// An activity that qualifies at one of the two cut-offs only.
    public struct ActivityChange: Sendable, Hashable, Encodable {
        public var activityId: String
        public var change: String
        public var causes: [Cause]
    }
    /// III.3's cell of an organisation (§9's cell without channels or gender: every
    /// organisation III.3 counts is women-led).
    public struct OrganisationCell: Sendable, Hashable, Encodable {
        @NullEncoded public var regionCode: String?
        @NullEncoded public var settlement: Settlement?
        public var registrationStatus: RegistrationStatus
    }
    /// A III.3 organisation counted at one cut-off only, or in another cell.
    public struct OrganisationChange: Sendable, Hashable, Encodable {
        public var organisationId: String
        public var change: String
        public var was: OrganisationCell?
        public var now: OrganisationCell?
        public var causes: [Cause]
    }
    /// An I.5 index and year whose value in force differs.
    public struct IndexValueChange: Sendable, Hashable, Encodable {
        public var indexId: IndexId
        public var year: Int64
        @NullEncoded public var was: IndicatorFigures.IndexPoint?
        @NullEncoded public var now: IndicatorFigures.IndexPoint?
        public var causes: [Cause]
    }
    public enum Change: Sendable, Hashable, Encodable {
        case activity(ActivityChange)
        case organisation(OrganisationChange)
        case indexValue(IndexValueChange)

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .activity(let change): try change.encode(to: encoder)
            case .organisation(let change): try change.encode(to: encoder)
            case .indexValue(let change): try change.encode(to: encoder)
            }
        }
    }

    public var reportId: String
    public var indicator: Indicator
    public var period: ReportFrame.Period
    public var filters: ReportFrame.Filters
    public var signedOff: SignedOff
    public var current: Current
    /// Absent for I.5, which has no count.
    public var delta: Delta?
    public var changes: [Change]

    /// The figures signed off (as recorded) and now, for callers that check the arithmetic.
    public var signedOffFigures: IndicatorFigures
    public var currentFigures: IndicatorFigures

    enum CodingKeys: String, CodingKey {
        case reportId, indicator, period, filters, signedOff, current, delta, changes
    }
}

/// An event of the log as a restatement reads it.
public struct LoggedEvent: Sendable {
    public var position: Int64
    public var recordedAt: String
    public var event: DomainEvent

    public init(position: Int64, recordedAt: String, event: DomainEvent) {
        (self.position, self.recordedAt, self.event) = (position, recordedAt, event)
    }
}

extension IndicatorRestatement {
    /// The restatement of `signOff` (recorded by `actor`; not I.3) at `asOf`.
    /// - Parameters:
    ///   - then: the ledger folded up to the sign-off's position.
    ///   - now: the ledger folded up to `asOf`.
    ///   - between: the activity and index events in (sign-off position, `asOf`], in order.
    public init(
        _ signOff: IndicatorReportSignedOff, actor: String?, then: ActivityLedger, now: ActivityLedger,
        asOf: LogPoint, between: [LoggedEvent]
    ) {
        let command = signOff.base
        let definition = command.indicator.definition
        let query = command.indicatorQuery
        let current = now.figures(definition, query)
        // The figures the restatement starts from are the ones recorded in the event.
        let signed = signOff.extras.figures.indicator ?? then.figures(definition, query)
        var changes: [Change] = []
        switch definition.measure {
        case .activities, .people, .smallOrganisations:
            let before = Set(then.qualifying(definition, query).map(\.activity.activityId))
            let after = Set(now.qualifying(definition, query).map(\.activity.activityId))
            for id in before.symmetricDifference(after).sorted() {
                let causes = between.compactMap { Self.cause($0, activity: id) }
                changes.append(
                    .activity(.init(activityId: id, change: after.contains(id) ? "added" : "removed", causes: causes)))
            }
        case .organisations:
            func cells(_ ledger: ActivityLedger) -> [String: OrganisationCell] {
                ledger.womenLedFirsts(ledger.qualifying(definition, query)).mapValues {
                    OrganisationCell(
                        regionCode: $0.profile.regionCode, settlement: $0.profile.settlement,
                        registrationStatus: $0.profile.registrationStatus)
                }
            }
            let (was, isNow) = (cells(then), cells(now))
            for id in Set(was.keys).union(isNow.keys).sorted() {
                let kind: String
                switch (was[id], isNow[id]) {
                case (nil, .some): kind = "added"
                case (.some, nil): kind = "removed"
                case (.some(let a), .some(let b)) where a != b: kind = "moved"
                default: continue
                }
                // The activities recorded or retracted in between that count the organisation
                // among their participants and meet III.3's conditions, period and filters.
                let causes = between.compactMap { logged -> Cause? in
                    let activityId: String
                    switch logged.event {
                    case .activityRecorded(let e): activityId = e.activityId
                    case .activityRetracted(let e): activityId = e.activityId
                    default: return nil
                    }
                    guard let activity = now.activity(activityId), activity.participants.contains(id),
                        now.matches(activity, definition, query)
                    else { return nil }
                    return Self.cause(logged, activity: activityId)
                }
                changes.append(
                    .organisation(.init(organisationId: id, change: kind, was: was[id], now: isNow[id], causes: causes))
                )
            }
        case .indices:
            var keys = Set<String>()
            var years: [(IndexId, Int64)] = []
            for (index, year) in then.indexYears + now.indexYears
            where keys.insert("\(index.rawValue)/\(year)").inserted {
                years.append((index, year))
            }
            for (index, year) in years.sorted(by: { ($0.0.rawValue, $0.1) < ($1.0.rawValue, $1.1) }) {
                func point(_ ledger: ActivityLedger) -> IndicatorFigures.IndexPoint? {
                    ledger.indexValue(index, year).map { .init(year: year, value: $0.value, rating: $0.rating) }
                }
                let (was, isNow) = (point(then), point(now))
                guard was != isNow else { continue }
                let causes = between.compactMap { logged -> Cause? in
                    guard case .indexValueRecorded(let e) = logged.event, e.indexId == index, e.year == year else {
                        return nil
                    }
                    return Cause(
                        position: logged.position, type: "IndexValueRecorded", recordedAt: logged.recordedAt,
                        businessDate: nil, activityId: nil)
                }
                changes.append(.indexValue(.init(indexId: index, year: year, was: was, now: isNow, causes: causes)))
            }
        }
        var delta: Delta?
        if let value = current.value {
            let before = Dictionary(uniqueKeysWithValues: signed.disaggregations.map { ($0.name, $0.counts) })
            delta = Delta(
                value: value - (signed.value ?? 0),
                disaggregations: current.disaggregations.filter { $0.name != "cells" }.map { name, counts in
                    let old = before[name] ?? [:]
                    let keys = Set(counts.keys).union(old.keys)
                    return (
                        name, Dictionary(uniqueKeysWithValues: keys.map { ($0, (counts[$0] ?? 0) - (old[$0] ?? 0)) })
                    )
                },
                cells: current.cells.map { cells in
                    cells.map { cell in
                        let old = signed.cells?.first { $0.group == cell.group && $0.gender == cell.gender }?.count ?? 0
                        return IndicatorFigures.Cell(group: cell.group, gender: cell.gender, count: cell.count - old)
                    }
                })
        }
        let recordedAsOf = signOff.extras.asOf
        self.init(
            reportId: command.reportId, indicator: command.indicator, period: .init(from: command.from, to: command.to),
            filters: .init(programme: command.programme, callId: command.callId),
            signedOff: .init(
                position: command.position, signedOffOn: command.signedOffOn, actor: actor, value: signed.value,
                hash: recordedAsOf.hash, treeSize: recordedAsOf.treeSize, rootHash: recordedAsOf.rootHash),
            current: .init(
                position: asOf.position, recordedAt: asOf.recordedAt, hash: asOf.hash, value: current.value,
                treeSize: asOf.treeSize, rootHash: asOf.rootHash),
            delta: delta, changes: changes, signedOffFigures: signed, currentFigures: current)
    }

    /// `logged` as the cause of a change of `activity`: its recording or its retraction.
    static func cause(_ logged: LoggedEvent, activity: String) -> Cause? {
        switch logged.event {
        case .activityRecorded(let e) where e.activityId == activity:
            return Cause(
                position: logged.position, type: "ActivityRecorded", recordedAt: logged.recordedAt,
                businessDate: e.startedOn, activityId: activity)
        case .activityRetracted(let e) where e.activityId == activity:
            return Cause(
                position: logged.position, type: "ActivityRetracted", recordedAt: logged.recordedAt,
                businessDate: e.retractedOn, activityId: activity)
        default:
            return nil
        }
    }
}
