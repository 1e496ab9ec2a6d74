import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

/// A fresh database on the test cluster, migrated, for one suite or test.
///
/// The test command (`deploy/test.sh`) starts the cluster and exports the three URLs; each
/// `TestDatabase` creates its own database so suites never see each other's events.
struct TestDatabase: Sendable {
    let name: String
    /// As the application role (what grantledger runs as).
    let appURL: String
    /// As the migration role, which acts as the owner (see `owner()`).
    let ownerURL: String
    /// As the superuser, connected to this database (for tampering in tests).
    let adminURL: String
    let pool: ConnectionPool

    static func environment(_ key: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[key], !value.isEmpty else {
            throw TestSetupError(
                message: "\(key) is not set: run the tests with deploy/test.sh, which starts PostgreSQL")
        }
        return value
    }

    static func replacingDatabase(in url: String, with database: String) -> String {
        if let range = url.range(of: "/postgres?") {
            return url.replacingCharacters(in: range, with: "/\(database)?")
        }
        guard let slash = url.range(of: "/", options: .backwards) else { return url }
        return url[..<slash.lowerBound] + "/" + database
    }

    static func make(migrate: Bool = true) async throws -> TestDatabase {
        let admin = try environment("GRANTLEDGER_ADMIN_DATABASE_URL")
        let owner = try environment("GRANTLEDGER_MIGRATION_DATABASE_URL")
        let app = try environment("GRANTLEDGER_DATABASE_URL")
        let name = "gl_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let adminConnection = try await PostgresConnection.connect(admin)
        try await adminConnection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER grantledger"))
        let database = TestDatabase(
            name: String(name),
            appURL: replacingDatabase(in: app, with: String(name)),
            ownerURL: replacingDatabase(in: owner, with: String(name)),
            adminURL: replacingDatabase(in: admin, with: String(name)),
            pool: ConnectionPool(conninfo: replacingDatabase(in: app, with: String(name)), maxConnections: 20))
        if migrate {
            let migrator = try Migrator(directory: Migrator.defaultDirectory())
            _ = try await migrator.migrate(on: try await database.owner())
        }
        return database
    }

    /// As the superuser, connected to the `postgres` database (to act on this one from outside).
    func clusterAdmin() async throws -> PostgresConnection {
        try await PostgresConnection.connect(try Self.environment("GRANTLEDGER_ADMIN_DATABASE_URL"))
    }

    func admin() async throws -> PostgresConnection {
        try await PostgresConnection.connect(adminURL)
    }

    /// As the database owner: the migration role after `SET ROLE` (the owner cannot log in).
    func owner() async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(ownerURL)
        try await connection.assumeDatabaseOwner()
        return connection
    }

    var store: EventStore { EventStore(pool: pool) }

    /// Every committed event (types and streams), without the readers' xmin horizon: what
    /// a test asserts was recorded, whatever other tests hold open meanwhile.
    func committedEvents() async throws -> [(position: Int64, type: String, streamID: String)] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT position, type, stream_id FROM events ORDER BY position").map {
                (try $0.decode(Int64.self, 0), try $0.decode(String.self, 1), try $0.decode(String.self, 2))
            }
        }
    }

    /// Reads after `position` until `count` events are visible.
    ///
    /// Readers only see events below the cluster-wide snapshot xmin, so a transaction held
    /// open by a test running in parallel (in another database) can delay visibility.
    /// - Throws: when they are not visible within 20 seconds, rather than return fewer.
    func readAll(after position: Int64, count: Int) async throws -> [RecordedEvent] {
        let deadline = Date().addingTimeInterval(20)
        while true {
            let events = try await store.readAll(after: position, limit: 10_000)
            if events.count >= count { return events }
            guard Date() < deadline else {
                throw TestSetupError(
                    message:
                        "only \(events.count) of \(count) events after position \(position) became visible within 20 s")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Records the sample programme (deploy/sample/programme.jsonl) through the command
    /// handler, as `grantledger import` does, and waits until readers see all of it.
    func importSample() async throws {
        let file = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent("deploy/sample/programme.jsonl")
        let handler = CommandHandler(pool: pool, signOffFigures: LogFigures.signOffProvider(pool: pool))
        for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") where !line.isEmpty {
            _ = try await handler.handle(try CommandRequest.parse(String(line)), actor: "sample")
        }
        let last = try await committedEvents().last?.position ?? 0
        _ = try await readAll(after: last - 1, count: 1)
    }

    /// Verifies until the sealed head reaches `position` (see `readAll(after:count:)`).
    func verify(reaching position: Int64, expectedHead: ChainHead? = nil) async throws -> VerificationReport {
        _ = try await readAll(after: position - 1, count: 1)
        return try await store.verify(expectedHead: expectedHead)
    }
}

extension TestDatabase {
    /// What a superuser covering a rewrite would do, on a connection with the append-only
    /// triggers off: recompute every event's hash from its rows, and drop the chain and the
    /// Merkle tree so that the next seal rebuilds both over the rewritten log.
    static func makeConsistent(_ admin: PostgresConnection) async throws {
        try await admin.query(
            """
            UPDATE events SET hash = sha256(convert_to(event_canonical(position, stream_id, stream_version,
                event_id, type, data, metadata, recorded_at), 'UTF8'))
            """)
        try await admin.query("DELETE FROM merkle_nodes")
        try await admin.query("DELETE FROM merkle_groups")
        try await admin.query("DELETE FROM event_chain")
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
