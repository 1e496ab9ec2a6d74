import EventStore
import Foundation
import GrantLedgerHTTP
import Testing

@testable import TestSupport

@Suite("The grantledger CLI")
struct CLITests {
    @Test("exit codes and JSON output per error class")
    func exitCodes() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL)
        let register = [
            "register-organisation", "--organisation-id", "O1", "--name", "Aral women", "--country", "KZ",
            "--region-code", "KZ-43", "--settlement", "rural", "--registration-status", "unregistered",
            "--leadership-gender", "women", "--kind", "informalGroup", "--format", "json",
        ]
        let ok = try await cli.run(register)
        #expect(ok.status == 0)
        let events = try cli.json(ok)["events"] as? [[String: Any]]
        #expect(events?.first?["type"] as? String == "OrganisationRegistered")
        #expect(events?.first?["streamId"] as? String == "organisation-O1")
        #expect(events?.first?["position"] as? Int != nil)

        let taken = try await cli.run(register)
        #expect(taken.status == 12)
        #expect((try cli.json(taken)["error"] as? [String: Any])?["code"] as? String == "alreadyExists")

        let invalid = try await cli.run(
            ["submit", "-", "--format", "json"],
            stdin: #"{"command":"closeCall","callId":"C1","closedOn":"31.12.2025"}"#)
        #expect(invalid.status == 10)
        let message = (try cli.json(invalid)["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("closedOn") && message.contains("31.12.2025"))

        let missing = try await cli.run([
            "close-call", "--call-id", "C1", "--closed-on", "2025-12-31", "--format", "json",
        ])
        #expect(missing.status == 11)

        let rule = try await cli.run(
            [
                "publish-call", "--call-id", "C1", "--reference", "R", "--title", "T", "--programme", "EIDHR",
                "--published-on", "2025-02-01", "--deadline", "2025-01-01", "--budget", "100", "--min-grant", "1",
                "--max-grant", "10", "--sub-granting-allowed", "false", "--format", "json",
            ])
        #expect(rule.status == 13)

        let usage = try await cli.run(["close-call", "--call-id"])
        #expect(usage.status == 64)
    }

    @Test("import reports bad lines with their numbers, continues, and re-imports nothing")
    func importFile() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL)
        let lines = [
            #"{"command":"registerOrganisation","commandId":"i-1","organisationId":"A","name":"A","country":"DE","registrationStatus":"registered","leadershipGender":"men","kind":"ingo"}"#,
            #"{"command":"registerOrganisation","commandId":"i-2","organisationId":"B","name":"B","country":"KZ","regionCode":"KZ-10","settlement":"rural""#,
            "",
            #"{"command":"registerOrganisation","commandId":"i-3","organisationId":"C","name":"C","country":"KZ","regionCode":"KZ-10","settlement":"rural","registrationStatus":"unregistered","leadershipGender":"women","kind":"informalGroup"}"#,
            #"{"command":"closeCall","commandId":"i-4","callId":"NOPE","closedOn":"2025-01-01"}"#,
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let first = try await cli.run(["import", file.path, "--format", "json"])
        let summary = try cli.json(first)
        #expect(summary["accepted"] as? Int == 2)
        #expect(summary["rejected"] as? Int == 2)
        let rejections = summary["rejections"] as? [[String: Any]] ?? []
        #expect(rejections.map { $0["line"] as? Int } == [2, 5])
        #expect(first.status == 10)

        let again = try await cli.run(["import", file.path, "--format", "json"])
        let second = try cli.json(again)
        #expect(second["accepted"] as? Int == 0)
        #expect(second["alreadyApplied"] as? Int == 2)
        #expect(try await db.committedEvents().count == 2)

        let stopped = try await cli.run(["import", file.path, "--stop-on-error"])
        #expect(stopped.stderr.contains("line 2:"))
        #expect(!stopped.stderr.contains("line 5:"))
    }

    @Test("the sample programme imports without a rejection")
    func sampleProgramme() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL, migrationURL: db.ownerURL)
        let sample = CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl").path
        let result = try await cli.run(["import", sample, "--format", "json"])
        let summary = try cli.json(result)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(summary["rejected"] as? Int == 0)
        #expect((summary["accepted"] as? Int ?? 0) >= 300)
        let verify = try await cli.run(["audit", "verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains("verified head:"))
    }
}

@Suite("The grantledger CLI: reports, projections, tokens")
struct CLIReportTests {
    @Test("report i3 in JSON, CSV and table; projections status; token create and revoke")
    func reportsAndTokens() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL, migrationURL: db.ownerURL)
        let sample = CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl").path
        #expect(try await cli.run(["import", sample]).status == 0)
        let last = try await db.committedEvents().last?.position ?? 0
        _ = try await db.readAll(after: last - 1, count: 1)

        let json = try cli.json(try await cli.run(["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31"]))
        let total = try #require(json["total"] as? Int)
        #expect(total > 0)
        let csv = try await cli.run(["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--format", "csv"])
        #expect(csv.stdout.contains("\n\"Total\",\"\",\"\",\"\",\"\",\"\",\"\",\(total)\n"))
        let table = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--format", "table",
        ])
        #expect(table.stdout.contains("TOTAL organisations: \(total)"))
        let early = try cli.json(
            try await cli.run(["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--as-of", "5"]))
        #expect(early["total"] as? Int == 0)
        let beyond = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--as-of", "999999",
        ])
        // The log has no such position: notFound (11), as over HTTP (404).
        #expect(beyond.status == 11 && (beyond.stdout + beyond.stderr).contains("beyond"), "\(beyond.stdout)")
        #expect(try await cli.run(["report", "i3", "--from", "2024-13-01", "--to", "2026-12-31"]).status == 64)

        // The organisations behind the figure: as many rows as the total, in each format.
        let period = ["--from", "2024-01-01", "--to", "2026-12-31"]
        let listed = try cli.json(try await cli.run(["report", "i3", "organisations"] + period))
        #expect((listed["organisations"] as? [[String: Any]])?.count == total)
        let listedCSV = try await cli.run(["report", "i3", "organisations"] + period + ["--format", "csv", "--bom"])
        #expect(listedCSV.stdout.hasPrefix("\u{FEFF}\"organisationId\",\"name\","))
        #expect(listedCSV.stdout.split(separator: "\n").count == total + 1)
        let listedTable = try await cli.run(["report", "i3", "organisations"] + period + ["--format", "table"])
        #expect(listedTable.stdout.hasSuffix("\(total) organisations\n"))
        let women = try cli.json(
            try await cli.run(["report", "i3", "organisations"] + period + ["--leadership-gender", "women"]))
        #expect(
            (women["organisations"] as? [[String: Any]])?.count
                == (json["byLeadershipGender"] as? [String: Any])?["women"] as? Int)
        #expect(
            try await cli.run(["report", "i3", "organisations"] + period + ["--region-code", "KZ-99"]).status == 64)

        let status = try await cli.run(["projections", "status", "--format", "json"])
        let statuses = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(Set(statuses.compactMap { $0["name"] as? String }) == ["entities", "i3"])
        #expect(statuses.allSatisfy { $0["lag"] as? Int == 0 })

        let created = try await cli.run(["token", "create", "--role", "auditor", "--name", "cli-auditor"])
        #expect(created.status == 0)
        #expect(created.stdout.hasPrefix("glt_"))
        #expect(try await cli.run(["token", "create", "--role", "auditor", "--name", "cli-auditor"]).status == 12)
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let store = TokenStore(pool: db.pool)
        #expect(try await store.identify(secret: secret)?.role == .auditor)
        #expect(try await cli.run(["token", "revoke", "cli-auditor"]).status == 0)
        #expect(try await store.identify(secret: secret) == nil)
        #expect(try await cli.run(["token", "revoke", "cli-auditor"]).status == 11)

        // The pseudonym key (docs/domain.md §15): made with mode 600, never overwritten, and
        // refused by serve when others may read it.
        let keyPath = FileManager.default.temporaryDirectory.appendingPathComponent("pseudonym-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        #expect(try await cli.run(["keygen", "pseudonym", "--out", keyPath]).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o600)
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8).trimmingCharacters(in: .newlines).count == 64)
        #expect(try await cli.run(["keygen", "pseudonym", "--out", keyPath]).status == 12)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        let refused = try await cli.run(["serve", "--port", "1", "--pseudonym-key", keyPath])
        #expect(refused.status != 0 && refused.stderr.contains("chmod 600"), "\(refused.stderr)")

        // A grantee token is bound to one registered organisation; no other token names one.
        let grantee = try await cli.run([
            "token", "create", "--role", "grantee", "--name", "cli-grantee", "--organisation", "INGO-DE-FES",
        ])
        #expect(grantee.status == 0, "\(grantee.stderr)")
        let granteeIdentity = try await store.identify(
            secret: grantee.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(granteeIdentity?.role == .grantee && granteeIdentity?.organisationId == "INGO-DE-FES")
        #expect(try await cli.run(["token", "create", "--role", "grantee", "--name", "g2"]).status == 64)
        #expect(
            try await cli.run(["token", "create", "--role", "viewer", "--name", "v2", "--organisation", "INGO-DE-FES"])
                .status == 64)
        let unknown = try await cli.run([
            "token", "create", "--role", "grantee", "--name", "g3", "--organisation", "NO-SUCH-ORG",
        ])
        #expect(unknown.status == 11 && unknown.stderr.contains("not registered"))
        // The table refuses a grantee row without its organisation even from the owner.
        let owner = try await db.owner()
        await #expect(throws: (any Error).self) {
            try await owner.query(
                "INSERT INTO api_tokens (name, role, token_hash) VALUES ('g4', 'grantee', '\\x00'::bytea)")
        }
    }

    @Test(
        "report i3 --server: the running server's answer, byte for byte the database's; refusals exit as the CLI does")
    func reportFromServer() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let cli = CLI(databaseURL: db.appURL, migrationURL: db.ownerURL)
        let created = try await cli.run(["token", "create", "--role", "viewer", "--name", "cli-viewer"])
        #expect(created.status == 0, "\(created.stderr)")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenFile = folder.appendingPathComponent("token").path
        #expect(FileManager.default.createFile(atPath: tokenFile, contents: Data(created.stdout.utf8)))
        chmod(tokenFile, 0o600)
        let server = try await LiveServer.start(databaseURL: db.appURL)
        defer { server.stop() }
        let ask = ["--server", server.base, "--token-file", tokenFile]
        let head = try #require(try await db.committedEvents().last?.position)
        let period = ["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31"]
        // The server's head follows the log within moments; a pinned cut-off never moves.
        #expect(
            try await eventually {
                let a = try await cli.run(period)
                let b = try await cli.run(period + ask)
                return b.status == 0 && a.stdout == b.stdout
            })
        let asOfTime = try #require(try await db.readAll(after: head - 1, count: 1).first?.recordedAt)
        for extra in [
            ["--as-of", String(head)], ["--as-of", String(head / 2)], ["--as-of", asOfTime.rfc3339],
            ["--programme", "CSO-LA", "--as-of", String(head)], ["--call", "CSOLA-2024", "--as-of", String(head)],
            ["--programme", "A&B=C ü %20+x", "--as-of", String(head)],
            ["--format", "csv", "--as-of", String(head)], ["--format", "csv", "--bom", "--as-of", String(head)],
        ] {
            let local = try await cli.run(period + extra)
            let remote = try await cli.run(period + extra + ask)
            #expect(local.status == 0 && remote.status == 0, "\(extra): \(remote.stderr)")
            #expect(!local.stdout.isEmpty && local.stdout == remote.stdout, "\(extra)")
        }
        // Refusals keep the CLI's exit codes: a cut-off beyond the head, an unknown token, a
        // format only the database makes, an address that is not http, a token file others may
        // read, a server that is gone.
        let beyond = try await cli.run(period + ["--as-of", String(head + 1000)] + ask)
        #expect(beyond.status == 11 && beyond.stderr.contains("beyond"), "\(beyond.stderr)")
        #expect(try await cli.run(period + ["--format", "table"] + ask).status == 64)
        #expect(try await cli.run(period + ["--server", "ftp://127.0.0.1:1", "--token-file", tokenFile]).status == 64)
        chmod(tokenFile, 0o644)
        let exposed = try await cli.run(period + ask)
        #expect(exposed.status == 64 && exposed.stderr.contains("chmod 600"), "\(exposed.stderr)")
        chmod(tokenFile, 0o600)
        let wrongFile = folder.appendingPathComponent("wrong").path
        #expect(FileManager.default.createFile(atPath: wrongFile, contents: Data("glt_not-a-token\n".utf8)))
        chmod(wrongFile, 0o600)
        let wrong = try await cli.run(period + ["--server", server.base, "--token-file", wrongFile])
        #expect(wrong.status == 10 && wrong.stderr.contains("refused the token"), "\(wrong.stderr)")
        server.stop()
        let gone = try await cli.run(period + ask)
        #expect(gone.status == 20 && gone.stderr.contains("did not answer"), "\(gone.stderr)")
    }
}
