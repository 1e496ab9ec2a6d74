import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Synchronization
import Testing

@testable import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A small programme with one grant whose sub-granting envelope (100,000) takes exactly six
/// sub-grants of 15,000: what concurrent writers race on.
enum EnvelopeScenario {
    static let setup = [
        #"{"command":"registerOrganisation","commandId":"op-1","organisationId":"LEAD","name":"Lead INGO","country":"DE","registrationStatus":"registered","leadershipGender":"women","kind":"ingo","annualBudgetEur":"9000000","staffCount":400}"#,
        #"{"command":"registerOrganisation","commandId":"op-2","organisationId":"CSO","name":"Village group","country":"KZ","regionCode":"KZ-43","settlement":"rural","registrationStatus":"unregistered","leadershipGender":"women","kind":"informalGroup"}"#,
        #"{"command":"publishCall","commandId":"op-3","callId":"CALL","reference":"EuropeAid/1/DD/ACT/KZ","title":"Call","programme":"CSO-LA","publishedOn":"2025-01-01","deadline":"2025-03-01","budget":"1000000","minGrant":"100000","maxGrant":"500000","subGrantingAllowed":true,"maxSubGrant":"60000"}"#,
        #"{"command":"formConsortium","commandId":"op-4","consortiumId":"K","name":"K","members":[{"organisationId":"LEAD","role":"lead"}]}"#,
        #"{"command":"submitApplication","commandId":"op-5","applicationId":"A","callId":"CALL","consortiumId":"K","submittedOn":"2025-02-01","requestedAmount":"300000"}"#,
        #"{"command":"awardGrant","commandId":"op-6","grantId":"G","applicationId":"A","contractNumber":"CN-1","awardedOn":"2025-04-01","amount":"300000","startDate":"2025-04-01","endDate":"2026-12-31","subGrantingEnvelope":"100000"}"#,
    ]

    static func subGrant(_ index: Int, prefix: String) -> String {
        #"{"command":"awardSubGrant","commandId":"\#(prefix)-\#(index)","subGrantId":"\#(prefix)-\#(index)","grantId":"G","organisationId":"CSO","awardedOn":"2025-05-01","amount":"15000","purpose":"Training"}"#
    }

    static func make() async throws -> HTTPFixture {
        let fixture = try await HTTPFixture.make(sample: false)
        let handler = CommandHandler(
            pool: fixture.db.pool, signOffFigures: LogFigures.signOffProvider(pool: fixture.db.pool))
        for line in setup { _ = try await handler.handle(try CommandRequest.parse(line), actor: "setup") }
        return fixture
    }
}

extension LiveServer {
    /// POSTs a command as the manager; the HTTP status.
    func post(_ command: String, token: String) async throws -> Int {
        try await curl([
            "-X", "POST", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
            "--data-binary", command, "\(base)/v1/commands",
        ]).status
    }
}

/// Prometheus text format: the value of one sample, by its name and labels as written.
func sample(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
    }
    return nil
}

@Suite("Operations: several instances, metrics, logs, systemd")
struct OperationsTests {
    @Test("two instances on one database: racing sub-grants, exactly the ones that fit; the same I.3")
    func twoInstances() async throws {
        let fixture = try await EnvelopeScenario.make()
        let a = try await LiveServer.start(databaseURL: fixture.db.appURL)
        defer { a.stop() }
        let b = try await LiveServer.start(databaseURL: fixture.db.appURL)
        defer { b.stop() }
        let manager = try #require(fixture.tokens[.manager])
        // Twenty sub-grants of 15,000 against an envelope of 100,000, sent to both at once.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                let server = index % 2 == 0 ? a : b
                group.addTask {
                    try await server.post(EnvelopeScenario.subGrant(index, prefix: "race"), token: manager)
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 201 }.count == 6, "\(statuses.sorted())")
        #expect(statuses.filter { $0 == 422 }.count == 14, "\(statuses.sorted())")
        let awarded = try await fixture.db.committedEvents().filter { $0.type == "SubGrantAwarded" }
        #expect(awarded.count == 6)
        // Both instances answer the same figure at the same point of the log.
        let head = try await fixture.db.committedEvents().last?.position ?? 0
        _ = try await fixture.db.readAll(after: head - 1, count: 1)
        let viewer = "Authorization: Bearer \(fixture.tokens[.viewer] ?? "")"
        let path = "/v1/indicators/i3?from=2025-01-01&to=2025-12-31&asOf=\(head)"
        var answers: [String] = []
        for server in [a, b] {
            var answer = (status: 0, body: "")
            // An instance answers a cut-off beyond its read model by catching up first.
            for _ in 0..<50 {
                answer = try await server.curl(["-H", viewer, server.base + path])
                if answer.status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(answer.status == 200)
            answers.append(answer.body)
        }
        #expect(answers[0] == answers[1])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(answers[0].utf8)) as? [String: Any])
        #expect(report["total"] as? Int == 1)
        #expect((report["asOf"] as? [String: Any])?["position"] as? Int == Int(head))
    }

    @Test("kill -9 one instance mid-load: every acknowledged command is in the log once; the other serves on")
    func killOne() async throws {
        let fixture = try await EnvelopeScenario.make()
        let a = try await LiveServer.start(databaseURL: fixture.db.appURL)
        let b = try await LiveServer.start(databaseURL: fixture.db.appURL)
        defer { b.stop() }
        let manager = try #require(fixture.tokens[.manager])
        func organisation(_ id: String) -> String {
            #"{"command":"registerOrganisation","commandId":"\#(id)","organisationId":"\#(id)","name":"Group \#(id)","country":"KZ","regionCode":"KZ-10","settlement":"rural","registrationStatus":"unregistered","leadershipGender":"mixed","kind":"informalGroup"}"#
        }
        // The kill comes once 20 commands are acknowledged, whatever the machine's speed, with
        // four writers still sending (up to 600 commands in all).
        let answered = AnswerCount()
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<4 {
                group.addTask {
                    var ok: [String] = []
                    for index in 0..<150 {
                        let id = "K\(writer)-\(index)"
                        if try await a.post(organisation(id), token: manager) == 201 {
                            ok.append(id)
                            answered.count.withLock { $0 += 1 }
                        }
                    }
                    return ok
                }
            }
            group.addTask {
                while answered.count.withLock({ $0 }) < 20 { try await Task.sleep(for: .milliseconds(5)) }
                kill(a.pid, SIGKILL)
                return []
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(!a.isRunning)
        #expect(acknowledged.count >= 20)
        #expect(acknowledged.count < 600, "the kill came after every command was answered")
        let streams = try await fixture.db.committedEvents().map(\.streamID)
        for id in acknowledged {
            #expect(streams.filter { $0 == "organisation-\(id)" }.count == 1, "\(id)")
        }
        // The other instance serves, reads and writes.
        #expect(try await b.curl(["\(b.base)/readyz"]).status == 200)
        #expect(try await b.post(organisation("after-kill"), token: manager) == 201)
        // Read one's own write: minPosition, the log's head now.
        let head = try await fixture.db.committedEvents().last?.position ?? 0
        // Under load the readers' horizon can lag: the server then answers 503 with
        // Retry-After, never a 404 that forgets the write.
        var statuses: [Int] = []
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let listed = try await b.curl([
                    "-H", "Authorization: Bearer \(fixture.tokens[.viewer] ?? "")",
                    "\(b.base)/v1/organisations/after-kill?minPosition=\(head)",
                ])
                statuses.append(listed.status)
                return listed.status == 200
            })
        #expect(Set(statuses).isSubset(of: [200, 503]), "\(statuses)")
    }

    @Test("/metrics: Prometheus text for auditors; command counters move by exactly the commands sent")
    func metrics() async throws {
        let fixture = try await EnvelopeScenario.make()
        let server = try await LiveServer.start(databaseURL: fixture.db.appURL, metricsPort: true)
        let metricsPort = try #require(server.metricsPort)
        defer { server.stop() }
        let manager = try #require(fixture.tokens[.manager])
        let auditor = "Authorization: Bearer \(fixture.tokens[.auditor] ?? "")"
        #expect(try await server.curl(["\(server.base)/metrics"]).status == 401)
        #expect(
            try await server.curl(["-H", "Authorization: Bearer \(manager)", "\(server.base)/metrics"]).status == 403)
        let before = try await server.curl(["-H", auditor, "\(server.base)/metrics"])
        #expect(before.status == 200)
        let accepted = #"grantledger_commands_total{outcome="accepted",code="ok"}"#
        let refusedRule = #"grantledger_commands_total{outcome="rejected",code="ruleViolated"}"#
        let refusedInput = #"grantledger_commands_total{outcome="rejected",code="invalid"}"#
        let replayed = #"grantledger_commands_total{outcome="replayed",code="ok"}"#
        // Six accepted (the envelope is full then), one replay, one malformed, one refused by a rule.
        for index in 0..<6 {
            #expect(try await server.post(EnvelopeScenario.subGrant(index, prefix: "m"), token: manager) == 201)
        }
        #expect(try await server.post(EnvelopeScenario.subGrant(0, prefix: "m"), token: manager) == 200)
        #expect(try await server.post(#"{"command":"closeGrant","commandId":"x"}"#, token: manager) == 400)
        #expect(
            try await server.post(
                EnvelopeScenario.subGrant(7, prefix: "m").replacingOccurrences(of: "15000", with: "60000"),
                token: manager) == 422)
        // The I.3 cache: a miss, then a hit. Its key is the query and the cut-off, which moves
        // while the commands above are sealed and projected: ask until two answers in a row
        // stand on the same position (the second is then a hit).
        let viewer = "Authorization: Bearer \(fixture.tokens[.viewer] ?? "")"
        var positions: [Int] = []
        while positions.count < 50, positions.count < 2 || positions.suffix(2).first != positions.last {
            let answer = try await server.curl(
                ["-H", viewer, "\(server.base)/v1/indicators/i3?from=2025-01-01&to=2025-12-31"])
            let report = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            positions.append(try #require((report?["asOf"] as? [String: Any])?["position"] as? Int))
        }
        #expect(positions.suffix(2).first == positions.last, "\(positions)")
        // The counters move as the answers go out; wait until the last one is counted.
        var after = try await server.curl(["-H", auditor, "\(server.base)/metrics"])
        func delta(_ series: String) -> Double {
            (sample(after.body, series) ?? 0) - (sample(before.body, series) ?? 0)
        }
        _ = try await eventually {
            after = try await server.curl(["-H", auditor, "\(server.base)/metrics"])
            return delta(accepted) >= 6 && delta(replayed) >= 1 && delta(refusedInput) >= 1 && delta(refusedRule) >= 1
        }
        #expect(delta(accepted) == 6)
        #expect(delta(replayed) == 1)
        #expect(delta(refusedInput) == 1)
        #expect(delta(refusedRule) == 1)
        // Every line is a comment or a sample: a name, optional labels, a number.
        let line = try Regex(#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (\S+)$"#)
        for text in after.body.split(separator: "\n") where !text.hasPrefix("#") {
            let match = String(text).wholeMatch(of: line)
            #expect(match != nil, "\(text)")
            if let value = (match?.output[2].substring).map(String.init) { #expect(Double(value) != nil, "\(text)") }
        }
        for name in [
            "grantledger_command_append_duration_seconds_bucket", "hb_requests", "http_server_request_duration_bucket",
            "grantledger_projection_lag_events", "grantledger_projection_lag_seconds", "grantledger_unsealed_events",
            "grantledger_pool_connections_in_use", "grantledger_pool_waiting", "grantledger_i3_cache_hit_ratio",
            "grantledger_command_memory_position", "grantledger_command_decisions",
        ] {
            #expect(after.body.contains("\n" + name), "\(name)")
        }
        #expect(delta(#"grantledger_i3_cache_requests_total{result="hit"}"#) >= 1)
        // The loopback port needs no token.
        let open = try await server.curl(["http://127.0.0.1:\(metricsPort)/metrics"])
        #expect(open.status == 200)
        #expect(open.body.contains("grantledger_commands_total"))
    }

    @Test("--log-format json: one JSON object per line with request id, route, status, duration and actor")
    func jsonLogs() async throws {
        let fixture = try await HTTPFixture.make(sample: false)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("gl-log-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try await LiveServer.start(
            databaseURL: fixture.db.appURL, arguments: ["--log-format", "json", "--log-level", "info"],
            stderr: log.path)
        let viewer = try #require(fixture.tokens[.viewer])
        let answer = try await server.curl([
            "-H", "Authorization: Bearer \(viewer)", "\(server.base)/v1/indicators/i3?from=2025-01-01&to=2025-12-31",
        ])
        #expect(answer.status == 200)
        #expect(try await server.curl(["\(server.base)/v1/organisations"]).status == 401)
        server.stop()
        let text = try String(contentsOf: log, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 2)
        var requests: [[String: Any]] = []
        for line in lines {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(object["time"] is String && object["level"] is String && object["message"] is String)
            if object["message"] as? String == "request" { requests.append(object) }
        }
        let report = try #require(requests.first { $0["route"] as? String == "/v1/indicators/i3" })
        #expect(report["status"] as? Int == 200)
        #expect((report["duration_ms"] as? Double) != nil)
        #expect(report["actor"] as? String == "t-viewer")
        #expect((report["request_id"] as? String)?.isEmpty == false)
        #expect(requests.contains { $0["status"] as? Int == 401 && $0["actor"] == nil })
        // Secrets never reach the log.
        #expect(!text.contains(viewer))
    }

    @Test("the systemd units pass systemd-analyze verify, hardened, with every flag the server knows")
    func systemdUnits() async throws {
        let units = CLI.repository.appendingPathComponent("deploy/systemd")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gl-root-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let manager = FileManager.default
        // An alternate root with systemd's own units, the binary where the units expect it,
        // and the environment file and key they name.
        for folder in [
            "etc/systemd/system", "usr/local/bin", "usr/lib/systemd", "etc/grantledger", "etc/grantledger-witness",
        ] {
            try manager.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try manager.copyItem(
            atPath: "/usr/lib/systemd/system", toPath: root.appendingPathComponent("usr/lib/systemd/system").path)
        try manager.copyItem(at: CLI.executable, to: root.appendingPathComponent("usr/local/bin/grantledger"))
        for file in ["grantledger.env", "migrate.env", "log.key"] {
            manager.createFile(atPath: root.appendingPathComponent("etc/grantledger/\(file)").path, contents: Data())
        }
        for file in ["witness.key", "log.vkey"] {
            manager.createFile(
                atPath: root.appendingPathComponent("etc/grantledger-witness/\(file)").path, contents: Data())
        }
        var contents: [String: String] = [:]
        for unit in ["grantledger.service", "grantledger-migrate.service", "grantledger-witness.service"] {
            try manager.copyItem(
                at: units.appendingPathComponent(unit), to: root.appendingPathComponent("etc/systemd/system/\(unit)"))
            contents[unit] = try String(contentsOf: units.appendingPathComponent(unit), encoding: .utf8)
        }
        let verify = try await Subprocess.run(
            "/usr/bin/systemd-analyze",
            [
                "verify", "--root=\(root.path)", "/etc/systemd/system/grantledger.service",
                "/etc/systemd/system/grantledger-migrate.service", "/etc/systemd/system/grantledger-witness.service",
            ], environment: ProcessInfo.processInfo.environment)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(!verify.stderr.contains("grantledger"), "\(verify.stderr)")
        let service = try #require(contents["grantledger.service"])
        for directive in [
            "User=grantledger", "EnvironmentFile=/etc/grantledger/grantledger.env", "NoNewPrivileges=yes",
            "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
            "RestrictAddressFamilies=", "SystemCallFilter=@system-service", "Restart=on-failure",
            "Requires=grantledger-migrate.service",
        ] {
            #expect(service.contains(directive), "\(directive)")
        }
        // The server never holds the migration role's password: its unit loads only its own
        // environment file, cannot see the migration one, and that file's example is the
        // only place the migration URL appears.
        let environmentFiles = service.split(separator: "\n").filter { $0.hasPrefix("EnvironmentFile=") }
        #expect(environmentFiles == ["EnvironmentFile=/etc/grantledger/grantledger.env"])
        #expect(service.contains("InaccessiblePaths=-/etc/grantledger/migrate.env"))
        let migrate = try #require(contents["grantledger-migrate.service"])
        #expect(
            migrate.split(separator: "\n").filter { $0.hasPrefix("EnvironmentFile=") } == [
                "EnvironmentFile=/etc/grantledger/migrate.env"
            ])
        #expect(migrate.contains("DynamicUser=yes") && !migrate.contains("User=grantledger\n"))
        let serverEnvironment = try String(
            contentsOf: units.appendingPathComponent("grantledger.env.example"), encoding: .utf8)
        let migrateEnvironment = try String(
            contentsOf: units.appendingPathComponent("migrate.env.example"), encoding: .utf8)
        func settings(_ text: String) -> [String] {
            text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "=" }) }
        }
        #expect(settings(serverEnvironment) == ["GRANTLEDGER_DATABASE_URL"])
        #expect(settings(migrateEnvironment) == ["GRANTLEDGER_MIGRATION_DATABASE_URL"])
        // Stopping waits longer than a drain can take (the pool's 5 s wait and a request).
        let stop = service.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }
        #expect((stop.flatMap { Int($0.dropFirst("TimeoutStopSec=".count)) } ?? 0) > 30)
        #expect(try #require(contents["grantledger-migrate.service"]).contains("Type=oneshot"))
        // Every option the unit passes is one `grantledger serve` knows.
        let help = try await CLI(databaseURL: "").run(["serve", "--help"])
        let execStart = try #require(service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        for option in execStart.split(separator: " ") where option.hasPrefix("--") {
            #expect(help.stdout.contains(String(option)), "\(option)")
        }
        // The witness: its own dynamic user, a private state directory, the key as a
        // credential, no database settings at all, and only options `witness serve` knows.
        let witness = try #require(contents["grantledger-witness.service"])
        for directive in [
            "DynamicUser=yes", "StateDirectory=grantledger-witness", "StateDirectoryMode=0700",
            "LoadCredential=witness.key:", "NoNewPrivileges=yes", "ProtectSystem=strict",
        ] {
            #expect(witness.contains(directive), "\(directive)")
        }
        #expect(!witness.contains("EnvironmentFile=") && !witness.contains("DATABASE"))
        let witnessHelp = try await CLI(databaseURL: "").run(["witness", "serve", "--help"])
        let witnessStart = try #require(witness.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        for option in witnessStart.split(separator: " ") where option.hasPrefix("--") {
            #expect(witnessHelp.stdout.contains(String(option)), "\(option)")
        }
    }
}

/// Commands answered so far, shared by the writers and the task that waits for them.
final class AnswerCount: Sendable {
    let count = Mutex(0)
}
