import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

@Suite("Migrations and connections")
struct MigrationTests {
    @Test("migrating twice applies nothing the second time")
    func idempotent() async throws {
        let db = try await TestDatabase.make(migrate: false)
        let migrator = try Migrator(directory: Migrator.defaultDirectory())
        let owner = try await db.owner()
        let first = try await migrator.migrate(on: owner)
        #expect(first.count == migrator.migrations.count)
        #expect(try await migrator.migrate(on: owner).isEmpty)
        #expect(try await migrator.isUpToDate(on: owner))
    }

    @Test("a changed migration file is refused, naming the file")
    func changedFile() async throws {
        let db = try await TestDatabase.make()
        let source = Migrator.defaultDirectory()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("gl-sql-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let target = copy.appendingPathComponent("001_event_log.sql")
        let original = try String(contentsOf: target, encoding: .utf8)
        try (original + "\n-- edited\n").write(to: target, atomically: true, encoding: .utf8)
        let migrator = try Migrator(directory: copy)
        do {
            _ = try await migrator.migrate(on: try await db.owner())
            Issue.record("a changed migration was applied")
        } catch let error as EventStoreError {
            #expect("\(error)".contains("001_event_log.sql"))
        }
    }

    @Test("an unreachable server gives a clear connection error")
    func unreachable() async throws {
        do {
            _ = try await PostgresConnection.connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
            Issue.record("connected to a closed port")
        } catch let error as PostgresError {
            #expect(error.kind == .connectionFailed)
            #expect(error.description.contains("cannot connect"))
        }
    }

    @Test("a wrong password is refused without echoing it")
    func wrongPassword() async throws {
        let db = try await TestDatabase.make(migrate: false)
        let bad = db.appURL.replacingOccurrences(of: "grantledger_app:", with: "grantledger_app:wrong-secret-")
        do {
            _ = try await PostgresConnection.connect(bad)
            Issue.record("connected with a wrong password")
        } catch let error as PostgresError {
            #expect(error.kind == .connectionFailed)
            #expect(!error.description.contains("wrong-secret"))
        }
    }

    @Test("a busy pool answers with a timeout instead of hanging")
    func poolTimeout() async throws {
        let db = try await TestDatabase.make(migrate: false)
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 1, acquireTimeout: 0.3)
        try await pool.withConnection { _ in
            do {
                try await pool.withConnection { _ in }
                Issue.record("got a second connection from a pool of one")
            } catch let error as PostgresError {
                #expect(error.kind == .poolTimeout)
            }
        }
        // The pool still works afterwards.
        let one = try await pool.withConnection { try await $0.query("SELECT 1")[0].decode(Int.self, 0) }
        #expect(one == 1)
    }

    @Test("a waiter that is cancelled stops waiting at once; a closed pool says closed")
    func poolCancellationAndClose() async throws {
        let db = try await TestDatabase.make(migrate: false)
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 1, acquireTimeout: 30)
        try await pool.withConnection { _ in
            let waiter = Task { try await pool.withConnection { _ in 1 } }
            let queued = try await eventually { pool.statistics.waiting == 1 }
            #expect(queued)
            waiter.cancel()
            // Without cancellation the wait would end in 30 s with poolTimeout instead.
            await #expect(throws: CancellationError.self) { _ = try await waiter.value }
            #expect(pool.statistics.waiting == 0)
        }
        pool.close()
        do {
            try await pool.withConnection { _ in }
            Issue.record("a closed pool lent a connection")
        } catch let error as PostgresError {
            #expect(error.kind == .poolClosed)
            #expect(error.description == "the connection pool is closed")
        }
    }
}
