import EventStore
import GrantDomain
import PostgresClient

/// What targets, sign-offs and restatements of every indicator read (docs/domain.md §14),
/// folded from the log itself: the activity ledger, the I.3 fold, every target's revision in
/// force and every sign-off, all at one cut-off. Nothing comes from a table the application
/// role can write.
public struct IndicatorLogFold: Sendable {
    public var ledger = ActivityLedger()
    public var i3 = I3Fold()
    /// The revision in force of each target, by `targetId`.
    public var targets: [String: TargetRecord] = [:]
    /// Every sign-off, in the order recorded.
    public var signOffs: [SignOffRecord] = []
    /// Whether `i3` is folded (the server's memory reads I.3 from its own index instead).
    public let withI3: Bool

    public init(withI3: Bool = true) { self.withI3 = withI3 }

    public mutating func apply(_ projected: ProjectedEvent) {
        ledger.apply(projected.event, at: projected.position)
        if withI3 { i3.apply(projected.event, at: projected.position) }
        switch projected.event {
        case .indicatorTargetSet(let e):
            targets[e.targetId] = TargetRecord(e, RecordedField(recorded: projected.recorded))
        case .indicatorReportSignedOff(let e):
            signOffs.append(SignOffRecord(e, RecordedField(recorded: projected.recorded)))
        default: break
        }
    }

    /// Every target in force, by `targetId`, optionally of one indicator and one programme,
    /// with its actual figure from the fold (I.3: with its minimum shares; §10, §14).
    /// - Parameters:
    ///   - i3Figures: I.3's figures for a target's query (default: the fold's).
    ///   - figures: another indicator's figures (default: the ledger's).
    public func progress(
        indicator: Indicator? = nil, programme: String? = nil, i3Figures: ((I3Query) -> I3Figures)? = nil,
        figures: ((IndicatorDefinition, IndicatorQuery) -> IndicatorFigures)? = nil
    ) -> [I3Progress.TargetProgress] {
        inForce(indicator: indicator, programme: programme).map { record in
            let target = record.base
            if target.indicator == .i3 {
                return I3Progress.TargetProgress(record, figures: i3Figures?(target.query) ?? i3.figures(target.query))
            }
            let definition = target.indicator.definition
            let actual =
                (figures?(definition, target.indicatorQuery) ?? ledger.figures(definition, target.indicatorQuery))
                .value ?? 0
            return I3Progress.TargetProgress(
                targetId: target.targetId, indicator: target.indicator, programme: target.programme,
                period: .init(from: target.from, to: target.to), baseline: target.baseline,
                baselineNote: target.baselineNote, target: target.target, actual: Int(actual),
                achieved: Ratio(Int(actual), over: Int(target.target)), shares: [:], recorded: record.recorded)
        }
    }
}

extension IndicatorLogFold {
    /// The revisions in force, by `targetId`, optionally of one indicator and programme.
    public func inForce(indicator: Indicator? = nil, programme: String? = nil) -> [TargetRecord] {
        targets.values.filter { record in
            (indicator == nil || record.base.indicator == indicator)
                && (programme == nil || record.programme == programme)
        }
        .sorted { $0.targetId < $1.targetId }
    }
}

extension IndicatorEngine {
    /// The fold of every event up to `cutOff`, with the point of the log it stands on.
    public static func logFold(cutOff: CutOff, pool: ConnectionPool) async throws -> (IndicatorLogFold, LogPoint) {
        var fold = IndicatorLogFold()
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff) { fold.apply($0) }
        return (fold, asOf)
    }

    /// Progress against every target in force at `cutOff` (docs/domain.md §10, §14),
    /// optionally of one indicator and one programme, from the log.
    public static func progress(indicator: Indicator?, programme: String?, cutOff: CutOff, pool: ConnectionPool)
        async throws -> I3Progress
    {
        let (fold, asOf) = try await logFold(cutOff: cutOff, pool: pool)
        return I3Progress(asOf: asOf, targets: fold.progress(indicator: indicator, programme: programme))
    }

    /// The sign-offs recorded up to `cutOff`, optionally of one indicator, from the log.
    public static func signOffs(indicator: Indicator?, cutOff: CutOff, pool: ConnectionPool) async throws
        -> [SignOffRecord]
    {
        var records: [SignOffRecord] = []
        _ = try await LogReplay.replay(pool: pool, cutOff: cutOff) { projected in
            if case .indicatorReportSignedOff(let e) = projected.event,
                indicator == nil || e.base.indicator == indicator
            {
                records.append(SignOffRecord(e, RecordedField(recorded: projected.recorded)))
            }
        }
        return records
    }

    /// The sign-off `reportId` read from its stream in the log, not from a read model (which
    /// the application role can write); nil when no sign-off has that id.
    public static func recordedSignOff(_ reportId: String, pool: ConnectionPool) async throws -> SignOffRecord? {
        for event in try await EventStore(pool: pool).readStream(Streams.indicatorReport(reportId)) {
            guard
                case .event(.indicatorReportSignedOff(let signOff)) = DomainEvent.decodeOrQuarantine(
                    position: event.position, type: event.type, data: event.data)
            else { continue }
            let recorded = ProjectedEvent(
                position: event.position, recordedAt: event.recordedAt, event: .indicatorReportSignedOff(signOff),
                metadata: event.metadata
            ).recorded
            return SignOffRecord(signOff, RecordedField(recorded: recorded))
        }
        return nil
    }

    /// The sign-off `reportId` of any indicator but I.3 against the figures at `cutOff`
    /// (docs/domain.md §14).
    /// - Throws: `DomainError.notFound` for an unknown report, `.invalid` for an I.3 sign-off
    ///   (its own restatement, §9) or a cut-off before the sign-off's position or beyond the head.
    public static func restatement(of record: SignOffRecord, cutOff: CutOff, pool: ConnectionPool) async throws
        -> IndicatorRestatement
    {
        let signOff = record.base
        guard signOff.indicator != .i3 else {
            throw DomainError(.invalid, "sign-off \"\(signOff.reportId)\" is of I.3: its restatement is §9's")
        }
        let position = signOff.position
        var now = ActivityLedger()
        var then: ActivityLedger?
        var between: [LoggedEvent] = []
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff) { projected in
            if projected.position > position {
                if then == nil { then = now }
                switch projected.event {
                case .activityRecorded, .activityRetracted, .indexValueRecorded:
                    between.append(
                        LoggedEvent(
                            position: projected.position, recordedAt: projected.recordedAt.rfc3339,
                            event: projected.event))
                default: break
                }
            }
            now.apply(projected.event, at: projected.position)
        }
        guard asOf.position >= position else {
            throw DomainError(
                .notFound,
                "asOf \(asOf.position) is before the sign-off's position \(position); a restatement looks forward from it"
            )
        }
        return IndicatorRestatement(
            signOff, actor: record.recorded.actor, then: then ?? now, now: now, asOf: asOf, between: between)
    }
}
