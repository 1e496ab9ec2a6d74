import Foundation
import PostgresClient

/// The store inside a caller's open transaction: what command handling reads and writes
/// of the log, so that only EventStore knows its tables.
public struct StoreSession: Sendable {
    /// The connection, inside a transaction the caller opened.
    public let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// A command id accepted before: its payload digest and the positions it recorded.
    public struct AcceptedCommand: Sendable {
        public var payloadDigest: String
        public var firstPosition: Int64
        public var lastPosition: Int64
    }

    /// Takes `lock` until the transaction ends.
    public func lock(_ lock: AdvisoryLock) async throws {
        try await lock.lockForTransaction(on: connection)
    }

    /// Takes `lock` until the transaction ends, then runs `query`: one round trip (libpq
    /// pipeline mode), the statements still one after the other in the transaction.
    func locked(_ lock: AdvisoryLock, _ query: PostgresQuery) async throws -> PostgresRows {
        let results = try await connection.pipeline([lock.transactionLock, query])
        _ = try results[0].get()
        return try results[1].get()
    }

    /// Takes the command id's lock (retries and replays of one command wait for each
    /// other), then reads the record of its earlier acceptance, if any.
    public func lockAcceptedCommand(_ commandID: String) async throws -> AcceptedCommand? {
        try Self.acceptedCommand(
            try await locked(
                .command(commandID),
                PostgresQuery(
                    "SELECT payload_digest, first_position, last_position FROM commands WHERE command_id = \(commandID)"
                ).prepared()))
    }

    static func acceptedCommand(_ rows: PostgresRows) throws -> AcceptedCommand? {
        guard let row = rows.first else { return nil }
        let (digest, first, last) = try row.decode((String, Int64, Int64).self)
        return AcceptedCommand(payloadDigest: digest, firstPosition: first, lastPosition: last)
    }

    /// The events of positions `first...last`, in order.
    public func events(from first: Int64, to last: Int64) async throws -> [RecordedEvent] {
        try await readRange(from: first, to: last)
    }

    /// The position of the last event appended and visible, gaps before it or not (0 for
    /// an empty log).
    public func lastAppended() async throws -> Int64 {
        try await connection.query("SELECT coalesce(max(position), 0) FROM events")[0].decode(Int64.self, 0)
    }

    /// The type and data of every event of a stream, in version order; with `lock`, taken
    /// first in the same round trip.
    public func stream(_ streamID: String, locking lock: AdvisoryLock? = nil) async throws -> [(
        type: String, data: String
    )] {
        let query = PostgresQuery(
            "SELECT type, data FROM events WHERE stream_id = \(streamID) ORDER BY stream_version"
        ).prepared()
        let rows: PostgresRows
        if let lock { rows = try await locked(lock, query) } else { rows = try await connection.query(query) }
        return try rows.map { row in
            let (type, data) = try row.decode((String, String).self)
            return (type, data)
        }
    }

    /// The type and data of the events of each of `streamIDs`, each stream in version order,
    /// in one round trip (a stream without events is absent).
    public func streams(_ streamIDs: [String]) async throws -> [String: [(type: String, data: String)]] {
        guard !streamIDs.isEmpty else { return [:] }
        let rows = try await connection.query(
            PostgresQuery(
                """
                SELECT stream_id, type, data FROM events WHERE stream_id = ANY(\(textArray(streamIDs))::text[])
                ORDER BY stream_id, stream_version
                """
            ).prepared())
        var result: [String: [(type: String, data: String)]] = [:]
        for row in rows {
            result[try row.decode(String.self, 0), default: []].append(
                (try row.decode(String.self, 1), try row.decode(String.self, 2)))
        }
        return result
    }

    /// The top-level `fields` (as text, "" when absent) of the events of `type` whose
    /// top-level `field` equals `value`, in log order (served by the partial indexes of
    /// sql/009): what a rule needs of many events, without sending and decoding each whole.
    public func fields(_ fields: [String], ofType type: String, where field: String, equals value: String)
        async throws -> [[String]]
    {
        let rows = try await connection.query(Self.fieldsQuery(fields, ofType: type, where: field, equals: value))
        return try rows.map { row in try fields.indices.map { try row.decode(String.self, $0) } }
    }

    /// `fields`' statement, prepared. The event type and field names are written into the
    /// text as literals (only the value is bound), so that its generic plan can use the
    /// partial expression indexes of sql/009 (`(data->>'callId') WHERE type =
    /// 'GrantAwarded'`); with them as parameters, only a plan for the values could.
    /// Names are the code's own constants: anything but ASCII letters is refused.
    public static func fieldsQuery(_ fields: [String], ofType type: String, where field: String, equals value: String)
        -> PostgresQuery
    {
        for name in fields + [type, field] {
            precondition(
                !name.isEmpty && name.utf8.allSatisfy { (65...90).contains($0) || (97...122).contains($0) },
                "a look-up names fields and types with ASCII letters only")
        }
        let columns = fields.map { "coalesce(data->>'\($0)', '')" }.joined(separator: ", ")
        return PostgresQuery(
            "SELECT \(unescaped: columns) FROM events WHERE type = '\(unescaped: type)' AND data->>'\(unescaped: field)' = \(value) ORDER BY position"
        ).prepared()
    }

    /// Appends in the caller's transaction (`EventStore.append` for its parameters).
    /// - Parameter guards: the entity keys the command held and where it decided
    ///   (`CommandGuards`): recorded with the append, and checked first when it decided
    ///   from memory.
    /// - Throws: `EventStoreError.database` with SQLSTATE 40001 (a lost race, retryable)
    ///   when a key changed after `decidedAt`.
    public func append(
        _ events: [NewEvent], expected: [String: ExpectedVersion], commandID: String?, payloadDigest: String?,
        guards: CommandGuards? = nil
    ) async throws -> AppendResult {
        do {
            let rows = try await connection.query(
                EventStore.appendQuery(
                    events, expected: expected, commandID: commandID, payloadDigest: payloadDigest, guards: guards))
            return try EventStore.appendResult(rows, events: events)
        } catch {
            throw EventStoreError.translate(error)
        }
    }

    /// One command of a run (`appendRun`): its events, the versions its decision read, its
    /// id and payload digest, the entity keys it read or wrote (`CommandGuards`), and
    /// statements to run after the run's append in the same transaction (a new
    /// organisation's key).
    public struct RunAppend: Sendable {
        public var events: [NewEvent]
        public var expected: [String: ExpectedVersion]
        public var commandID: String?
        public var payloadDigest: String
        public var keys: Set<String>
        public var then: [PostgresQuery]

        public init(
            events: [NewEvent], expected: [String: ExpectedVersion], commandID: String?, payloadDigest: String,
            keys: Set<String>, then: [PostgresQuery] = []
        ) {
            self.events = events
            self.expected = expected
            self.commandID = commandID
            self.payloadDigest = payloadDigest
            self.keys = keys
            self.then = then
        }
    }

    /// Appends a run of commands decided from memory at `decidedAt`, in one transaction sent
    /// in one round trip (libpq's pipeline): BEGIN, `append_run()` (sql/025: every
    /// command's guards, id, expected versions and events, in order, the positions lock
    /// held only while it draws the run's positions), each command's statements after it,
    /// then `then` (the run's new keys), COMMIT, and the readers' wake-up.
    /// All or nothing: after a statement fails, the rest fail with it and the COMMIT rolls
    /// the transaction back. Call it outside any transaction.
    /// - Returns: each command's result, in order, once committed.
    /// - Throws: the first failing statement's error, as `append` translates it, when nothing
    ///   was recorded; `PostgresError` `.commitOutcomeUnknown` when the connection broke
    ///   before the answer to the COMMIT came, so that the run may or may not be recorded.
    public func appendRun(_ appends: [RunAppend], decidedAt: Int64, then: [PostgresQuery] = []) async throws
        -> [AppendResult]
    {
        guard !appends.isEmpty else { return [] }
        precondition(appends.allSatisfy { !$0.events.isEmpty }, "each command of a run appends events")
        let run =
            "["
            + appends.map { append in
                "{\"commandId\":\(append.commandID.map(jsonQuoted) ?? "null"),"
                    + "\"digest\":\(jsonQuoted(append.payloadDigest)),"
                    + "\"expected\":\(EventStore.expectedJSON(append.expected)),"
                    + "\"keys\":[\(append.keys.sorted().map(jsonQuoted).joined(separator: ","))],"
                    + "\"events\":\(EventStore.eventsJSON(append.events))}"
            }.joined(separator: ",") + "]"
        let queries: [PostgresQuery] =
            [
                "BEGIN",
                PostgresQuery(
                    """
                    SELECT command, position, stream_id, stream_version, event_id, type, recorded_at, hash
                    FROM append_run(\(decidedAt), \(run)::jsonb)
                    """
                ).prepared(),
            ] + appends.flatMap(\.then) + then + ["COMMIT", EventStore.notifyQuery]
        let results: [Result<PostgresRows, PostgresError>]
        do {
            results = try await connection.pipeline(queries)
        } catch let error as PostgresError where error.kind == .connectionLost || error.kind == .connectionFailed {
            throw PostgresError(kind: .commitOutcomeUnknown, message: error.message)
        }
        // The first failure is the cause; what follows it only failed with it.
        for result in results.dropLast() {
            if case .failure(let error) = result { throw EventStoreError.translate(error) }
        }
        var recorded = Array(repeating: [RecordedEvent](), count: appends.count)
        for row in try results[1].get() {
            let command = try row.decode(Int.self, 0) - 1
            guard appends.indices.contains(command), recorded[command].count < appends[command].events.count else {
                throw PostgresError(kind: .decoding, message: "append_run returned an event the run did not send")
            }
            let source = appends[command].events[recorded[command].count]
            recorded[command].append(
                RecordedEvent(
                    position: try row.decode(Int64.self, 1), streamID: try row.decode(String.self, 2),
                    streamVersion: try row.decode(Int64.self, 3), eventID: try row.decode(UUID.self, 4),
                    type: try row.decode(String.self, 5), data: source.data, metadata: source.metadata,
                    recordedAt: try EventStore.recordingTime(row, 6), hash: try row.decode([UInt8].self, 7)))
        }
        return recorded.map { AppendResult(events: $0, replayed: false) }
    }

    /// Makes the caller's open transaction an append batch: several `append` calls in one
    /// transaction. It must come before the transaction's first write; it holds the
    /// positions lock until the transaction ends, so other writers wait for the batch's
    /// commit and positions stay in the order readers rely on (sql/018). Without it, an
    /// append in a transaction that has already written is refused.
    public func beginBatch() async throws {
        do {
            try await connection.query(EventStore.beginBatchQuery)
        } catch {
            throw EventStoreError.translate(error)
        }
    }

    /// Events with positions `first...last`, in order.
    public func readRange(from first: Int64, to last: Int64) async throws -> [RecordedEvent] {
        try await connection.query(
            """
            SELECT \(unescaped: EventStore.eventColumns) FROM events
            WHERE position BETWEEN \(first) AND \(last) ORDER BY position
            """
        ).map(EventStore.decodeEvent)
    }

    /// The events at `positions` (those that exist), in position order.
    public func read(positions: [Int64]) async throws -> [RecordedEvent] {
        guard !positions.isEmpty else { return [] }
        return try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(EventStore.eventColumns) FROM events WHERE position = ANY($1::bigint[]) ORDER BY position
                    """, bindings: [textArray(positions.map(String.init))])
        ).map(EventStore.decodeEvent)
    }

    /// Up to `limit` events after `position` (and up to `cutoff`), from the gap-free prefix
    /// of the log (`EventStore.gapFree`): an event that commits late is returned by a later
    /// call, never jumped over.
    public func readAll(after position: Int64, limit: Int, upTo cutoff: Int64? = nil) async throws -> [RecordedEvent] {
        try await readGapFree(EventStore.bulkColumns, after: position, limit: limit, upTo: cutoff)
            .map(EventStore.decodeEvent)
    }

    /// `readAll(after:limit:upTo:)` with only what a fold reads of each event (`LogEntry`'s
    /// columns), left in the result's bytes.
    public func readEntryRows(after position: Int64, limit: Int, upTo cutoff: Int64? = nil) async throws
        -> LogEntryRows
    {
        LogEntryRows(rows: try await readGapFree(LogEntryRows.columns, after: position, limit: limit, upTo: cutoff))
    }

    /// `columns` of up to `limit` events of the gap-free prefix after `position`, up to `cutoff`.
    private func readGapFree(_ columns: String, after position: Int64, limit: Int, upTo cutoff: Int64?)
        async throws -> PostgresRows
    {
        let query: PostgresQuery = """
            SELECT \(unescaped: columns) FROM events
            WHERE position > \(position) AND position <= \(cutoff ?? Int64.max)
              AND \(unescaped: EventStore.gapFree)
            ORDER BY position LIMIT \(limit)
            """
        // Prepared: every process that follows the log runs it after each commit it hears of.
        return try await connection.query(query.prepared())
    }

    /// The first position a reader can see after `position`, at or before `cutoff`; nil
    /// when there is none.
    public func firstPosition(after position: Int64, upTo cutoff: Int64) async throws -> Int64? {
        try await connection.query(
            """
            SELECT position FROM events
            WHERE position > \(position) AND position <= \(cutoff) AND \(unescaped: EventStore.gapFree)
            ORDER BY position LIMIT 1
            """
        ).first?.decode(Int64.self, 0)
    }

    /// The last position a reader can see without gaps (0 for an empty log).
    public func gapFreeHead() async throws -> Int64 {
        try await connection.query(
            "SELECT coalesce(max(position), 0) FROM events WHERE \(unescaped: EventStore.gapFree)"
        )[0].decode(Int64.self, 0)
    }

    /// The sealed point of the log at or before `position`: the last event there, its
    /// recording time, the chain hash through it and the Merkle tree of the events up to it;
    /// nil for an empty prefix.
    public func sealedPoint(atOrBefore position: Int64) async throws
        -> (position: Int64, recordedAt: RecordingTime?, hash: String, tree: TreeHead)?
    {
        let rows = try await connection.query(
            """
            SELECT e.position, e.recorded_at, c.chain_hash
            FROM (SELECT position, recorded_at FROM events
                  WHERE position <= least(\(position), \(unescaped: EventStore.sealedHead))
                  ORDER BY position DESC LIMIT 1) e
            JOIN chain_hashes(e.position - 1, e.position) c ON c.position = e.position
            """)
        guard let row = rows.first else { return nil }
        let size = try await treeSize(atOrBefore: try row.decode(Int64.self, 0))
        return (
            try row.decode(Int64.self, 0), RecordingTime(postgresUTC: try row.decode(String.self, 1)),
            try row.decode([UInt8].self, 2).hexString,
            TreeHead(treeSize: size, rootHash: try await root(size: size))
        )
    }
}
