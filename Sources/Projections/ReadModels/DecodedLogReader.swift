import EventStore
import GrantDomain
import PersonalDataKeys
import PostgresClient

/// Reads the log up to a cut-off in batches and decodes them in three overlapping stages:
/// while `body` takes batch n, batch n + 1 is decoded (on two tasks) and batches n + 2 and
/// n + 3 are read, as two ranges of positions on two connections. With one read at a time,
/// reading (PostgreSQL writing the rows, then the rows turned into events) bounded full
/// replays (docs/performance.md, "Replays: two ranges read at once").
struct DecodedLogReader: Sendable {
    let store: EventStore
    var batchSize = 20_000
    /// Whether organisations' sealed texts are opened with the database's keys (the default),
    /// or read as `PersonalData.sealedPlaceholder` without a key look-up or a decryption, for
    /// readers that never read a name, a purpose or a reason (`AuditReplay`).
    var opensTexts = true
    /// Called with each range of positions read (tests count the queries).
    var onRead: (@Sendable (_ after: Int64, _ upTo: Int64) -> Void)?

    /// One batch, decoded.
    typealias Decoded = (events: [ProjectedEvent], quarantined: [QuarantinedEvent])

    /// Calls `body` with consecutive decoded batches of every event after `start` up to `cutoff`.
    /// Events that do not decode as their type are left out of the batches and added to
    /// `quarantined` instead.
    /// - Returns: the last position read (`start` when there was nothing).
    @discardableResult
    func forEachBatch(
        after start: Int64 = 0, upTo cutoff: Int64, quarantined: inout [QuarantinedEvent],
        _ body: ([ProjectedEvent]) throws -> Void
    )
        async throws
        -> Int64
    {
        let store = self.store
        let size = max(batchSize, 1)
        let (opensTexts, onRead) = (self.opensTexts, self.onRead)
        // The log is read in ranges of `size` positions, two ranges at once on two connections
        // (a range holds at most `size` events; positions a rolled-back append left unused
        // make some smaller): PostgreSQL writes one range while the rows of the other are
        // turned into events. A range that comes back empty moves the next one to the next
        // event, so that a hole in the positions costs one query, not one per range.
        var from = start
        func read() -> Task<LogEntryRows, any Error>? {
            guard from < cutoff else { return nil }
            let after = from
            let (end, overflow) = after.addingReportingOverflow(Int64(size))
            let upTo = overflow ? cutoff : min(end, cutoff)
            from = upTo
            onRead?(after, upTo)
            return Task { try await store.readEntryRows(after: after, limit: size, upTo: upTo) }
        }
        var reading: [Task<LogEntryRows, any Error>] = [read(), read()].compactMap { $0 }
        var decoding: Task<Decoded, any Error>?
        defer {
            for task in reading { task.cancel() }
            decoding?.cancel()
        }
        var reached = start
        while !reading.isEmpty || decoding != nil {
            // The range read first goes to its decoding, and another range is asked for.
            var next: Task<Decoded, any Error>?
            if !reading.isEmpty {
                let rows = try await reading.removeFirst().value
                if rows.isEmpty, from < cutoff {
                    let following = try await store.firstPosition(after: from, upTo: cutoff)
                    from = following.map { $0 - 1 } ?? cutoff
                }
                if let task = read() { reading.append(task) }
                if let last = try rows.last?.position() {
                    reached = last
                    next = Task {
                        guard opensTexts else { return try await Self.decodeSealed(rows) }
                        // Texts opened with the keys this database holds (docs/domain.md §15),
                        // found once in each event's data.
                        let located = try Self.located(rows)
                        let keys = try await store.keys(for: located)
                        return try await Self.decode(rows, located: located, keys: keys)
                    }
                }
            }
            // Meanwhile the batch decoded before goes to `body`.
            if let task = decoding {
                let (decoded, bad) = try await task.value
                quarantined += bad
                try body(decoded)
            }
            decoding = next
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

    /// The events decoded from the result's bytes with their sealed texts left closed, on two
    /// tasks for a large batch.
    static func decodeSealed(_ rows: LogEntryRows) async throws -> Decoded {
        // Typed decoding reads a sealed text as the placeholder (`PersonalData.readable`).
        try await decode(rows, located: Array(repeating: nil, count: rows.count), keys: [:])
    }

    /// `decoding` of the whole range, in two halves on two tasks when there are more than
    /// 1,000 events.
    private static func inHalves(_ count: Int, _ decoding: @Sendable @escaping (Range<Int>) throws -> Decoded)
        async throws -> Decoded
    {
        guard count > 1_000 else { return try decoding(0..<count) }
        let half = count / 2
        async let first = decoding(0..<half)
        async let second = decoding(half..<count)
        let (a, b) = try await (first, second)
        return (a.events + b.events, a.quarantined + b.quarantined)
    }

    /// The sealed texts of each event of `rows` (`PersonalData.locate`), found in its bytes.
    static func located(_ rows: LogEntryRows) throws -> [PersonalData.SealedTexts?] {
        try rows.map { row in
            try row.withTypeAndData { type, data in
                DomainEvent.knownType(utf8: type).flatMap { PersonalData.locate(type: $0, utf8: data) }
            }
        }
    }

    /// The events decoded from the result's bytes, those with sealed texts (`located[i]` for
    /// `rows[i]`) opened with `keys` first, on two tasks for a large batch.
    static func decode(
        _ rows: LogEntryRows, located: [PersonalData.SealedTexts?], keys: [String: PersonalDataKeyState]
    ) async throws -> Decoded {
        @Sendable func decoding(_ range: Range<Int>) throws -> Decoded {
            try ProjectedEvent.decoding(rows, range) { index, type in
                located[index].map { texts in
                    PersonalData.opened(texts) { field, sealed in
                        PersonalDataCipher.open(sealed, type: type, field: field, keys: keys)
                    }
                }
            }
        }
        return try await inHalves(rows.count, decoding)
    }
}
