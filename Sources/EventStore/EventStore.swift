import Crypto
import Foundation
import Logging
import PostgresClient

/// The append-only event log in PostgreSQL.
///
/// Knows streams, versions, positions and hashes; nothing about grants. Appends go through
/// the `append_events` SQL function in one round trip; reads of the whole log are gap-safe
/// (see `readAll(after:limit:)`).
public struct EventStore: Sendable {
    /// The connections the store borrows.
    public let pool: ConnectionPool
    let logger: Logger
    /// Concurrent appends' group commit; nil when each append commits on its own.
    let appendGroup: AppendGroup?

    /// The NOTIFY channel appends signal on after commit; the payload is empty.
    public static let notificationChannel = "grantledger_events"

    /// - Parameter groupCommit: whether concurrent `append` calls share transactions
    ///   (`AppendGroup`); without it, each append is a transaction of its own.
    public init(
        pool: ConnectionPool, groupCommit: Bool = true, logger: Logger = Logger(label: "grantledger.eventstore")
    ) {
        self.pool = pool
        self.logger = logger
        self.appendGroup = groupCommit ? AppendGroup() : nil
    }

    static let eventColumns = """
        position, stream_id, stream_version, event_id, type, data, metadata, recorded_at, hash
        """

    /// The one predicate that keeps a read to the gap-free prefix of the log: events whose
    /// writing transaction is older than every transaction still running. Positions and
    /// transaction ids are handed out together (`append_events`), so an event that commits
    /// late is seen by a later read, never jumped over.
    static let gapFree = "transaction_id < pg_snapshot_xmin(pg_current_snapshot())"

    /// The sealed head's position in SQL (0 before any seal). The sealed events are the
    /// events at or below it (sql/033_chain_runs.sql).
    static let sealedHead = "coalesce((SELECT h.position FROM chain_head() h), 0)"

    /// The columns of a bulk read: the hash is left out (verification reads it on its own).
    static let bulkColumns = """
        position, stream_id, stream_version, event_id, type, data, metadata, recorded_at
        """

    static func recordingTime(_ row: PostgresRow, _ column: Int) throws -> RecordingTime {
        guard let time = row.withBytes(column, { $0.flatMap(RecordingTime.init(postgresUTCBytes:)) }) else {
            throw PostgresError(kind: .decoding, message: "recorded_at is not a UTC timestamp")
        }
        return time
    }

    static func decodeEvent(_ row: PostgresRow) throws -> RecordedEvent {
        let recordedAt = try recordingTime(row, 7)
        return RecordedEvent(
            position: try row.decode(Int64.self, 0),
            streamID: try row.decode(String.self, 1),
            streamVersion: try row.decode(Int64.self, 2),
            eventID: try row.decode(UUID.self, 3),
            type: try row.decode(String.self, 4),
            data: try row.decode(String.self, 5),
            metadata: try row.decode(String.self, 6),
            recordedAt: recordedAt,
            hash: row.rows.columns.count > 8 ? try row.decode([UInt8].self, 8) : nil)
    }

    /// Appends `events` atomically, checking every stream's expected version.
    ///
    /// - Parameters:
    ///   - events: one or more events, to one or several streams, in order.
    ///   - expected: the version each stream must be at; streams not named accept any
    ///     version. A stream named here but not written to is still checked.
    ///   - commandID: makes the append idempotent: a second append with the same id and
    ///     digest returns the first result and writes nothing.
    ///   - payloadDigest: identifies the command's payload, to tell a retry from a reuse.
    ///
    /// Appends made at the same time in this process share a transaction and its WAL flush
    /// (`AppendGroup`), unless the store was made without group commit; each caller's answer
    /// is the one it would get alone, once the events are committed.
    /// - Throws: `EventStoreError.wrongExpectedVersion` when a concurrent writer won,
    ///   `.commandIDReused` when the id came with another payload.
    public func append(
        _ events: [NewEvent], expected: [String: ExpectedVersion] = [:], commandID: String? = nil,
        payloadDigest: String? = nil
    ) async throws -> AppendResult {
        precondition(!events.isEmpty, "append needs at least one event")
        // A command id without a digest has nothing to record in a run: it goes alone, and
        // append_events() refuses it there.
        if let appendGroup, commandID == nil || payloadDigest != nil {
            return try await appendGroup.submit(
                events, expected: expected, commandID: commandID, payloadDigest: payloadDigest, store: self)
        }
        return try await appendAlone(events, expected: expected, commandID: commandID, payloadDigest: payloadDigest)
    }

    /// One append as one transaction (`append_events()`).
    func appendAlone(
        _ events: [NewEvent], expected: [String: ExpectedVersion], commandID: String?, payloadDigest: String?
    ) async throws -> AppendResult {
        let query = Self.appendQuery(events, expected: expected, commandID: commandID, payloadDigest: payloadDigest)
        let acceptsAnyVersion = events.allSatisfy { (expected[$0.streamID] ?? .any) == .any }
        // A concurrent append with the same command id loses on commands_pkey; the retry
        // then finds the winner's record and replays it.
        var attempt = 0
        while true {
            attempt += 1
            do {
                // The append commits on its own; the NOTIFY that wakes readers follows in the
                // same round trip as a separate transaction (see 006_append_events.sql for why
                // it is not inside the appending one).
                let results = try await pool.withConnection { try await $0.pipeline([query, Self.notifyQuery]) }
                let rows = try results[0].get()
                return try Self.appendResult(rows, events: events)
            } catch let error as PostgresError
                where error.isUniqueViolation && error.constraint == "commands_pkey" && attempt < 5
            {
                continue
            } catch let error as PostgresError
                where error.isUniqueViolation && error.constraint == "events_stream_version_key" && acceptsAnyVersion
                && attempt < 50
            {
                // Another writer took the next version of a stream this append does not
                // pin: take the version after it.
                continue
            } catch {
                throw EventStoreError.translate(error)
            }
        }
    }

    /// The statement that opens an append batch (`beginBatch(on:)`); send it first in the
    /// transaction, pipelined with what follows if you like.
    public static let beginBatchQuery = PostgresQuery("SELECT begin_append_batch()").prepared()

    /// Runs `body` with a session on a connection of the pool (`StoreSession`).
    public func withSession<T>(_ body: (StoreSession) async throws -> T) async throws -> T {
        try await pool.withConnection { try await body(StoreSession(connection: $0)) }
    }

    /// The statement that wakes readers listening on `notificationChannel`: send it after a
    /// commit, as a transaction of its own (`transaction(after:)`, or next in a pipeline).
    ///
    /// A notifying transaction takes an id and commits holding PostgreSQL's one lock on the
    /// notification queue, so notifications that wait for their commit's WAL flush take turns
    /// at it: one flush each, across every writer. Nothing durable rides on a notification
    /// (the events it announces committed, flushed, before it; PostgreSQL drops its queue at a
    /// crash; readers also poll), so this transaction alone commits without waiting for the
    /// flush (`synchronous_commit` off, for this transaction only). Never send it inside
    /// another transaction: the setting would hold for that transaction's commit.
    public static let notifyQuery = PostgresQuery(
        "SELECT pg_notify(\(notificationChannel), ''), set_config('synchronous_commit', 'off', true)"
    ).prepared()

    static func appendQuery(
        _ events: [NewEvent], expected: [String: ExpectedVersion], commandID: String?, payloadDigest: String?,
        guards: CommandGuards? = nil
    ) -> PostgresQuery {
        precondition(!events.isEmpty, "append needs at least one event")
        let expectedJSON = Self.expectedJSON(expected)
        let eventsJSON = Self.eventsJSON(events)
        if let guards {
            // Prepared too: the command handlers' one append.
            return PostgresQuery(
                """
                SELECT position, stream_id, stream_version, event_id, type, recorded_at, hash, replayed
                FROM append_guarded(\(commandID), \(payloadDigest ?? ""), \(expectedJSON)::jsonb, \(eventsJSON)::jsonb,
                                    \(textArray(guards.keys.sorted()))::text[], \(guards.decidedAt)::bigint)
                """
            ).prepared()
        }
        // Prepared: every command runs it; its text never varies.
        return PostgresQuery(
            """
            SELECT position, stream_id, stream_version, event_id, type, recorded_at, hash, replayed
            FROM append_events(\(commandID), \(payloadDigest ?? ""), \(expectedJSON)::jsonb, \(eventsJSON)::jsonb)
            """
        ).prepared()
    }

    /// The expected versions as the store's functions read them: `{"stream": version}`,
    /// streams with any version left out.
    static func expectedJSON(_ expected: [String: ExpectedVersion]) -> String {
        var expectations: [String] = []
        for (stream, version) in expected.sorted(by: { $0.key < $1.key }) {
            switch version {
            case .any: continue
            case .noStream: expectations.append("\(jsonQuoted(stream)):0")
            case .exact(let value): expectations.append("\(jsonQuoted(stream)):\(value)")
            }
        }
        return "{" + expectations.joined(separator: ",") + "}"
    }

    /// The events as the store's functions read them (their data and metadata are JSON texts).
    static func eventsJSON(_ events: [NewEvent]) -> String {
        "["
            + events.map { event in
                "{\"streamId\":\(jsonQuoted(event.streamID)),\"eventId\":\"\(event.eventID.uuidString.lowercased())\","
                    + "\"type\":\(jsonQuoted(event.type)),\"data\":\(event.data),\"metadata\":\(event.metadata)}"
            }.joined(separator: ",") + "]"
    }

    static func appendResult(_ rows: PostgresRows, events: [NewEvent]) throws -> AppendResult {
        var recorded: [RecordedEvent] = []
        var replayed = false
        for (index, row) in rows.enumerated() {
            replayed = try row.decode(Bool.self, 7)
            // Payloads are not echoed back by the function; take them from the request,
            // or, for a replay, they are re-read by callers that need them.
            let source = index < events.count && !replayed ? events[index] : nil
            recorded.append(
                RecordedEvent(
                    position: try row.decode(Int64.self, 0),
                    streamID: try row.decode(String.self, 1),
                    streamVersion: try row.decode(Int64.self, 2),
                    eventID: try row.decode(UUID.self, 3),
                    type: try row.decode(String.self, 4),
                    data: source?.data ?? "",
                    metadata: source?.metadata ?? "",
                    recordedAt: try recordingTime(row, 5),
                    hash: try row.decode([UInt8].self, 6)))
        }
        return AppendResult(events: recorded, replayed: replayed)
    }

    /// All events of one stream, in version order.
    public func readStream(_ streamID: String) async throws -> [RecordedEvent] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.eventColumns) FROM events
            WHERE stream_id = \(streamID) ORDER BY stream_version
            """
        return try await pool.withConnection { connection in
            try await connection.query(query).map(Self.decodeEvent)
        }
    }

    /// Up to `limit` events after `position`, in position order, never skipping one.
    ///
    /// Only events of transactions older than the snapshot's xmin are returned. Positions
    /// and transaction ids are handed out together (see `append_events`), so these form a
    /// gap-free prefix of the log: an event that commits late is returned by a later call,
    /// never jumped over.
    public func readAll(after position: Int64, limit: Int = 1000, upTo cutoff: Int64? = nil) async throws
        -> [RecordedEvent]
    {
        try await withSession { try await $0.readAll(after: position, limit: limit, upTo: cutoff) }
    }

    /// `readAll(after:limit:upTo:)` with only what a fold reads of each event, left in the
    /// result's bytes (`LogEntryRows`).
    public func readEntryRows(after position: Int64, limit: Int = 1000, upTo cutoff: Int64? = nil) async throws
        -> LogEntryRows
    {
        try await withSession { try await $0.readEntryRows(after: position, limit: limit, upTo: cutoff) }
    }

    /// The first position a reader can see after `position`, at or before `cutoff`; nil when
    /// there is none. Readers that read the log in ranges of positions skip a hole with it.
    public func firstPosition(after position: Int64, upTo cutoff: Int64) async throws -> Int64? {
        try await withSession { try await $0.firstPosition(after: position, upTo: cutoff) }
    }

    /// The position of the last event appended and visible, gaps before it or not (0 for
    /// an empty log); `gapFreeHead()` is the one readers use, `seal()` the sealed one.
    public func lastAppended() async throws -> Int64 {
        try await withSession { try await $0.lastAppended() }
    }

    /// The last position a reader can see without gaps (0 for an empty log).
    public func gapFreeHead() async throws -> Int64 {
        try await withSession { try await $0.gapFreeHead() }
    }

    /// Resolves a cut-off against the sealed `head`: the head itself, a position (refused
    /// beyond the head), or the last event recorded at or before a time.
    /// - Throws: `CutOffError` for a position beyond the head.
    public func resolve(_ cutOff: CutOff, head: Int64) async throws -> Int64 {
        switch cutOff {
        case .head:
            return head
        case .position(let position):
            guard position <= head else { throw CutOffError(position: position, head: head) }
            return position
        case .time(let time):
            return min(try await position(atOrBefore: time), head)
        }
    }

    /// The last position recorded at or before `time` (0 when none).
    public func position(atOrBefore time: RecordingTime) async throws -> Int64 {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT coalesce(max(position), 0) FROM events
                WHERE recorded_at <= \(time.rfc3339)::timestamptz AND \(unescaped: Self.gapFree)
                """)
            return try rows[0].decode(Int64.self, 0)
        }
    }

    /// Extends the global hash chain over every visible event and returns its head.
    @discardableResult
    public func seal() async throws -> ChainHead {
        try await pool.withConnection { connection in
            let rows = try await connection.query("SELECT position, chain_hash FROM seal_events()")
            return ChainHead(
                position: try rows[0].decode(Int64.self, 0), hash: try rows[0].decode([UInt8].self, 1).hexString)
        }
    }

    /// Seals every event committed before the call: readers (and so sealing) stop below
    /// the oldest transaction still open in the cluster, so a command that committed just now
    /// can sit behind another's open transaction for a moment. Waits up to `patience` for
    /// that, then returns the head it reached (short of the last event only if a transaction
    /// stayed open that long).
    @discardableResult
    public func sealCommitted(patience: Duration = .seconds(60)) async throws -> ChainHead {
        let last = try await pool.withConnection { connection in
            try await connection.query("SELECT coalesce(max(position), 0) FROM events")[0].decode(Int64.self, 0)
        }
        let deadline = ContinuousClock.now + patience
        var pause: Duration = .milliseconds(10)
        while true {
            let head = try await seal()
            guard head.position < last, ContinuousClock.now < deadline else { return head }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(500))
        }
    }

    /// The sealed chain hash at `position` and that event's recording time; nil if not sealed.
    public func chainPoint(at position: Int64) async throws -> (hash: String, recordedAt: RecordingTime)? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT c.chain_hash, e.recorded_at
                FROM chain_hashes(\(position - 1), \(position)) c JOIN events e ON e.position = c.position
                """)
            guard let row = rows.first else { return nil }
            return (try row.decode([UInt8].self, 0).hexString, try Self.recordingTime(row, 1))
        }
    }

    /// A digest of a command payload, for idempotency checks.
    public static func digest(_ text: String) -> String {
        Array(SHA256.hash(data: Array(text.utf8))).hexString
    }
}
