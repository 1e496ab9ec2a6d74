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
        // Sub-grants are most of a large log's entities: their states are kept in an array,
        // found through their ids' indices. A dictionary of the states themselves moved
        // every state at each of its resizes, a twelfth of a replay's time.
        var subGrantIndex: [String: Int] = [:]
        var subGrants: [SubGrantState] = []
        var subGrantOrder: [Int] = []
        var count = 0
        // No line names an organisation or reads a purpose or a reason: sealed texts stay closed.
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff, opensTexts: false, progress: progress) {
            projected in
            count += 1
            let event = projected.event
            switch event {
            case .grantAwarded(let e):
                grants[e.grantId] = GrantState(award: e)
                grantOrder.append(e.grantId)
            case .grantTrancheDisbursed(let e): grants[e.grantId]?.apply(event)
            case .grantClosed(let e): grants[e.grantId]?.apply(event)
            case .subGrantAwarded(let e):
                // An id awarded again (only a forged log holds one) takes the new award, and
                // is listed again, with its last state, as often as it was awarded.
                let index = subGrantIndex[e.subGrantId] ?? subGrants.count
                if index == subGrants.count {
                    subGrantIndex[e.subGrantId] = index
                    subGrants.append(SubGrantState(award: e))
                } else {
                    subGrants[index] = SubGrantState(award: e)
                }
                subGrantOrder.append(index)
            case .subGrantDisbursed(let e):
                if let index = subGrantIndex[e.subGrantId] { subGrants[index].apply(event) }
            case .subGrantCancelled(let e):
                if let index = subGrantIndex[e.subGrantId] { subGrants[index].apply(event) }
            default: break
            }
        }
        var used: [String: Money] = [:]
        for state in subGrants where state.cancelled == nil {
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
            subGrants: subGrantOrder.map { index in
                let state = subGrants[index]
                return SubGrantLine(
                    subGrantId: state.award.subGrantId, grantId: state.award.grantId,
                    organisationId: state.award.organisationId, amount: state.award.amount,
                    disbursed: state.disbursed, status: state.status)
            })
    }
}

// The lines write their members straight into bytes (`CanonicalObject`), in their keys' byte
// order: a replay of a large log writes hundreds of thousands of them, which `Encodable`
// builds as a tree first (AuditTests compares the bytes).
extension AuditReplay.GrantLine: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("amount", amount)
        try writer.member("callId", callId)
        try writer.member("closed", closed)
        try writer.member("contractNumber", contractNumber)
        try writer.member("disbursed", disbursed)
        try writer.member("envelope", envelope)
        try writer.member("envelopeUsed", envelopeUsed)
        try writer.member("grantId", grantId)
    }
}

extension AuditReplay.SubGrantLine: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("amount", amount)
        try writer.member("disbursed", disbursed)
        try writer.member("grantId", grantId)
        try writer.member("organisationId", organisationId)
        try writer.member("status", status)
        try writer.member("subGrantId", subGrantId)
    }
}

extension AuditReplay {
    /// The replay's JSON text, byte for byte `ResponseJSON.text(self)`, handed to `write` in
    /// pieces: the lines are encoded `chunk` at a time, two chunks at once, so that a replay
    /// of a large log neither waits on one encoder nor holds its whole text at once.
    public func writeJSON(chunk: Int = 20_000, _ write: (String) -> Void) async {
        struct Head: Encodable {
            var asOf: AsOf
            var eventsReplayed: Int
        }
        // The keys sorted: asOf, eventsReplayed, grants, subGrants.
        let head = ResponseJSON.text(Head(asOf: asOf, eventsReplayed: eventsReplayed))
        write(String(head.dropLast()) + #","grants":["#)
        await Self.writeElements(grants, chunk: chunk, write)
        write(#"],"subGrants":["#)
        await Self.writeElements(subGrants, chunk: chunk, write)
        write("]}")
    }

    /// The elements of `lines` as a JSON array holds them (without its brackets), in order.
    private static func writeElements<Line: Encodable & Sendable>(
        _ lines: [Line], chunk: Int, _ write: (String) -> Void
    ) async {
        let size = max(chunk, 1)
        var start = 0
        while start < lines.count {
            let middle = min(start + size, lines.count)
            let end = min(middle + size, lines.count)
            async let first = elements(lines[start..<middle])
            async let second = elements(lines[middle..<end])
            let (a, b) = await (first, second)
            if start > 0 { write(",") }
            write(a)
            if !b.isEmpty {
                write(",")
                write(b)
            }
            start = end
        }
    }

    /// `lines` encoded as a JSON array, without its brackets: the elements, comma-separated.
    private static func elements<Line: Encodable & Sendable>(_ lines: ArraySlice<Line>) -> String {
        guard !lines.isEmpty else { return "" }
        // The brackets are one byte each: dropped from the UTF-8 view, without counting the
        // text's characters (which dropping them from the String would do, at a line's cost).
        let text = ResponseJSON.text(Array(lines))
        return String(Substring(text.utf8.dropFirst().dropLast()))
    }
}

/// Replays the log from the start up to a cut-off, for those who check or export it whole.
public enum LogReplay {
    /// Seals the log, resolves `cutOff` and calls `body` with every event up to it, in order.
    /// With `opensTexts` false, organisations' sealed texts read as
    /// `PersonalData.sealedPlaceholder` (no key is looked up, nothing is decrypted).
    /// - Returns: the point of the log replayed to, with its integrity fields.
    /// - Throws: `DomainError.invalid` for a cut-off beyond the head.
    public static func replay(
        pool: ConnectionPool, cutOff: CutOff, opensTexts: Bool = true,
        progress: @Sendable (Int64, Int64) -> Void = { _, _ in }, _ body: (ProjectedEvent) throws -> Void
    ) async throws -> AsOf {
        let store = EventStore(pool: pool)
        let head = try await store.seal()
        let cut = try await resolveCutOff(cutOff, head: head.position, store: store)
        try await DecodedLogReader(store: store, opensTexts: opensTexts).forEachBatch(upTo: cut) { batch in
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
