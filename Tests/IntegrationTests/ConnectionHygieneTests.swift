import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

/// Timeouts on every pooled session, and connections that come back to the pool clean: one
/// failed statement must never leave a lock or a transaction behind for the next caller.
@Suite("Timeouts and clean connections")
struct ConnectionHygieneTests {
    struct Deliberate: Error {}

    /// Granted advisory locks with this key in the test's own database (advisory locks are
    /// per database; other suites append in theirs at the same time).
    func advisoryLocks(_ key: Int64, admin: PostgresConnection) async throws -> Int {
        try await admin.query(
            """
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objid = \(key)::oid
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """
        )[0].decode(Int.self, 0)
    }

    @Test("an append_events failing between its lock and unlock leaves no lock; the next append gets through")
    func appendLockReleased() async throws {
        let db = try await TestDatabase.make()
        for index in 1...3 { _ = try await db.store.append([event("s-\(index)")]) }
        let admin = try await db.admin()
        // Two positions left before the sequence runs out: a three-event append fails on
        // nextval(), inside the short session lock.
        try await admin.query("ALTER SEQUENCE events_position_seq MAXVALUE 5")
        let failing = try await PostgresConnection.connect(db.appURL)
        let failingPID = try await failing.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
        await #expect(throws: (any Error).self) {
            _ = try await StoreSession(connection: failing).append(
                [event("x"), event("x"), event("x")], expected: [:], commandID: nil, payloadDigest: nil)
        }
        // The failed connection stays open, and holds no lock at all.
        #expect(await failing.isIdle)
        let held = try await admin.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = \(failingPID)")
        #expect(try held[0].decode(Int.self, 0) == 0)
        #expect(try await advisoryLocks(7_263_541, admin: admin) == 0)
        try await admin.query("ALTER SEQUENCE events_position_seq NO MAXVALUE")

        // Another writer, unwilling to wait more than a second for any lock, appends.
        let next = try await PostgresConnection.connect(
            db.appURL,
            settings: timeouts("5s", "1s", "5s"))
        let result = try await StoreSession(connection: next).append(
            [event("y")], expected: [:], commandID: "after-failure", payloadDigest: "d")
        #expect(result.events.count == 1)
    }

    @Test("a connection returned after an error or with an open transaction is reset before reuse")
    func poolResets() async throws {
        let db = try await TestDatabase.make()
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 1)
        defer { pool.close() }
        let admin = try await db.admin()
        await #expect(throws: Deliberate.self) {
            try await pool.withConnection { connection in
                try await connection.query("SELECT pg_advisory_lock(4242)")
                throw Deliberate()
            }
        }
        #expect(try await advisoryLocks(4242, admin: admin) == 0)

        try await pool.withConnection { connection in
            try await connection.query("BEGIN")
            try await connection.query("SELECT pg_advisory_xact_lock(4243)")
        }
        #expect(try await advisoryLocks(4243, admin: admin) == 0)
        let idle = try await pool.withConnection { await $0.isIdle }
        #expect(idle)
    }

    @Test(
        "free connections the server has closed are replaced before they are lent: the first request after gets through"
    )
    func closedByServerReplaced() async throws {
        let db = try await TestDatabase.make()
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 3)
        defer { pool.close() }
        // Three free connections, held at once so that the pool opens three.
        let pids = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try await connection.query("SELECT pg_sleep(0.2)")
                        return try await connection.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(Set(pids).count == 3 && pool.statistics.open == 3)
        // The server ends them all while they sit in the pool.
        let admin = try await db.admin()
        for pid in pids { try await admin.query("SELECT pg_terminate_backend(\(pid), 5000)") }
        // Every one of the next requests gets a live connection, none of the old ones.
        for _ in 0..<4 {
            let pid = try await pool.withConnection {
                try await $0.query("SELECT pg_backend_pid()")[0].decode(Int.self, 0)
            }
            #expect(!pids.contains(pid))
        }
        #expect(pool.statistics.open == 1)
    }

    @Test("pooled sessions carry the configured timeouts and a search path ending in pg_temp")
    func sessionSettings() async throws {
        let db = try await TestDatabase.make()
        let custom = timeouts("7s", "3s", "11s")
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 1, settings: custom)
        defer { pool.close() }
        let row = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),
                       current_setting('idle_in_transaction_session_timeout'), current_setting('search_path')
                """)[0]
        }
        #expect(try row.decode(String.self, 0) == "7s")
        #expect(try row.decode(String.self, 1) == "3s")
        #expect(try row.decode(String.self, 2) == "11s")
        #expect(try row.decode(String.self, 3) == "public, pg_temp")

        let environment = SessionSettings.fromEnvironment(["GRANTLEDGER_LOCK_TIMEOUT": "250ms"])
        #expect(environment.lockTimeout == "250ms")
        #expect(environment.statementTimeout == SessionSettings.standard.statementTimeout)

        // A setting PostgreSQL refuses is a connection error that says so, not a half-set session.
        let bad = ConnectionPool(
            conninfo: db.appURL, maxConnections: 1,
            settings: timeouts("soon", "1s", "1s"))
        defer { bad.close() }
        do {
            _ = try await bad.withConnection { try await $0.query("SELECT 1") }
            Issue.record("a bad statement_timeout was accepted")
        } catch let error as PostgresError {
            #expect(error.kind == .connectionFailed)
            #expect(error.message.contains("session settings"))
        }
    }

    @Test("a value holding U+0000 is refused before it reaches libpq, never cut short")
    func nulParameter() async throws {
        let db = try await TestDatabase.make()
        let connection = try await PostgresConnection.connect(db.appURL)
        do {
            _ = try await connection.query("SELECT \("KZ-43\u{0}junk")::text")
            Issue.record("a NUL was bound")
        } catch let error as PostgresError {
            #expect(error.kind == .invalidParameter)
        }
        #expect(await connection.isIdle)
    }
}

/// Settings with the three timeouts given.
private func timeouts(_ statement: String, _ lock: String, _ idle: String) -> SessionSettings {
    var settings = SessionSettings()
    settings.statementTimeout = statement
    settings.lockTimeout = lock
    settings.idleInTransactionTimeout = idle
    return settings
}
