import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// The hot standby that `deploy/db.sh replica up` makes of the test cluster.
struct Standby {
    /// The application role's URL on the standby, `postgres` database replaced per test.
    let readURL: String
    /// The superuser on the standby.
    let adminURL: String

    static func db(_ arguments: [String]) async throws -> Subprocess.Result {
        try await Subprocess.run(
            "/bin/bash", [CLI.repository.appendingPathComponent("deploy/db.sh").path] + arguments,
            environment: ProcessInfo.processInfo.environment)
    }

    static func up() async throws -> Standby {
        let up = try await db(["replica", "up"])
        guard up.status == 0 else { throw TestSetupError(message: "replica up failed: \(up.stderr)") }
        let env = try await db(["env"])
        var values: [String: String] = [:]
        for line in env.stdout.split(separator: "\n") where line.hasPrefix("export ") {
            let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { values[String(pair[0])] = String(pair[1]).trimmingCharacters(in: ["'"]) }
        }
        guard let read = values["GRANTLEDGER_READ_DATABASE_URL"],
            let admin = values["GRANTLEDGER_REPLICA_ADMIN_DATABASE_URL"]
        else { throw TestSetupError(message: "deploy/db.sh env printed no standby") }
        return Standby(readURL: read, adminURL: admin)
    }

    func url(for db: TestDatabase) -> String { TestDatabase.replacingDatabase(in: readURL, with: db.name) }

    /// Waits until the standby has replayed everything the primary has written so far.
    func caughtUp(with db: TestDatabase) async throws {
        let primary = try await db.admin()
        let target = try await primary.query("SELECT pg_current_wal_lsn()::text")[0].decode(String.self, 0)
        let standby = try await PostgresConnection.connect(adminURL)
        for _ in 0..<300 {
            let done = try await standby.query(
                "SELECT pg_last_wal_replay_lsn() >= \(target)::pg_lsn")[0].decode(Bool.self, 0)
            if done { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSetupError(message: "the standby did not replay to \(target)")
    }
}

@Suite("Reads from a PostgreSQL hot standby", .serialized)
struct ReplicaTests {
    @Test(
        "a standby serves the same figures, reads one's own write, stays gap-safe, and its loss is never a wrong figure"
    )
    func standby() async throws {
        let standby = try await Standby.up()
        let fixture = try await HTTPFixture.make()
        try await standby.caughtUp(with: fixture.db)

        // Gap safety on the standby: a reader there never sees past an open transaction.
        let replicaPool = ConnectionPool(conninfo: standby.url(for: fixture.db), maxConnections: 2)
        defer { replicaPool.close() }
        let replicaStore = EventStore(pool: replicaPool)
        let before = try await replicaStore.readAll(after: 0, limit: 100_000).last?.position ?? 0
        let early = try await PostgresConnection.connect(fixture.db.appURL)
        try await early.query("BEGIN")
        let held = try await early.query(
            """
            SELECT position FROM append_events(NULL, '', '{}'::jsonb,
              '[{"streamId":"slow","eventId":"\(unescaped: UUID().uuidString.lowercased())","type":"Slow","data":{},"metadata":{}}]'::jsonb)
            """)
        let slowPosition = try held[0].decode(Int64.self, 0)
        let fast = try await fixture.db.store.append([
            NewEvent(streamID: "fast", type: "Fast", data: "{}", metadata: "{}")
        ])
        #expect(fast.events[0].position == slowPosition + 1)
        try await standby.caughtUp(with: fixture.db)
        let whileOpen = try await replicaStore.readAll(after: before, limit: 100)
        #expect(!whileOpen.contains { $0.streamID == "fast" || $0.streamID == "slow" }, "\(whileOpen.map(\.streamID))")
        try await early.query("COMMIT")
        // Once replayed, both appear in order (as soon as no older transaction anywhere in the
        // cluster is still open: the gap-free read waits for those too).
        var afterCommit: [RecordedEvent] = []
        for _ in 0..<600 where afterCommit.count < 2 {
            afterCommit = try await replicaStore.readAll(after: before, limit: 100)
            if afterCommit.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(afterCommit.map(\.streamID) == ["slow", "fast"])

        // A server whose reads go to the standby.
        let server = try await LiveServer.start(
            databaseURL: fixture.db.appURL, environment: ["GRANTLEDGER_READ_DATABASE_URL": standby.url(for: fixture.db)]
        )
        defer { server.stop() }
        let viewer = "Authorization: Bearer \(fixture.tokens[.viewer] ?? "")"
        let head = try await fixture.db.committedEvents().last?.position ?? 0
        let path = "/v1/indicators/i3?from=2024-01-01&to=2026-12-31"
        // fallback=false: only a standby may answer, so a 200 is the standby's.
        var fromStandby = (status: 0, body: "")
        for _ in 0..<100 {
            fromStandby = try await server.curl(["-H", viewer, server.base + path + "&asOf=\(head)&fallback=false"])
            if fromStandby.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(fromStandby.status == 200, "\(fromStandby.body)")
        let primary = try await I3Reporter(pool: fixture.db.pool).report(
            I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!), cutOff: .position(head))
        #expect(fromStandby.body == primary.json)

        // Read one's own write: the command's position as minPosition.
        let manager = try #require(fixture.tokens[.manager])
        let posted = try await server.curl([
            "-X", "POST", "-H", "Authorization: Bearer \(manager)", "-H", "Content-Type: application/json",
            "--data-binary",
            #"{"command":"registerOrganisation","commandId":"own-write","organisationId":"OWN-WRITE","name":"Own write","country":"KZ","regionCode":"KZ-10","settlement":"rural","registrationStatus":"unregistered","leadershipGender":"women","kind":"informalGroup"}"#,
            "\(server.base)/v1/commands",
        ])
        #expect(posted.status == 201)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(posted.body.utf8)) as? [String: Any])
        let position = try #require(((answer["events"] as? [[String: Any]])?.first?["position"]) as? Int)
        // A standby that has not replayed that far within the server's wait answers 503 with
        // Retry-After (docs/operations.md); a client retries, as this one does, a bounded time.
        var own = (status: 0, body: "")
        for _ in 0..<10 {
            own = try await server.curl([
                "-i", "-H", viewer, "\(server.base)/v1/organisations/OWN-WRITE?minPosition=\(position)&fallback=false",
            ])
            if own.status != 503 { break }
            try await Task.sleep(for: .seconds(1))
        }
        #expect(own.status == 200, "\(own.body)")
        let header = own.body.split(separator: "\r\n").first { $0.lowercased().hasPrefix("grantledger-position:") }
        let standsOn = header.flatMap { Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") }
        #expect((standsOn ?? 0) >= position, "\(String(describing: header))")

        // The standby goes away: reads fall back to the primary with the same figure, or,
        // asked not to, answer 503 with Retry-After; never a wrong figure.
        let down = try await Standby.db(["replica", "down"])
        #expect(down.status == 0, "\(down.stderr)")
        // The server's next look at its standby finds it gone: reads not allowed to fall back
        // are refused from then on.
        let noticed = try await eventually {
            try await server.curl(["-H", viewer, server.base + path + "&asOf=\(head)&fallback=false"]).status == 503
        }
        #expect(noticed, "the server never noticed its standby was gone")
        let fallback = try await server.curl(["-H", viewer, server.base + path + "&asOf=\(head)"])
        #expect(fallback.status == 200)
        #expect(fallback.body == primary.json)
        let refused = try await server.curl(["-i", "-H", viewer, server.base + path + "&asOf=\(head)&fallback=false"])
        #expect(refused.status == 503)
        #expect(refused.body.lowercased().contains("retry-after: 1"))
        #expect(server.isRunning)
    }

    @Test("an erasure reaches the standby: a pg_dump of it holds the text before and not after")
    func erasureOnStandby() async throws {
        let db = try await TestDatabase.make()
        let standby = try await Standby.up()
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        let name = "Standby secret group \(UUID().uuidString.prefix(8))"
        for command in [
            """
            {"command":"registerOrganisation","organisationId":"GONE","name":"\(name)","country":"KZ",\
            "regionCode":"KZ-43","settlement":"rural","registrationStatus":"unregistered",\
            "leadershipGender":"women","kind":"informalGroup"}
            """,
            #"{"command":"erasePersonalData","organisationId":"GONE","erasedOn":"2026-12-01","reason":"asked"}"#,
        ] {
            _ = try await handler.handle(try CommandRequest.parse(command), actor: "test")
            _ = try await ProjectionRunner(pool: db.pool).sealAndCatchUp()
            try await standby.caughtUp(with: db)
            let dump = try await Subprocess.run(
                "/usr/bin/pg_dump",
                ["--dbname", TestDatabase.replacingDatabase(in: standby.adminURL, with: db.name), "--no-owner"],
                environment: ProcessInfo.processInfo.environment)
            #expect(dump.status == 0, "\(dump.stderr.prefix(500))")
            #expect(dump.stdout.contains("GONE"))
            // The read model holds the living name; once erased, nothing does, the log never did.
            #expect(dump.stdout.contains(name) == !command.contains("erasePersonalData"), "\(command.prefix(40))")
        }
        // As the other test leaves it: no standby for the tests after these.
        let down = try await Standby.db(["replica", "down"])
        #expect(down.status == 0, "\(down.stderr)")
    }
}
