import EventStore
import GrantDomain
import PostgresClient

/// Every grant and sub-grant as it stood at a past point of the log, rebuilt by replaying
/// the log from the start: an auditor's independent check of the read models.
public struct AuditReplay: Sendable, Encodable {
    public struct GrantLine: Sendable, Codable {
        public var grantId: String
        public var callId: String
        public var contractNumber: String
        public var amount: Money
        public var disbursed: Money
        public var envelope: Money
        public var envelopeUsed: Money
        public var closed: Bool
    }

    public struct SubGrantLine: Sendable, Codable {
        public var subGrantId: String
        public var grantId: String
        public var organisationId: String
        public var amount: Money
        public var disbursed: Money
        public var status: String
    }

    public var asOf: AsOf
    public var eventsReplayed: Int
    public var grants: [GrantLine]
    public var subGrants: [SubGrantLine]

    /// Replays every event up to the cut-off.
    public static func replay(
        pool: ConnectionPool, cutOff: CutOff, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    )
        async throws -> AuditReplay
    {
        var grants: [String: GrantState] = [:]
        var grantOrder: [String] = []
        var subGrants: [String: SubGrantState] = [:]
        var subGrantOrder: [String] = []
        var count = 0
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff, progress: progress) { projected in
            count += 1
            let event = projected.event
            switch event {
            case .grantAwarded(let e):
                grants[e.grantId] = GrantState(award: e)
                grantOrder.append(e.grantId)
            case .grantTrancheDisbursed(let e): grants[e.grantId]?.apply(event)
            case .grantClosed(let e): grants[e.grantId]?.apply(event)
            case .subGrantAwarded(let e):
                subGrants[e.subGrantId] = SubGrantState(award: e)
                subGrantOrder.append(e.subGrantId)
            case .subGrantDisbursed(let e): subGrants[e.subGrantId]?.apply(event)
            case .subGrantCancelled(let e): subGrants[e.subGrantId]?.apply(event)
            default: break
            }
        }
        var used: [String: Money] = [:]
        for state in subGrants.values where state.cancelled == nil {
            used[state.award.grantId, default: .zero] += state.award.amount
        }
        return AuditReplay(
            asOf: asOf, eventsReplayed: count,
            grants: grantOrder.compactMap { id in
                grants[id].map {
                    GrantLine(
                        grantId: id, callId: $0.award.callId, contractNumber: $0.award.contractNumber,
                        amount: $0.award.amount,
                        disbursed: $0.disbursed, envelope: $0.award.subGrantingEnvelope,
                        envelopeUsed: used[id] ?? .zero,
                        closed: $0.closed != nil)
                }
            },
            subGrants: subGrantOrder.compactMap { id in
                subGrants[id].map {
                    SubGrantLine(
                        subGrantId: id, grantId: $0.award.grantId, organisationId: $0.award.organisationId,
                        amount: $0.award.amount, disbursed: $0.disbursed, status: $0.status)
                }
            })
    }
}

/// Replays the log from the start up to a cut-off, for those who check or export it whole.
public enum LogReplay {
    /// Seals the log, resolves `cutOff` and calls `body` with every event up to it, in order.
    /// - Returns: the point of the log replayed to, with its integrity fields.
    /// - Throws: `DomainError.invalid` for a cut-off beyond the head.
    public static func replay(
        pool: ConnectionPool, cutOff: CutOff, progress: @Sendable (Int64, Int64) -> Void = { _, _ in },
        _ body: (ProjectedEvent) throws -> Void
    ) async throws -> AsOf {
        let store = EventStore(pool: pool)
        let head = try await store.seal()
        let cut = try await resolveCutOff(cutOff, head: head.position, store: store)
        try await DecodedLogReader(store: store).forEachBatch(upTo: cut) { batch in
            for projected in batch { try body(projected) }
            if let last = batch.last { progress(last.position, cut) }
        }
        return try await pool.withConnection { try await I3Reporter.asOf(cut, on: $0) }
    }

    /// Every event up to the readable head that does not decode as its type, in log order.
    public static func quarantined(pool: ConnectionPool) async throws -> [QuarantinedEvent] {
        let store = EventStore(pool: pool)
        var quarantined: [QuarantinedEvent] = []
        try await DecodedLogReader(store: store).forEachBatch(
            upTo: try await store.gapFreeHead(), quarantined: &quarantined
        ) {
            _ in
        }
        return quarantined
    }
}
