import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// Runs docs/domain.md JSON commands through the real handler.
struct LedgerFixture {
    let db: TestDatabase
    let handler: CommandHandler

    static func make() async throws -> LedgerFixture {
        let db = try await TestDatabase.make()
        // The races queue up to 16 commands on one grant's or call's lock. On a loaded CI
        // machine (every suite at once on two cores) the last of them waited beyond the
        // 10 s default lock timeout; these tests are about the rules under concurrency, so
        // their commands may wait a minute.
        var settings = SessionSettings.standard
        settings.lockTimeout = "60s"
        let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 20, settings: settings)
        return LedgerFixture(
            db: db, handler: CommandHandler(pool: pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool)))
    }

    @discardableResult
    func run(_ fields: [String: Any], _ name: String, commandId: String? = nil) async throws -> CommandOutcome {
        var object = fields
        object["command"] = name
        if let commandId { object["commandId"] = commandId }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        return try await handler.handle(try CommandRequest.parse(text), actor: "tester")
    }

    /// A lead, 20 small organisations, a call (budget 2,000,000; grants 100,000-1,000,000;
    /// sub-grants up to 60,000) and a grant G1 of 500,000 with a 100,000 envelope.
    func seed() async throws {
        try await run(
            [
                "organisationId": "LEAD", "name": "Lead", "country": "KZ", "regionCode": "KZ-71", "settlement": "urban",
                "registrationStatus": "registered", "bin": "950440001673", "leadershipGender": "mixed", "kind": "ngo",
            ],
            "registerOrganisation")
        for index in 0..<20 {
            try await run(
                [
                    "organisationId": "S\(index)", "name": "Small \(index)", "country": "KZ", "regionCode": "KZ-61",
                    "settlement": "rural", "registrationStatus": "unregistered", "leadershipGender": "women",
                    "kind": "informalGroup",
                ], "registerOrganisation")
        }
        try await run(
            [
                "callId": "C1", "reference": "R", "title": "T", "programme": "CSO-LA", "publishedOn": "2025-01-01",
                "deadline": "2025-12-31", "budget": "2000000", "minGrant": "100000", "maxGrant": "1000000",
                "subGrantingAllowed": true, "maxSubGrant": "60000",
            ], "publishCall")
        try await run(
            ["consortiumId": "K0", "name": "K0", "members": [["organisationId": "LEAD", "role": "lead"]]],
            "formConsortium")
        try await run(
            [
                "applicationId": "A0", "callId": "C1", "consortiumId": "K0", "submittedOn": "2025-02-01",
                "requestedAmount": "500000",
            ], "submitApplication")
        try await run(
            [
                "grantId": "G1", "applicationId": "A0", "contractNumber": "CN-0", "awardedOn": "2025-03-01",
                "amount": "500000", "startDate": "2025-03-01", "endDate": "2026-12-31", "subGrantingEnvelope": "100000",
            ],
            "awardGrant")
    }
}

@Suite("Command handling on PostgreSQL")
struct LedgerTests {
    @Test("16 concurrent sub-grant awards never exceed the envelope, and every accepted one is recorded")
    func envelopeRace() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        // 16 × 15,000 = 240,000 asked for against an envelope of 100,000: at most 6 fit.
        let results = await withTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<16 {
                group.addTask {
                    do {
                        try await fixture.run(
                            [
                                "subGrantId": "SG\(index)", "grantId": "G1", "organisationId": "S\(index)",
                                "awardedOn": "2025-04-01", "amount": "15000", "purpose": "p",
                            ], "awardSubGrant")
                        return (index, nil)
                    } catch let error as DomainError where error.code == .ruleViolated {
                        return (index, "ruleViolated")
                    } catch {
                        return (index, "\(error)")
                    }
                }
            }
            return await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
        }
        let accepted = results.filter { $0.1 == nil }.map(\.0)
        #expect(accepted.count == 6)
        #expect(results.filter { $0.1 != nil }.allSatisfy { $0.1 == "ruleViolated" }, "\(results)")
        let recorded = try await fixture.db.committedEvents().filter { $0.type == "SubGrantAwarded" }
        #expect(Set(recorded.map { $0.streamID }) == Set(accepted.map { "subgrant-SG\($0)" }))
    }

    @Test("concurrent grant awards never exceed the call budget")
    func budgetRace() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        // 1,500,000 of the 2,000,000 budget is left; eight applications ask 400,000 each.
        for index in 1...8 {
            try await fixture.run(
                [
                    "consortiumId": "K\(index)", "name": "K\(index)",
                    "members": [["organisationId": "LEAD", "role": "lead"]],
                ],
                "formConsortium")
            try await fixture.run(
                [
                    "applicationId": "A\(index)", "callId": "C1", "consortiumId": "K\(index)",
                    "submittedOn": "2025-02-01",
                    "requestedAmount": "400000",
                ], "submitApplication")
        }
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for index in 1...8 {
                group.addTask {
                    (try? await fixture.run(
                        [
                            "grantId": "G-\(index)", "applicationId": "A\(index)", "contractNumber": "CN-\(index)",
                            "awardedOn": "2025-03-01", "amount": "400000", "startDate": "2025-03-01",
                            "endDate": "2026-12-31", "subGrantingEnvelope": "0",
                        ], "awardGrant")) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 3)
        let awards = try await fixture.db.committedEvents().filter { $0.type == "GrantAwarded" }
        #expect(awards.count == 4)
    }

    @Test("a re-sent command id returns the first result; another payload is a conflict")
    func idempotency() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        let fields: [String: Any] = ["grantId": "G1", "amount": "1000", "paidOn": "2025-03-02"]
        let first = try await fixture.run(fields, "disburseGrant", commandId: "pay-1")
        let again = try await fixture.run(fields, "disburseGrant", commandId: "pay-1")
        #expect(again.replayed)
        #expect(again.events.map(\.position) == first.events.map(\.position))
        do {
            try await fixture.run(
                ["grantId": "G1", "amount": "2000", "paidOn": "2025-03-02"], "disburseGrant", commandId: "pay-1")
            Issue.record("a reused commandId with another payload was accepted")
        } catch let error as DomainError {
            #expect(error.code == .conflict)
        }
        let tranches = try await fixture.db.store.readStream("grant-G1").filter { $0.type == "GrantTrancheDisbursed" }
        #expect(tranches.count == 1)
    }

    @Test("a rejected command records nothing")
    func rejectionWritesNothing() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        let before = try await fixture.db.committedEvents().count
        await #expect(throws: DomainError.self) {
            try await fixture.run(["grantId": "G1", "amount": "500000.01", "paidOn": "2025-03-02"], "disburseGrant")
        }
        let after = try await fixture.db.committedEvents().count
        #expect(before == after)
    }

    @Test("recorded metadata carries actor and command id")
    func metadata() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        try await fixture.run(
            ["grantId": "G1", "amount": "1", "paidOn": "2025-03-02"], "disburseGrant", commandId: "m-1")
        let last = try await fixture.db.store.readStream("grant-G1").last!
        let metadata = try JSONSerialization.jsonObject(with: Data(last.metadata.utf8)) as! [String: Any]
        #expect(metadata["actor"] as? String == "tester")
        #expect(metadata["commandId"] as? String == "m-1")
        #expect(last.data.contains("\"amount\": \"1\""))
    }

    @Test(
        "activities (docs/domain.md §12) against the real store: recorded, listed, shown, retracted; refusals record nothing"
    )
    func activities() async throws {
        let fixture = try await LedgerFixture.make()
        try await fixture.seed()
        let activity: [String: Any] = [
            "activityId": "ACT-1", "title": "Protection support", "startedOn": "2025-06-01",
            "kind": "protectionSupport",
            "organiser": "grantee", "grantId": "G1", "withGovernment": false, "themes": ["humanRights"],
            "participants": ["S1", "S2"], "regionCode": "KZ-75",
            "peopleSupported": [
                "hrd": ["women": 2, "men": 1, "undisclosed": 0], "activist": ["women": 0, "men": 0, "undisclosed": 1],
                "journalist": ["women": 0, "men": 0, "undisclosed": 0],
            ],
        ]
        let recorded = try await fixture.run(activity, "recordActivity")
        #expect(recorded.events.map(\.type) == ["ActivityRecorded"])
        #expect(recorded.events.first?.streamID == "activity-ACT-1")
        // A participant the store has never seen is refused, and nothing is recorded.
        let before = try await fixture.db.committedEvents().count
        var unknown = activity
        unknown["activityId"] = "ACT-2"
        unknown["participants"] = ["S1", "NOBODY"]
        await #expect(throws: DomainError.self) { try await fixture.run(unknown, "recordActivity") }
        #expect(try await fixture.db.committedEvents().count == before)
        // The entities read model lists and shows it under its grant (caught up to it: a
        // transaction of another suite may hold the readers' horizon back a moment).
        let runner = ProjectionRunner(pool: fixture.db.pool)
        let position = try #require(recorded.events.last?.position)
        _ = try await runner.sealAndCatchUp(reaching: position, patience: .seconds(20))
        let queries = EntityQueries(pool: fixture.db.pool)
        let listed = try await queries.list(.activity, parent: "G1")
        #expect(listed.map(\.id) == ["ACT-1"])
        func shown() async throws -> [String: Any] {
            let text = try #require(try await queries.document(.activity, id: "ACT-1"))
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        #expect(try await shown()["status"] as? String == "recorded")
        let people = (try await shown()["recorded"] as? [String: Any])?["peopleSupported"] as? [String: [String: Int]]
        #expect(people?["hrd"] == ["women": 2, "men": 1, "undisclosed": 0])
        let retraction = try await fixture.run(
            ["activityId": "ACT-1", "retractedOn": "2025-07-01", "reason": "recorded twice"], "retractActivity")
        _ = try await runner.sealAndCatchUp(
            reaching: try #require(retraction.events.last?.position), patience: .seconds(20))
        #expect(try await shown()["status"] as? String == "retracted")
        #expect(try await queries.list(.activity, status: "retracted").map(\.id) == ["ACT-1"])
        // Index values: a year recorded again is revised in its own stream.
        for value in ["37", "39.5"] {
            try await fixture.run(
                ["indexId": "civicusMonitor", "year": 2024, "value": value, "source": "CIVICUS Monitor"],
                "recordIndexValue")
        }
        let index = try await fixture.db.store.readStream("index-civicusMonitor-2024")
        #expect(index.map(\.type) == ["IndexValueRecorded", "IndexValueRecorded"])
        // docs/domain.md §13 from the CLI, folded from the log: I.4 counts the activity's
        // four people while it stands, none once it is retracted.
        let cli = CLI(databaseURL: fixture.db.appURL)
        func i4(_ extra: [String]) async throws -> [String: Any] {
            let result = try await cli.run(
                ["report", "indicator", "I.4", "--from", "2025-01-01", "--to", "2025-12-31"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            return try cli.json(result)
        }
        let whileStanding = try await i4(["--as-of", String(position)])
        #expect(whileStanding["value"] as? Int == 4)
        #expect((whileStanding["byGroup"] as? [String: Int]) == ["hrd": 3, "activist": 1, "journalist": 0])
        #expect((whileStanding["asOf"] as? [String: Any])?["position"] as? Int == Int(position))
        #expect(try await i4([])["value"] as? Int == 0)
        let behind = try await i4(["activities", "--as-of", String(position)])["activities"] as? [[String: Any]]
        #expect(behind?.map { $0["activityId"] as? String } == ["ACT-1"])
        #expect(behind?.first?["position"] as? Int == Int(position))
        // The CLI reads the sealed log, which another suite's open transaction can hold
        // back for a moment (the readers' gap-free horizon is the cluster's).
        var latest: String?
        _ = try await eventually(timeout: .seconds(30)) {
            let i5 = try await cli.run(
                ["report", "indicator", "I.5", "--from", "2025-01-01", "--to", "2025-12-31", "--format", "json"])
            let civicus = (try cli.json(i5)["indices"] as? [String: [String: Any]])?["civicusMonitor"]
            latest = (civicus?["latest"] as? [String: Any])?["value"] as? String
            return latest == "39.5"
        }
        #expect(latest == "39.5")
        // The CLI takes lists comma-separated, an empty value the empty list.
        let viaCLI = try await cli.run([
            "record-activity", "--activity-id", "ACT-CLI", "--title", "Networking school", "--started-on", "2025-09-10",
            "--kind", "networkingInitiative", "--organiser", "eu", "--with-government", "false", "--themes",
            "gender,accountability", "--participants", "", "--format", "json",
        ])
        #expect(viaCLI.status == 0, "\(viaCLI.stdout) \(viaCLI.stderr)")
        let recordedByCLI = try await fixture.db.store.readStream("activity-ACT-CLI")
        let data = try #require(
            try JSONSerialization.jsonObject(with: Data((recordedByCLI.first?.data ?? "{}").utf8)) as? [String: Any])
        #expect(Set(data["themes"] as? [String] ?? []) == ["gender", "accountability"])
        #expect((data["participants"] as? [String])?.isEmpty == true)
        let withProgramme = try await cli.run(
            ["report", "indicator", "I.5", "--from", "2025-01-01", "--to", "2025-12-31", "--programme", "CSO-LA"])
        #expect(withProgramme.status != 0)
        #expect((withProgramme.stdout + withProgramme.stderr).contains("do not apply to the indices"))
        #expect(
            try await cli.run(["report", "indicator", "IV.9", "--from", "2025-01-01", "--to", "2025-12-31"]).status
                == 64)

        // §14: I.4 signed off as the log stood while ACT-1 counted; its figures are computed
        // from the log, and the restatement names the retraction that took the four people away.
        let signed = try await cli.run([
            "sign-off-indicator-report", "--report-id", "I4-2025", "--indicator", "I.4", "--from", "2025-01-01",
            "--to", "2025-12-31", "--position", String(position), "--signed-off-on", "2026-01-20", "--format", "json",
        ])
        #expect(signed.status == 0, "\(signed.stdout) \(signed.stderr)")
        let signOffEvent = try #require(try await fixture.db.store.readStream("indicator-report-I4-2025").first)
        let signOffData = try #require(
            try JSONSerialization.jsonObject(with: Data(signOffEvent.data.utf8)) as? [String: Any])
        let figures = try #require(signOffData["figures"] as? [String: Any])
        #expect(figures["value"] as? Int == 4 && figures["measure"] as? String == "people")
        #expect(figures["period"] == nil && figures["asOf"] == nil)  // the event records them beside
        let restated = try await cli.run(["report", "restatement", "--report-id", "I4-2025"])
        #expect(restated.status == 0, "\(restated.stderr)")
        let restatement = try cli.json(restated)
        #expect((restatement["signedOff"] as? [String: Any])?["value"] as? Int == 4)
        #expect((restatement["current"] as? [String: Any])?["value"] as? Int == 0)
        let delta = restatement["delta"] as? [String: Any]
        #expect(delta?["value"] as? Int == -4)
        #expect((delta?["byGroup"] as? [String: Int])?["hrd"] == -3)
        let changes = try #require(restatement["changes"] as? [[String: Any]])
        #expect(changes.map { $0["activityId"] as? String } == ["ACT-1"])
        #expect(changes.first?["change"] as? String == "removed")
        let cause = (changes.first?["causes"] as? [[String: Any]])?.first
        #expect(cause?["type"] as? String == "ActivityRetracted")
        let table = try await cli.run(["report", "restatement", "--report-id", "I4-2025", "--format", "table"])
        #expect(table.stdout.contains("ACT-1 removed"))
        #expect(try await cli.run(["report", "restatement", "--report-id", "NO-SUCH"]).status != 0)
        // A target of I.4 against the value now, and a sign-off of I.5 for a programme refused.
        let target = try await cli.run([
            "set-indicator-target", "--target-id", "I4-T", "--indicator", "I.4", "--from", "2025-01-01", "--to",
            "2025-12-31", "--target", "8",
        ])
        #expect(target.status == 0, "\(target.stderr)")
        // The target is seen once every older transaction in the cluster has ended (the
        // gap-free horizon, docs/architecture.md): wait for it rather than assume it.
        var row: [String: Any]?
        _ = try await eventually(timeout: .seconds(60)) {
            let progress = try cli.json(try await cli.run(["report", "progress", "--indicator", "I.4"]))
            row = (progress["targets"] as? [[String: Any]])?.first
            return row != nil
        }
        #expect(row?["targetId"] as? String == "I4-T" && row?["actual"] as? Int == 0)
        #expect(row?["achieved"] as? String == "0.0000")
        let atPosition = try cli.json(
            try await cli.run(["report", "progress", "--indicator", "I.4", "--as-of", String(position + 1)]))
        #expect((atPosition["targets"] as? [[String: Any]])?.isEmpty == true)  // not yet set then
        let shares = try await cli.run([
            "set-indicator-target", "--target-id", "I4-S", "--indicator", "I.4", "--from", "2025-01-01", "--to",
            "2025-12-31", "--target", "8", "--minimum-shares", #"{"settlement":{"rural":"0.5"}}"#,
        ])
        #expect(shares.status == 10, "\(shares.stderr)")  // invalid
        #expect((shares.stdout + shares.stderr).contains("minimumShares"))
    }
}
