import EventStore
import GrantDomain
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
    func forEachBatch(after start: Int64 = 0, upTo cutoff: Int64, _ body: ([ProjectedEvent]) throws -> Void)
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
            try body(try await Self.decode(events))
        }
        return reached
    }

    static func decode(_ events: [RecordedEvent]) async throws -> [ProjectedEvent] {
        func run(_ slice: ArraySlice<RecordedEvent>) throws -> [ProjectedEvent] {
            try ProjectedEvent.decoding(slice)
        }
        guard events.count > 1_000 else { return try run(events[...]) }
        let half = events.count / 2
        async let first = run(events[..<half])
        async let second = run(events[half...])
        return try await first + second
    }
}
