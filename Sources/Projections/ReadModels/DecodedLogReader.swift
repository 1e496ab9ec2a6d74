import EventStore
import GrantDomain
import PersonalDataKeys
import PostgresClient

/// Reads the log up to a cut-off in batches and decodes them, overlapping the read of the
/// next batch with the decoding of the current one and decoding each batch on two tasks.
/// Decoding JSON, not PostgreSQL, bounds full replays; this keeps both cores busy.
struct DecodedLogReader: Sendable {
    let store: EventStore
    var batchSize = 20_000

    /// Calls `body` with consecutive decoded batches of every event after `start` up to `cutoff`.
    /// - Returns: the last position read (`start` when there was nothing).
    @discardableResult
    /// Events that do not decode as their type are left out of the batches and added to
    /// `quarantined` instead.
    func forEachBatch(
        after start: Int64 = 0, upTo cutoff: Int64, quarantined: inout [QuarantinedEvent],
        _ body: ([ProjectedEvent]) throws -> Void
    )
        async throws
        -> Int64
    {
        let store = self.store
        let size = batchSize
        var pending: Task<[RecordedEvent], any Error>? = Task {
            try await store.readAll(after: start, limit: size, upTo: cutoff)
        }
        var reached = start
        while let task = pending {
            let events = try await task.value
            guard let last = events.last else { break }
            reached = last.position
            let next = reached
            pending = next < cutoff ? Task { try await store.readAll(after: next, limit: size, upTo: cutoff) } : nil
            // Texts opened with the keys this database holds (docs/domain.md §15).
            let keys = try await store.keys(for: events)
            let (decoded, bad) = await Self.decode(events, keys: keys)
            quarantined += bad
            try body(decoded)
        }
        return reached
    }

    /// `forEachBatch` for readers that pass quarantined events over without listing them.
    @discardableResult
    func forEachBatch(after start: Int64 = 0, upTo cutoff: Int64, _ body: ([ProjectedEvent]) throws -> Void)
        async throws -> Int64
    {
        var ignored: [QuarantinedEvent] = []
        return try await forEachBatch(after: start, upTo: cutoff, quarantined: &ignored, body)
    }

    static func decode(_ events: [RecordedEvent], keys: [String: PersonalDataKeyState]) async -> (
        events: [ProjectedEvent], quarantined: [QuarantinedEvent]
    ) {
        func decoding(_ slice: ArraySlice<RecordedEvent>) -> (events: [ProjectedEvent], quarantined: [QuarantinedEvent])
        {
            ProjectedEvent.decoding(PersonalDataCipher.opened(Array(slice), keys: keys)[...])
        }
        guard events.count > 1_000 else { return decoding(events[...]) }
        let half = events.count / 2
        async let first = decoding(events[..<half])
        async let second = decoding(events[half...])
        let (a, b) = await (first, second)
        return (a.events + b.events, a.quarantined + b.quarantined)
    }
}
