import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

/// The migrated database every test database is copied from (`CREATE DATABASE … TEMPLATE`):
/// the migrations run once per set of migration files, not once per suite. Named by the
/// files' checksums, so a template of other files is never used; made under a scratch name
/// and renamed when complete, so a run that dies half-way leaves no half-migrated template.
enum MigratedTemplate {
    static let name = Task<String, any Error> {
        let migrator = try Migrator(directory: Migrator.defaultDirectory())
        let digest = EventStore.digest(migrator.migrations.map(\.checksum).joined(separator: ","))
        let template = "gl_template_" + digest.prefix(16)
        let admin = try await PostgresConnection.connect(try TestDatabase.environment("GRANTLEDGER_ADMIN_DATABASE_URL"))
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(template)")
        if !exists.isEmpty { return template }
        let scratch =
            "gl_test_template_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(scratch) OWNER grantledger"))
        do {
            let owner = try await PostgresConnection.connect(
                TestDatabase.replacingDatabase(
                    in: try TestDatabase.environment("GRANTLEDGER_MIGRATION_DATABASE_URL"), with: String(scratch)))
            try await owner.assumeDatabaseOwner()
            _ = try await migrator.migrate(on: owner)
        }
        // The migrating session ends as its connection is freed, which takes a moment: a
        // database being renamed (or copied) must have no session.
        try await whenNotInUse {
            try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(scratch) RENAME TO \(template)"))
        }
        return template
    }

    /// Runs `body`, again while it fails because a session is still on the database
    /// (SQLSTATE 55006), for up to ten seconds: a closed connection's session ends a moment
    /// after the close, not at it.
    static func whenNotInUse(_ body: () async throws -> Void) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try await body()
            } catch let error as PostgresError
                where error.sqlState == SQLState.objectInUse && ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// A copy gets the database object's default privileges, not the template's: grant it
    /// exactly what the migrations granted on the template (`CONNECT` for the application
    /// role, nothing for `PUBLIC`).
    static func copyPrivileges(from template: String, to database: String, on admin: PostgresConnection) async throws {
        let grants = try await admin.query(
            """
            SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type
            FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
            WHERE d.datname = \(template) AND a.grantee <> d.datdba
            """
        ).map { try $0.decode((String, String).self) }
        var statements = ["REVOKE ALL ON DATABASE \(database) FROM PUBLIC"]
        for (grantee, privilege) in grants {
            statements.append("GRANT \(privilege) ON DATABASE \(database) TO \(grantee)")
        }
        for statement in statements { try await admin.query(PostgresQuery(unsafeSQL: statement)) }
    }
}

/// A fresh database on the test cluster, migrated (a copy of `MigratedTemplate`), for one
/// suite or test.
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
        let name = String(
            "gl_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        let template = migrate ? try await MigratedTemplate.name.value : nil
        let adminConnection = try await PostgresConnection.connect(admin)
        if let template {
            try await CopyGate.shared.run {
                try await MigratedTemplate.whenNotInUse {
                    try await adminConnection.query(
                        PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(template) OWNER grantledger"))
                }
            }
            try await MigratedTemplate.copyPrivileges(from: template, to: name, on: adminConnection)
        } else {
            try await adminConnection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER grantledger"))
        }
        return TestDatabase(
            name: name,
            appURL: replacingDatabase(in: app, with: name),
            ownerURL: replacingDatabase(in: owner, with: name),
            adminURL: replacingDatabase(in: admin, with: name),
            pool: ConnectionPool(conninfo: replacingDatabase(in: app, with: name), maxConnections: 20))
    }

    /// As the superuser, connected to the `postgres` database (to act on this one from outside).
    func clusterAdmin() async throws -> PostgresConnection {
        try await PostgresConnection.connect(try Self.environment("GRANTLEDGER_ADMIN_DATABASE_URL"))
    }

    /// The cluster's oldest transactions that hold an id (they hold back every database's
    /// readers, docs/architecture.md): for a test's failure message.
    func oldestTransactions() async -> String {
        do {
            let admin = try await clusterAdmin()
            let rows = try await admin.query(
                """
                SELECT coalesce(datname, '-') || ' ' || coalesce(state, '-') || ' for '
                       || round(extract(epoch FROM now() - xact_start))::text || ' s: '
                       || left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
                FROM pg_stat_activity
                WHERE backend_xid IS NOT NULL
                ORDER BY xact_start LIMIT 3
                """)
            return rows.map { $0.text(0) ?? "" }.joined(separator: "; ")
        } catch {
            return "(not read: \(error))"
        }
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
                try $0.decode((Int64, String, String).self)
            }
        }
    }

    /// How long a test waits for events it committed to become readable. Readers stop below
    /// the cluster's oldest transaction id, and another test's can hold one a while: a
    /// `CREATE DATABASE` copy (see `CopyGate`), or an import's batch under locks (up to 15 s
    /// in a watched local run, over 20 s in CI).
    static let visibilityWait: Duration = .seconds(60)

    /// Waits until readers see every committed event: the gap-free head waits for every
    /// older transaction of the cluster, other tests' included, to end. Whether it got there
    /// within `visibilityWait`.
    func everyEventReadable() async throws -> Bool {
        let last = try await committedEvents().last?.position ?? 0
        return try await eventually(timeout: Self.visibilityWait) { try await store.gapFreeHead() >= last }
    }

    /// Reads after `position` until `count` events are visible.
    ///
    /// Readers only see events below the cluster-wide snapshot xmin, so a transaction held
    /// open by a test running in parallel (in another database) can delay visibility.
    /// - Throws: when they are not visible within `visibilityWait`, rather than return fewer;
    ///   the message names the cluster's oldest transactions.
    func readAll(after position: Int64, count: Int) async throws -> [RecordedEvent] {
        let deadline = ContinuousClock.now + Self.visibilityWait
        while true {
            let events = try await store.readAll(after: position, limit: 10_000)
            if events.count >= count { return events }
            guard ContinuousClock.now < deadline else {
                throw TestSetupError(
                    message: "only \(events.count) of \(count) events after position \(position) became visible "
                        + "within \(Self.visibilityWait); oldest transactions: \(await oldestTransactions())")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The sample programme's commands, one a line; each records exactly one event, so
    /// their number is the sample's log size.
    static let sampleCommands: [String] = {
        let file = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent("deploy/sample/programme.jsonl")
        return ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            .filter { !$0.isEmpty }
    }()

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
    /// triggers off: recompute every event's hash from its rows, and drop the chain (both its
    /// tables) and the Merkle tree so that the next seal rebuilds both over the rewritten log.
    static func makeConsistent(_ admin: PostgresConnection) async throws {
        try await admin.query(
            """
            UPDATE events SET hash = sha256(convert_to(event_canonical(position, stream_id, stream_version,
                event_id, type, data, metadata, recorded_at), 'UTF8'))
            """)
        try await admin.query("DELETE FROM merkle_nodes")
        try await admin.query("DELETE FROM merkle_groups")
        try await admin.query("DELETE FROM event_chain")
        try await admin.query("DELETE FROM chain_runs")
    }
}

/// At most two `CREATE DATABASE … TEMPLATE` copies at a time in this process.
///
/// A copy writes the whole template (9 MB) through the WAL and holds a transaction id while
/// it does; a hundred suites starting at once made each copy take 17-19 s, during which every
/// database's readers stopped below it (`readAll(after:count:)`). Two at a time, each takes
/// about half a second, and the cluster's readers wait no longer than that.
actor CopyGate {
    static let shared = CopyGate(width: 2)

    private let width: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { self.width = width }

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        if running < width {
            running += 1
        } else {
            // A leaving copy hands its place over directly (see `leave`).
            await withCheckedContinuation { waiting.append($0) }
        }
        defer { leave() }
        return try await body()
    }

    private func leave() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
