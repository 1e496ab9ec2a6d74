import EventStore
import Exports
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// The application role writes the read models; every figure that leaves the system as a
/// fact must still be the log's (docs/domain.md §14), and every forged row must be named.
@Suite("Figures as trustworthy as the log")
struct ReadModelTrustTests {
    /// The log's own I.3 at `position`, folded here from every committed event.
    static func logFigures(_ db: TestDatabase, _ query: I3Query, at position: Int64) async throws -> I3Figures {
        let events = try await db.readAll(after: 0, count: Int(position)).filter { $0.position <= position }
        var fold = I3Fold()
        for event in events {
            if let decoded = try DomainEvent.decode(type: event.type, data: event.data) {
                fold.apply(decoded, at: event.position)
            }
        }
        return fold.figures(query)
    }

    static let period = I3Query(
        from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!, programme: nil, callId: nil)

    @Test("rows forged in the read models change no sign-off, restatement or export, and are named by the check")
    func forgedRows() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let runner = ProjectionRunner(pool: db.pool)
        let head = try await runner.sealAndCatchUp()
        let clean = try await ReadModelCheck.run(pool: db.pool)
        #expect(clean.map(\.readModel) == ["entities", "i3"])
        #expect(clean.allSatisfy { $0.ok }, "\(clean)")
        #expect(clean.allSatisfy { $0.rows > 0 && $0.position == head.position })

        // The attack: 40 small Kazakh organisations that never received anything, a forged
        // entity, an altered one, a deleted access, a forged sign-off record.
        let app = try await PostgresConnection.connect(db.appURL)
        try await app.query(
            """
            INSERT INTO rm_i3.accesses (position, organisation_id, channel, access_date, call_id, programme,
                country, small, leadership_gender, region_code, settlement, registration_status, name)
            SELECT 1, 'FORGED-' || g, 'subGrant', '2025-06-01', 'CALL-2025-01', 'P', 'KZ', true, 'women',
                   'KZ-43', 'rural', 'unregistered', 'Forged'
            FROM generate_series(1, 40) g
            """)
        try await app.query(
            """
            INSERT INTO rm_entities.entities (kind, id, parent, status, doc)
            VALUES ('grant', 'GR-FORGED', NULL, 'active', '{"grantId": "GR-FORGED"}')
            """)
        try await app.query(
            "UPDATE rm_entities.entities SET doc = jsonb_set(doc, '{amount}', '\"1\"') WHERE kind = 'grant' AND id = 'GR-01'"
        )
        let deleted = try await app.query(
            "DELETE FROM rm_i3.accesses WHERE organisation_id = (SELECT min(organisation_id) FROM rm_i3.accesses WHERE organisation_id NOT LIKE 'FORGED-%') RETURNING organisation_id"
        )
        let deletedOrganisation = try deleted[0].decode(String.self, 0)

        // A sign-off records the log's figures, not the read model's.
        let truth = try await Self.logFigures(db, Self.period, at: head.position)
        let forged = try await I3Reporter(pool: db.pool).report(Self.period, cutOff: .position(head.position))
        #expect(forged.figures.total != truth.total, "the forgery shows in the read model's figure")
        let outcome = try await IndicatorReportTests.run(
            [
                "reportId": "FORGERY-CHECK", "indicator": "I.3", "from": "2024-01-01", "to": "2026-12-31",
                "position": head.position, "signedOffOn": "2026-01-20",
            ], "signOffIndicatorReport", on: db)
        let recorded = try await db.store.readStream("indicator-report-FORGERY-CHECK")
        guard
            case .indicatorReportSignedOff(let signOff)? = try DomainEvent.decode(
                type: recorded[0].type, data: recorded[0].data)
        else {
            Issue.record("no sign-off event: \(outcome.events)")
            return
        }
        #expect(signOff.extras.figures.value == Int64(truth.total))
        #expect(signOff.extras.figures.i3 == truth)

        // A forged sign-off record in the read model: the restatement starts from the log's.
        let signOffPosition = try #require(outcome.events.last?.position)
        _ = try await db.readAll(after: signOffPosition - 1, count: 1)
        while try await runner.sealAndCatchUp().position < signOffPosition {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await app.query(
            "UPDATE rm_i3.sign_offs SET doc = jsonb_set(doc, '{figures,total}', '999') WHERE report_id = 'FORGERY-CHECK'"
        )
        let restatement = try await I3Reporter(pool: db.pool).restatement("FORGERY-CHECK")
        #expect(restatement.signedOff.total == truth.total)

        // The results framework: I.3's value, its latest sign-off and its targets' actuals
        // are the log's, whatever the read model says.
        let framework = try await FrameworkReport.make(
            IndicatorQuery(from: Self.period.from, to: Self.period.to), cutOff: .head, pool: db.pool)
        let i3Entry = try #require(framework.indicators.first { $0.indicator == "I.3" })
        let atHead = try await Self.logFigures(db, Self.period, at: framework.asOf.position)
        #expect(i3Entry.value == Int64(atHead.total))
        #expect(i3Entry.latestSignOff?.reportId == "FORGERY-CHECK")
        #expect(i3Entry.latestSignOff?.value == Int64(truth.total))
        for target in i3Entry.targets {
            let figures = try await Self.logFigures(
                db, I3Query(from: target.period.from, to: target.period.to, programme: target.programme),
                at: framework.asOf.position)
            #expect(target.actual == figures.total, "\(target.targetId)")
        }

        // The export's I.3 comes from the exported events.
        let (ledger, asOf) = try await ExportRun.ledger(pool: db.pool, cutOff: .position(head.position))
        let i3 = ExportRun.i3(ledger)
        let call = try #require(ledger.grants.first?.award.callId)
        let exported = try await i3(call, 2025)
        let query = I3Query(from: BusinessDate("2025-01-01")!, to: BusinessDate("2025-12-31")!, callId: call)
        #expect(exported == (try await Self.logFigures(db, query, at: asOf.position)))

        // The check names every forged, altered and deleted row.
        let checks = try await ReadModelCheck.run(pool: db.pool, limit: 1000)
        let named = Set(
            checks.flatMap { check in check.differences.map { "\(check.readModel).\($0.table) \($0.key) \($0.problem)" }
            })
        #expect(named.contains("entities.entities kind=grant, id=GR-FORGED extra"), "\(named)")
        #expect(named.contains("entities.entities kind=grant, id=GR-01 differs"), "\(named)")
        #expect(
            named.contains {
                $0.hasPrefix("i3.accesses position=1, organisation_id=FORGED-17,") && $0.hasSuffix("extra")
            })
        #expect(named.contains { $0.contains("organisation_id=\(deletedOrganisation),") && $0.hasSuffix("missing") })
        #expect(named.contains("i3.sign_offs report_id=FORGERY-CHECK differs"), "\(named)")
        #expect(checks.first { $0.readModel == "i3" }?.differing == 40 + deleted.count + 1)

        // And the CLI says so, with exit 21.
        let cli = CLI(databaseURL: db.appURL)
        let result = try await cli.run(["audit", "verify", "--read-models"])
        #expect(result.status == 21)
        #expect(result.stdout.contains("READ MODEL DIFFERS: entities"))
        #expect(result.stdout.contains("entities.entities kind=grant, id=GR-FORGED: extra"))
        let json = try cli.json(try await cli.run(["audit", "verify", "--read-models", "--format", "json"]))
        #expect(json["ok"] as? Bool == false)
        #expect((json["readModels"] as? [[String: Any]])?.count == 2)
    }

    @Test(
        "9,300 well-formed payments of the largest amount, appended outside the rules, are summed exactly past 64 bits: catch-up, rebuild, replay and the rules go on"
    )
    func sumsPast64Bits() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let before = try await AuditReplay.replay(pool: db.pool, cutOff: .head)
        let subGrant = try #require(before.subGrants.first { $0.subGrantId == "SG-001" })

        // The application role appends payments no rule would accept.
        let app = try await PostgresConnection.connect(db.appURL)
        let largest = "9999999999999.99"
        var last: Int64 = 0
        // 9,300 payments to one sub-grant: its sum passes 2^63 cents after 9,224.
        for _ in 0..<10 {
            let events = (0..<930).map { _ in
                event(
                    EntityKind.subGrant.stream("SG-001"), "SubGrantDisbursed",
                    #"{"amount": "\#(largest)", "paidOn": "2025-07-01", "subGrantId": "SG-001"}"#)
            }
            let appended = try await StoreSession(connection: app).append(
                events, expected: [:], commandID: nil, payloadDigest: nil)
            last = appended.events.last?.position ?? last
        }
        let forged = Int128(9_300) * 999_999_999_999_999
        // Readers see the last of them once no older transaction on the cluster is open.
        _ = try await db.readAll(after: last - 1, count: 1)

        // Catch-up and a rebuild fold them without stopping, and agree with the replay.
        let runner = ProjectionRunner(pool: db.pool)
        let head = try await runner.sealAndCatchUp()
        #expect(try await runner.status().allSatisfy { $0.lag == 0 })
        try await runner.rebuild()
        let after = try await AuditReplay.replay(pool: db.pool, cutOff: .position(head.position))
        let paid = try #require(after.subGrants.first { $0.subGrantId == "SG-001" })
        #expect(paid.disbursed.cents == subGrant.disbursed.cents + forged)
        #expect(paid.disbursed.cents > Int128(Int64.max))
        #expect(Money(sum: paid.disbursed.description) == paid.disbursed)
        let documents = try await db.pool.withConnection {
            try await $0.query(
                """
                SELECT doc->>'disbursed' FROM rm_entities.entities WHERE kind = 'subGrant' AND id = 'SG-001'
                """)
        }
        #expect(try documents.map { try $0.decode(String.self, 0) } == [paid.disbursed.description])
        #expect(try await ReadModelCheck.run(pool: db.pool).allSatisfy { $0.ok })

        // A further payment is refused by the rule, with its figures in the message.
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        do {
            _ = try await handler.handle(
                try CommandRequest.parse(
                    #"{"command": "disburseSubGrant", "subGrantId": "SG-001", "amount": "1", "paidOn": "2025-07-02"}"#),
                actor: "test")
            Issue.record("a payment above the sub-grant's amount was accepted")
        } catch let error as DomainError {
            #expect("\(error)".contains("would bring payments to \((paid.disbursed + Money(cents: 100)).description)"))
        }
    }

    @Test(
        "a malformed event is quarantined: projections pass it, verify and /readyz name it, its stream's commands get 422"
    )
    func malformedEvent() async throws {
        let fixture = try await HTTPFixture.make()
        let db = fixture.db
        // The application role appends a GrantAwarded whose data fits no award.
        let app = try await PostgresConnection.connect(db.appURL)
        let poisoned = try await StoreSession(connection: app).append(
            [event("grant-GR-01", "GrantAwarded", #"{"grantId": 7, "amount": "lots"}"#)],
            expected: [:], commandID: nil, payloadDigest: nil)
        let position = poisoned.events[0].position
        let later = try await db.store.append([event("organisation-X", "Happened")])

        // Projections and rebuilds go past it.
        let runner = ProjectionRunner(pool: db.pool)
        _ = try await db.readAll(after: later.events[0].position - 1, count: 1)
        let head = try await runner.sealAndCatchUp()
        #expect(head.position >= later.events[0].position)
        #expect(try await runner.status().allSatisfy { $0.lag == 0 })
        try await runner.rebuild()
        let listed = try await db.pool.withConnection { connection in
            try await connection.query(
                "SELECT position, type FROM rm_entities.quarantine UNION ALL SELECT position, type FROM rm_i3.quarantine"
            )
            .map { try $0.decode(Int64.self, 0) }
        }
        #expect(listed == [position, position])
        #expect(try await LogReplay.quarantined(pool: db.pool).map(\.position) == [position])
        #expect(try await ReadModelCheck.run(pool: db.pool).allSatisfy { $0.ok })

        // audit verify names it and fails.
        let cli = CLI(databaseURL: db.appURL)
        let verify = try await cli.run(["audit", "verify"])
        #expect(verify.status == 21)
        #expect(verify.stdout.contains("QUARANTINED EVENT at position \(position) (GrantAwarded)"))

        // A command on its stream: a clear 422, never a 500; other commands still work.
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        await #expect(throws: DomainError.self) {
            _ = try await handler.handle(
                try CommandRequest.parse(
                    #"{"command": "disburseGrant", "grantId": "GR-01", "amount": "1", "paidOn": "2025-07-01"}"#),
                actor: "test")
        }
        try await fixture.application.test(.live) { client in
            try await client.execute(
                uri: "/v1/commands", method: .post,
                headers: fixture.headers(.manager, [.contentType: "application/json"]),
                body: ByteBuffer(
                    string:
                        #"{"command": "disburseGrant", "commandId": "q-1", "grantId": "GR-01", "amount": "1", "paidOn": "2025-07-01"}"#
                )
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(errorCode(response.body) == "ruleViolated")
                #expect(String(buffer: response.body).contains("grant-GR-01"))
            }
            try await client.execute(uri: "/v1/audit/quarantine", method: .get, headers: fixture.headers(.auditor)) {
                response in
                #expect(response.status == .ok)
                let rows = json(response.body)["quarantined"] as? [[String: Any]]
                #expect(rows?.first?["position"] as? Int == Int(position))
                #expect(rows?.first?["type"] as? String == "GrantAwarded")
            }
            try await client.execute(uri: "/v1/audit/quarantine", method: .get, headers: fixture.headers(.viewer)) {
                #expect($0.status == .forbidden)
            }
            // The background round counts it; /readyz stays 200 and says degraded.
            var status = ""
            for _ in 0..<50 where status != "degraded" {
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .ok)
                    status = json(response.body)["status"] as? String ?? ""
                }
                if status != "degraded" { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(status == "degraded")
        }
    }
}

@Suite("The server's periodic read-model check")
struct ReadModelCheckServiceTests {
    @Test("a forged read-model row shows in /metrics and makes /readyz say degraded, still 200")
    func forgeryShows() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let server = try await LiveServer.start(
            databaseURL: db.appURL, arguments: ["--read-model-check-interval", "1"], metricsPort: true)
        defer { server.stop() }
        let metrics = "http://127.0.0.1:\(try #require(server.metricsPort))/metrics"
        let app = try await PostgresConnection.connect(db.appURL)
        try await app.query(
            """
            INSERT INTO rm_entities.entities (kind, id, parent, status, doc)
            VALUES ('grant', 'GR-FORGED', NULL, 'active', '{"grantId": "GR-FORGED"}')
            """)
        var readiness = ""
        var exposition = ""
        for _ in 0..<100 {
            let ready = try await server.curl(["\(server.base)/readyz"])
            #expect(ready.status == 200)
            readiness = ready.body
            exposition = try await server.curl([metrics]).body
            if readiness.contains("degraded"),
                exposition.contains(#"grantledger_read_model_differences{read_model="entities"} 1"#)
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(readiness.contains(#""status": "degraded""#), "\(readiness)")
        #expect(readiness.contains(#""readModelDifferences": 1"#), "\(readiness)")
        #expect(exposition.contains(#"grantledger_read_model_differences{read_model="entities"} 1"#))
        #expect(exposition.contains(#"grantledger_read_model_differences{read_model="i3"} 0"#))
    }
}
