import CLibPQ
import Foundation
import Logging

/// One libpq connection (`PGconn`) with an async API.
///
/// Every libpq call runs on the connection's own `BlockingThread`, never on the caller's
/// thread. The class is `@unchecked Sendable` because the `PGconn` pointer is only ever
/// dereferenced from that single thread, one job at a time; libpq forbids concurrent use of
/// one connection, and the serial thread enforces it. The handle is freed in `deinit`.
public final class PostgresConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private let thread: BlockingThread
    private let logger: Logger
    /// The statements prepared on this session, by their text, and the names they have.
    /// Touched only on `thread`.
    private var preparedNames: [String: String] = [:]
    /// The most statements one session keeps prepared; beyond it, statements run unprepared.
    static let maxPrepared = 256
    /// A `transaction` has begun but its `BEGIN` is not sent yet: it goes with the
    /// transaction's first statement, in the same round trip. Touched only on `thread`.
    private var beginPending = false

    private init(handle: OpaquePointer, thread: BlockingThread, logger: Logger) {
        self.handle = handle
        self.thread = thread
        self.logger = logger
    }

    deinit {
        let handle = self.handle
        thread.submit { PQfinish(handle) }
        thread.shutdown()
    }

    /// Waits, at most `timeout` seconds, until every connection released has closed (its
    /// `PQfinish` run on its own thread); whether all have. Call it before the process exits,
    /// once the connections and pools are no longer referenced.
    @discardableResult
    public static func waitUntilAllClosed(timeout: Double = 2) -> Bool {
        BlockingThread.waitForAll(timeout: timeout)
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - conninfo: a libpq connection string or URI; an empty string means "use the
    ///     standard `PG*` environment variables and libpq's defaults".
    ///   - settings: timeouts and search path for the session (none: the server's defaults).
    ///   - logger: receives connection events at debug level; never the conninfo itself.
    /// - Throws: `PostgresError` of kind `.connectionFailed`.
    public static func connect(
        _ conninfo: String, settings: SessionSettings? = nil, logger: Logger = Logger(label: "grantledger.postgres")
    ) async throws -> PostgresConnection {
        let thread = BlockingThread(name: "grantledger.libpq")
        let handle: OpaquePointer
        do {
            handle = try await thread.run { () throws -> UncheckedHandle in
                guard let conn = PQconnectdb(conninfo) else {
                    throw PostgresError(kind: .connectionFailed, message: "out of memory")
                }
                if PQstatus(conn) != CONNECTION_OK {
                    let message = Self.errorMessage(conn)
                    PQfinish(conn)
                    throw PostgresError(kind: .connectionFailed, message: message)
                }
                PQsetNoticeProcessor(conn, { _, _ in }, nil)
                // Timestamps come back in UTC whatever the server's default.
                PQclear(PQexec(conn, "SET TimeZone = 'UTC'"))
                return UncheckedHandle(pointer: conn)
            }.pointer
        } catch {
            thread.shutdown()
            throw error
        }
        logger.debug("connected to PostgreSQL")
        let connection = PostgresConnection(handle: handle, thread: thread, logger: logger)
        if let settings {
            do {
                try await connection.query(settings.query)
            } catch let error as PostgresError {
                throw PostgresError(kind: .connectionFailed, message: "session settings refused: \(error.message)")
            }
        }
        return connection
    }

    /// Acts as the owner of the current database from now on (`SET ROLE`), when the
    /// connected role is a member of it and not already the owner. Migrations, token
    /// administration and archive import run this way: the owning role itself cannot log in.
    /// - Throws: `PostgresError` when the connected role may not become the owner.
    public func assumeDatabaseOwner() async throws {
        let rows = try await query(
            """
            SELECT pg_get_userbyid(d.datdba), current_user
            FROM pg_database d WHERE d.datname = current_database()
            """)
        guard let row = rows.first else { return }
        let owner = try row.decode(String.self, 0)
        if try row.decode(String.self, 1) == owner { return }
        try await query("SELECT set_config('role', \(owner), false)")
    }

    static func errorMessage(_ conn: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(conn) else { return "unknown libpq error" }
        return String(cString: raw).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True while libpq considers the connection usable.
    public var isHealthy: Bool {
        get async {
            (try? await thread.run { PQstatus(self.handle) == CONNECTION_OK }) ?? false
        }
    }

    /// False when the server has closed an idle connection (a restart, `pg_terminate_backend`,
    /// its idle timeout): reads what the server sent without waiting (libpq's socket is
    /// non-blocking) until the end of the stream shows, or nothing more is there.
    public var isStillOpen: Bool {
        get async {
            (try? await thread.run { () -> Bool in
                // The closing server sends an error first, then ends the stream: a few reads
                // see both; with nothing to read each returns at once.
                for _ in 0..<4 {
                    guard PQstatus(self.handle) == CONNECTION_OK, PQconsumeInput(self.handle) == 1 else {
                        return false
                    }
                }
                return PQstatus(self.handle) == CONNECTION_OK
            }) ?? false
        }
    }

    /// Runs a statement with bound parameters and returns its rows.
    ///
    /// - Throws: `PostgresError` with the SQLSTATE for server errors.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await thread.run { try self.execute(query) }
    }

    /// Runs a script of several statements without parameters (simple query protocol),
    /// e.g. a migration file. Only for trusted SQL text.
    public func executeScript(unsafeSQL script: String) async throws {
        try await thread.run {
            try self.sendPendingBegin()
            // PQexec returns the last statement's result; an error stops the script there.
            _ = try self.consume(PQexec(self.handle, script))
        }
    }

    /// Sends a pending `BEGIN` alone, before a statement that cannot be pipelined with it.
    /// Must run on `thread`.
    private func sendPendingBegin() throws {
        guard beginPending else { return }
        beginPending = false
        _ = try consume(PQexec(handle, "BEGIN"))
    }

    /// Must run on `thread`.
    fileprivate func execute(_ query: PostgresQuery) throws -> PostgresRows {
        try Self.checkParameters(query.bindings)
        if beginPending {
            // The transaction's BEGIN and its first statement, in one round trip.
            return try pipelineOnThread([query])[0].get()
        }
        if let name = try preparedName(query) {
            let result = Self.withParameters(query.bindings) { count, values in
                PQexecPrepared(handle, name, count, values, nil, nil, 0)
            }
            return try consumePrepared(result, sql: query.sql)
        }
        let result = Self.withParameters(query.bindings) { count, values in
            PQexecParams(handle, query.sql, count, nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// The name `query` runs under on this session, preparing it first if needed; nil for a
    /// statement not marked `prepared()` or when the session holds `maxPrepared` already.
    /// Must run on `thread`, outside pipeline mode. A protocol-level prepared statement
    /// outlives the transaction it was made in, rolled back or not.
    private func preparedName(_ query: PostgresQuery) throws -> String? {
        guard query.isPrepared else { return nil }
        if let name = preparedNames[query.sql] { return name }
        guard preparedNames.count < Self.maxPrepared else { return nil }
        let name = "gl_\(preparedNames.count + 1)"
        _ = try consume(PQprepare(handle, name, query.sql, Int32(query.bindings.count), nil))
        preparedNames[query.sql] = name
        return name
    }

    /// `consume` for a prepared statement's result: when the session no longer has the
    /// statement (someone ran `DEALLOCATE`), it is forgotten, to be prepared again next time.
    private func consumePrepared(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
        do {
            return try consume(result)
        } catch let error as PostgresError where error.sqlState == "26000" {
            preparedNames[sql] = nil
            throw error
        }
    }

    /// `pipeline`, for statements that must all succeed: throws the first one's error.
    public func pipelineAll(_ queries: [PostgresQuery]) async throws {
        for result in try await pipeline(queries) { _ = try result.get() }
    }

    /// Sends several statements in one round trip (libpq pipeline mode), each as its own
    /// transaction, and returns each one's rows or error in order.
    ///
    /// A failing statement does not stop the ones after it.
    public func pipeline(_ queries: [PostgresQuery]) async throws -> [Result<PostgresRows, PostgresError>] {
        try await thread.run { try self.pipelineOnThread(queries) }
    }

    /// `pipeline`, with a pending `BEGIN` sent first in the same round trip. Must run on
    /// `thread`.
    private func pipelineOnThread(_ requested: [PostgresQuery]) throws -> [Result<PostgresRows, PostgresError>] {
        for query in requested { try Self.checkParameters(query.bindings) }
        // Statements not yet prepared on this session are prepared first (once each); a
        // pending BEGIN stays pending if that fails.
        let requestedNames = try requested.map { try self.preparedName($0) }
        let begin = beginPending
        beginPending = false
        let queries: [PostgresQuery] = begin ? ["BEGIN"] + requested : requested
        let names: [String?] = begin ? [nil] + requestedNames : requestedNames
        guard PQenterPipelineMode(self.handle) == 1 else { throw self.connectionError() }
        defer { PQexitPipelineMode(self.handle) }
        for (query, name) in zip(queries, names) {
            let sent = Self.withParameters(query.bindings) { count, values in
                if let name {
                    PQsendQueryPrepared(self.handle, name, count, values, nil, nil, 0)
                } else {
                    PQsendQueryParams(self.handle, query.sql, count, nil, values, nil, nil, 0)
                }
            }
            if sent != 1 || PQpipelineSync(self.handle) != 1 { throw self.connectionError() }
        }
        var results: [Result<PostgresRows, PostgresError>] = []
        for (query, name) in zip(queries, names) {
            var outcome: Result<PostgresRows, PostgresError>?
            // Each statement yields its result(s) and a NULL, then the sync marker.
            while let result = PQgetResult(self.handle) {
                if outcome == nil {
                    do { outcome = .success(try self.consume(result)) } catch let error as PostgresError {
                        outcome = .failure(error)
                    }
                } else {
                    PQclear(result)
                }
            }
            guard let sync = PQgetResult(self.handle) else { throw self.connectionError() }
            let status = PQresultStatus(sync)
            PQclear(sync)
            if status != PGRES_PIPELINE_SYNC { throw self.connectionError() }
            if name != nil, case .failure(let error) = outcome, error.sqlState == "26000" {
                self.preparedNames[query.sql] = nil
            }
            results.append(outcome ?? .failure(self.connectionError()))
        }
        if begin {
            // The BEGIN's own answer: nothing after it ran inside the transaction if it failed.
            _ = try results.removeFirst().get()
        }
        return results
    }

    /// Refuses a value holding U+0000: libpq takes parameters as C strings, so the value
    /// would be cut at the NUL and a different value bound, silently.
    static func checkParameters(_ bindings: [String?]) throws {
        for binding in bindings {
            if let binding, binding.utf8.contains(0) {
                throw PostgresError(kind: .invalidParameter, message: "a bound value contains U+0000")
            }
        }
    }

    /// Lends `bindings` to `body` as a C array of NUL-terminated strings, freed afterwards.
    private static func withParameters<T>(
        _ bindings: [String?], _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>) -> T
    ) -> T {
        let values = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(bindings.count, 1))
        var owned: [UnsafeMutablePointer<CChar>] = []
        owned.reserveCapacity(bindings.count)
        defer {
            for pointer in owned { free(pointer) }
            values.deallocate()
        }
        for (index, binding) in bindings.enumerated() {
            if let binding {
                // strdup fails only when out of memory; bind NULL rather than trap.
                guard let copy = strdup(binding) else {
                    values[index] = nil
                    continue
                }
                owned.append(copy)
                values[index] = UnsafePointer(copy)
            } else {
                values[index] = nil
            }
        }
        return body(Int32(bindings.count), values)
    }

    /// Turns a `PGresult` into rows or an error, and frees it.
    fileprivate func consume(_ result: OpaquePointer?) throws -> PostgresRows {
        guard let result else {
            throw connectionError()
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], bytes: [], cells: [], affectedRows: Self.affected(result))
        case PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                columns.append(String(cString: PQfname(result, Int32(column))))
            }
            // Every value's bytes into one buffer, measured first so that it is allocated once.
            var cells: [PostgresRows.Cell] = []
            cells.reserveCapacity(rowCount * columnCount)
            var total = 0
            for row in 0..<Int32(rowCount) {
                for column in 0..<Int32(columnCount) {
                    if PQgetisnull(result, row, column) == 1 {
                        cells.append(PostgresRows.Cell(start: total, count: -1))
                    } else {
                        let length = Int(PQgetlength(result, row, column))
                        cells.append(PostgresRows.Cell(start: total, count: length))
                        total += length
                    }
                }
            }
            let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                var index = 0
                for row in 0..<Int32(rowCount) {
                    for column in 0..<Int32(columnCount) {
                        let cell = cells[index]
                        index += 1
                        guard cell.count > 0, let value = PQgetvalue(result, row, column) else { continue }
                        UnsafeMutableRawBufferPointer(
                            rebasing: UnsafeMutableRawBufferPointer(buffer)[cell.start..<cell.start + cell.count]
                        ).copyMemory(from: UnsafeRawBufferPointer(start: value, count: cell.count))
                    }
                }
                initialized = total
            }
            return PostgresRows(columns: columns, bytes: bytes, cells: cells, affectedRows: rowCount)
        default:
            throw Self.serverError(result, connection: handle)
        }
    }

    private static func affected(_ result: OpaquePointer) -> Int {
        guard let raw = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: raw)) ?? 0
    }

    private func connectionError() -> PostgresError {
        let message = Self.errorMessage(handle)
        if PQstatus(handle) != CONNECTION_OK || Self.saysConnectionBroke(message) {
            return PostgresError(kind: .connectionLost, message: message)
        }
        return PostgresError(kind: .server, message: message)
    }

    /// libpq's own words for a connection that broke under a send or a read. Sending in
    /// pipeline mode can fail on a socket the server has closed (a restart, say) while the
    /// connection's status still says OK until libpq next reads from it.
    static func saysConnectionBroke(_ message: String) -> Bool {
        [
            "server closed the connection", "could not send data", "could not receive data", "connection not open",
            "no connection to the server", "terminating connection", "SSL SYSCALL error", "lost synchronization",
        ].contains { message.contains($0) }
    }

    static func serverError(_ result: OpaquePointer, connection: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let raw = PQresultErrorField(result, Int32(ascii)) else { return nil }
            return String(cString: raw)
        }
        let sqlState = field("C")
        // An error the server did not send (no SQLSTATE), or any error on a connection that
        // is gone, is about the connection, not the statement. So are the errors the server
        // sends as it closes the connection (class 57P: a terminated backend, a shutdown, a
        // dropped database, an idle session ended), which libpq reads before it notices the
        // closed socket: the connection's status may still say OK.
        if sqlState == nil || sqlState?.hasPrefix("57P") == true || PQstatus(connection) != CONNECTION_OK {
            return PostgresError(
                kind: .connectionLost, sqlState: sqlState, message: field("M") ?? errorMessage(connection))
        }
        guard let primary = field("M") else {
            return PostgresError(kind: .server, sqlState: sqlState, message: errorMessage(connection))
        }
        return PostgresError(
            kind: .server, sqlState: sqlState, message: primary, detail: field("D"), constraint: field("n"))
    }

    /// Runs `COPY ... TO STDOUT` and hands each data row (as raw bytes) to `onRow`.
    ///
    /// `onRow` runs on the connection's thread; keep it short.
    /// - Returns: the number of rows copied.
    @discardableResult
    public func copyOut(_ sql: String, onRow: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws -> Int {
        try await thread.run {
            try self.sendPendingBegin()
            let start = PQexec(self.handle, sql)
            guard let start else { throw self.connectionError() }
            if PQresultStatus(start) != PGRES_COPY_OUT {
                _ = try self.consume(start)
                throw PostgresError(kind: .server, message: "statement is not COPY TO STDOUT")
            }
            PQclear(start)
            var rows = 0
            var failure: (any Error)?
            while true {
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(self.handle, &buffer, 0)
                if length > 0, let buffer {
                    defer { PQfreemem(buffer) }
                    if failure == nil {
                        do {
                            try onRow(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
                            rows += 1
                        } catch {
                            failure = error
                        }
                    }
                } else {
                    break
                }
            }
            while let result = PQgetResult(self.handle) {
                _ = try self.consume(result)
            }
            if let failure { throw failure }
            return rows
        }
    }

    /// Runs `COPY ... FROM STDIN`, sending the chunks `nextChunk` returns until it returns nil.
    /// - Returns: the number of rows the server loaded.
    @discardableResult
    public func copyIn(_ sql: String, nextChunk: @escaping () throws -> [UInt8]?) async throws -> Int {
        try await thread.run {
            try self.sendPendingBegin()
            let start = PQexec(self.handle, sql)
            guard let start else { throw self.connectionError() }
            if PQresultStatus(start) != PGRES_COPY_IN {
                _ = try self.consume(start)
                throw PostgresError(kind: .server, message: "statement is not COPY FROM STDIN")
            }
            PQclear(start)
            var failure: (any Error)?
            do {
                while let chunk = try nextChunk() {
                    let sent = chunk.withUnsafeBufferPointer { buffer in
                        buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                            PQputCopyData(self.handle, $0, Int32(buffer.count))
                        }
                    }
                    if sent != 1 { throw self.connectionError() }
                }
            } catch {
                failure = error
            }
            PQputCopyEnd(self.handle, failure == nil ? nil : "aborted by client")
            var loaded = 0
            var serverFailure: (any Error)?
            while let result = PQgetResult(self.handle) {
                do { loaded = try self.consume(result).affectedRows } catch { serverFailure = serverFailure ?? error }
            }
            if let failure { throw failure }
            if let serverFailure { throw serverFailure }
            return loaded
        }
    }

    /// Subscribes this connection to `NOTIFY` on `channel`.
    public func listen(_ channel: String) async throws {
        let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try await query(PostgresQuery(unsafeSQL: "LISTEN \(quoted)"))
    }

    /// Waits up to `timeout` seconds for notifications and returns their payloads
    /// (empty on timeout). Polling remains the caller's fallback.
    public func waitForNotifications(timeout: Double) async throws -> [String] {
        try await thread.run {
            var payloads = self.drainNotifications()
            if !payloads.isEmpty { return payloads }
            let socket = PQsocket(self.handle)
            guard socket >= 0 else { throw self.connectionError() }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(timeout * 1000))
            if ready > 0 {
                if PQconsumeInput(self.handle) == 0 { throw self.connectionError() }
                payloads = self.drainNotifications()
            }
            return payloads
        }
    }

    private func drainNotifications() -> [String] {
        PQconsumeInput(handle)
        var payloads: [String] = []
        while let notification = PQnotifies(handle) {
            payloads.append(String(cString: notification.pointee.extra))
            PQfreemem(notification)
        }
        return payloads
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`, rolling back when it throws.
    /// - Parameter after: a statement sent with the `COMMIT`, in the same round trip, that
    ///   runs once the commit is done, outside the transaction (a `NOTIFY`, say); its failure
    ///   is ignored.
    public func transaction<T>(after: PostgresQuery? = nil, _ body: (PostgresConnection) async throws -> T)
        async throws -> T
    {
        // BEGIN goes with the body's first statement (or its COMMIT), in one round trip.
        try await thread.run { self.beginPending = true }
        let value: T
        do {
            value = try await body(self)
        } catch {
            _ = try? await query("ROLLBACK")
            throw error
        }
        do {
            if let after {
                _ = try await pipeline(["COMMIT", after])[0].get()
            } else {
                try await query("COMMIT")
            }
        } catch let error as PostgresError where error.kind == .connectionLost || error.kind == .connectionFailed {
            // The server may have committed before the connection broke, or not: only a
            // later read can tell.
            throw PostgresError(kind: .commitOutcomeUnknown, message: error.message)
        }
        return value
    }

    /// True when the session is outside any transaction (a local check, no round trip).
    public var isIdle: Bool {
        get async {
            (try? await thread.run { PQtransactionStatus(self.handle) == PQTRANS_IDLE && !self.beginPending }) ?? false
        }
    }

    /// Returns the session to a clean state after an error: rolls back an open
    /// transaction and releases session-level advisory locks.
    /// - Returns: false when the connection is unusable and should be dropped.
    public func reset() async -> Bool {
        (try? await thread.run { () -> Bool in
            self.beginPending = false
            guard PQstatus(self.handle) == CONNECTION_OK else { return false }
            if PQtransactionStatus(self.handle) != PQTRANS_IDLE {
                PQclear(PQexec(self.handle, "ROLLBACK"))
            }
            guard let result = PQexec(self.handle, "SELECT pg_advisory_unlock_all()") else { return false }
            defer { PQclear(result) }
            return PQresultStatus(result) == PGRES_TUPLES_OK && PQtransactionStatus(self.handle) == PQTRANS_IDLE
        }) ?? false
    }
}

/// Carries a fresh `PGconn` pointer from the connection thread to its owner; nothing else
/// holds it in between.
private struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
