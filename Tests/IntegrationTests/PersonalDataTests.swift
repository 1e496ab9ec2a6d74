import EventStore
import Exports
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import PersonalDataKeys
import PostgresClient
import Projections
import Testing
import Transparency

@testable import TestSupport

/// docs/domain.md §15, "Forgetting": texts recorded encrypted, erased by destroying a key,
/// with every figure, hash and proof unchanged.
@Suite("Erasure by destroying a key")
struct PersonalDataTests {
    /// Every page of a list, as JSON items.
    static func items(_ client: some TestClientProtocol, _ fixture: HTTPFixture, _ path: String) async throws
        -> [[String: Any]]
    {
        var items: [[String: Any]] = []
        var cursor: String?
        repeat {
            let page = try await client.execute(
                uri: "/v1/\(path)?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), method: .get,
                headers: fixture.headers(.manager)
            ) { String(buffer: $0.body) }
            items += json(page)["items"] as? [[String: Any]] ?? []
            cursor = json(page)["nextCursor"] as? String
        } while cursor != nil
        return items
    }

    @Test("erasing a random third of the organisations forgets their texts everywhere and changes no figure or proof")
    func eraseRandomThird() async throws {
        let fixture = try await HTTPFixture.make()
        let db = fixture.db
        let seed = UInt64.random(in: 1...UInt64.max)
        try await fixture.application.test(.router) { client in
            var rng = SeededGenerator(state: seed)
            func get(_ uri: String, _ role: Role = .manager) async throws -> String {
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(role)) {
                    #expect($0.status == .ok, "\(uri): \(String(buffer: $0.body).prefix(300))")
                    return String(buffer: $0.body)
                }
            }
            func post(_ command: [String: Any]) async throws -> (status: HTTPResponse.Status, body: String) {
                let body = String(decoding: try JSONSerialization.data(withJSONObject: command), as: UTF8.self)
                return try await client.execute(
                    uri: "/v1/commands", method: .post,
                    headers: fixture.headers(.manager, [HTTPField.Name("Idempotency-Key")!: UUID().uuidString]),
                    body: ByteBuffer(string: body)
                ) { ($0.status, String(buffer: $0.body)) }
            }

            // What the sample recorded, as a manager reads it.
            let organisations = try await Self.items(client, fixture, "organisations")
            let subGrants = try await Self.items(client, fixture, "sub-grants")
            #expect(organisations.count > 30 && subGrants.count > 10)
            let ids = organisations.compactMap { $0["organisationId"] as? String }.shuffled(using: &rng)
            let erased = Set(ids.prefix(ids.count / 3))
            var erasedTexts: Set<String> = []
            var livingTexts: [String] = []
            for organisation in organisations {
                guard let id = organisation["organisationId"] as? String, let name = organisation["name"] as? String
                else { continue }
                if erased.contains(id) { erasedTexts.insert(name) } else { livingTexts.append(name) }
            }
            for subGrant in subGrants {
                let award = subGrant["award"] as? [String: Any] ?? [:]
                let texts = [
                    award["purpose"] as? String, (subGrant["cancelled"] as? [String: Any])?["reason"] as? String,
                ]
                .compactMap { $0 }
                if erased.contains(award["organisationId"] as? String ?? "") {
                    erasedTexts.formUnion(texts)
                } else {
                    livingTexts += texts
                }
            }
            // Only texts no living organisation's text contains can be searched for.
            let searched = erasedTexts.filter { text in text.count >= 6 && !livingTexts.contains { $0.contains(text) } }
            #expect(searched.count > erased.count / 2, "seed \(seed)")

            // The log before: its tree, a receipt, and the figures at some cut-offs.
            let before = try await db.store.seal()
            func tree(at position: Int64) async throws -> (size: Int64, root: Merkle.Hash) {
                try await db.pool.withConnection { connection in
                    let session = StoreSession(connection: connection)
                    let size = try await session.treeHead(atOrBefore: position).treeSize
                    return (size, try await session.root(size: size))
                }
            }
            let (size0, root0) = try await tree(at: before.position)
            let receiptPosition = Int64.random(in: 1...before.position, using: &rng)
            let receipt = try await db.store.inclusionProof(position: receiptPosition, treeSize: size0)
            let cutOffs = [before.position / 3, 2 * before.position / 3, before.position]
            let period = "from=2024-01-01&to=2026-12-31"
            let codes = Indicator.allCases.map(\.rawValue)
            func figures() async throws -> [String] {
                var answers: [String] = []
                for cut in cutOffs {
                    answers.append(try await get("/v1/indicators/i3?\(period)&asOf=\(cut)", .auditor))
                    for code in codes where code != "I.3" {
                        answers.append(try await get("/v1/indicators/\(code)?\(period)&asOf=\(cut)", .auditor))
                    }
                    for drill in ["i3/organisations", "III.3/organisations", "II.1/activities"] {
                        let rows = json(try await get("/v1/indicators/\(drill)?\(period)&asOf=\(cut)", .auditor))
                        let count = ((rows["organisations"] ?? rows["activities"]) as? [Any])?.count ?? -1
                        answers.append("\(drill) at \(cut): \(count) rows")
                    }
                }
                return answers
            }
            let figuresBefore = try await figures()

            // The erasures.
            for id in erased.sorted() {
                let answer = try await post([
                    "command": "erasePersonalData", "organisationId": id, "erasedOn": "2026-12-01",
                    "reason": "request received 2026-11-30",
                ])
                #expect(answer.status == .created, "\(id): \(answer.body)")
            }

            // Every figure and drill-down row count as before, at every cut-off.
            let figuresAfter = try await figures()
            #expect(figuresAfter == figuresBefore)

            // Every hash, the tree and the receipt as before.
            let after = try await db.store.seal()
            let report = try await db.store.verify()
            #expect(report.ok, "\(report)")
            let (size1, root1) = try await tree(at: after.position)
            #expect(size1 == size0 + Int64(erased.count))
            let storedRoot0 = try await db.pool.withConnection {
                try await StoreSession(connection: $0).root(size: size0)
            }
            #expect(storedRoot0 == root0)
            #expect(throws: Never.self) { try receipt.verify(root: root0) }
            let consistency = try await db.store.consistencyProof(from: size0, to: size1)
            #expect(throws: Never.self) { try consistency.verify(fromRoot: root0, toRoot: root1) }
            let later = try await db.store.inclusionProof(position: receiptPosition, treeSize: size1)
            #expect(later.leafInputBytes == receipt.leafInputBytes)
            #expect(throws: Never.self) { try later.verify(root: root1) }

            // The texts appear nowhere: not to a manager or an auditor, not in a history, not in
            // a published file, not in the database.
            var outputs: [String] = []
            for path in ["organisations", "sub-grants", "consortia", "applications", "grants", "activities"] {
                outputs += try await Self.items(client, fixture, path).map {
                    String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self)
                }
                outputs.append(
                    try await client.execute(
                        uri: "/v1/\(path)?limit=500", method: .get,
                        headers: fixture.headers(.manager, [.accept: "text/csv"])
                    ) { String(buffer: $0.body) })
            }
            for id in erased.sorted() {
                outputs.append(try await get("/v1/organisations/\(id)", .auditor))
                outputs.append(try await get("/v1/organisations/\(id)/history", .auditor))
            }
            for cut in cutOffs {
                outputs.append(try await get("/v1/indicators/i3/organisations?\(period)&asOf=\(cut)", .auditor))
                outputs.append(try await get("/v1/indicators/III.3/organisations?\(period)&asOf=\(cut)", .auditor))
            }
            outputs.append(try await get("/v1/events?limit=500", .auditor))
            let (ledger, asOf) = try await ExportRun.ledger(pool: db.pool, cutOff: .head)
            outputs.append(
                try await IATIActivities(
                    reportingOrg: ExportTests.reportingOrg, asOf: asOf, generatedAt: "2026-12-03T12:00:00Z",
                    i3: ExportRun.i3(ledger)
                ).document(ledger, grants: ledger.grants))
            outputs.append(
                try GivingPackage(
                    funderID: "XI-IATI-EC_INTPA", funderName: "European Union", prefix: "360G-grantledger", asOf: asOf
                ).document(ledger, grants: ledger.grants))
            let dump = try await Subprocess.run(
                "/usr/bin/pg_dump", ["--dbname", db.adminURL, "--no-owner"],
                environment: ProcessInfo.processInfo.environment)
            #expect(dump.status == 0, "\(dump.stderr.prefix(500))")
            #expect(dump.stdout.contains("PersonalDataErased"))
            outputs.append(dump.stdout)
            for output in outputs {
                for text in searched {
                    #expect(!output.contains(text), "erased text \"\(text)\" still readable (seed \(seed))")
                    #expect(!output.contains(ExportTests().escapeForSearch(text)), "\"\(text)\" escaped (seed \(seed))")
                }
            }
            let shown = json(try await get("/v1/organisations/\(erased.sorted()[0])"))
            #expect(shown["name"] as? String == PersonalData.erased)

            // An erased organisation can be given a new name, readable again.
            let renamed = try #require(erased.sorted().last)
            let update = try await post([
                "command": "updateOrganisationProfile", "organisationId": renamed, "name": "Жаңа атау – новое имя",
            ])
            #expect(update.status == .created, "\(update.body)")
            let position = (json(update.body)["events"] as? [[String: Any]])?.first?["position"] as? Int ?? 0
            let renamedDoc = json(try await get("/v1/organisations/\(renamed)?minPosition=\(position)"))
            #expect(renamedDoc["name"] as? String == "Жаңа атау – новое имя")
            // A rebuilt read model reads the same: erased texts erased, the new name kept.
            let runner = ProjectionRunner(pool: db.pool)
            _ = try await runner.sealAndCatchUp()
            let checks = try await ReadModelCheck.run(pool: db.pool)
            #expect(checks.allSatisfy { $0.ok }, "\(checks)")
        }
    }

    @Test("the application role reads and erases keys only through the owner's functions, and never undoes an erasure")
    func keysBehindOwnerFunctions() async throws {
        let db = try await TestDatabase.make()
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        let register = """
            {"command":"registerOrganisation","organisationId":"KEYED","name":"Keyed group","country":"KZ",\
            "regionCode":"KZ-43","settlement":"rural","registrationStatus":"unregistered",\
            "leadershipGender":"women","kind":"informalGroup"}
            """
        _ = try await handler.handle(try CommandRequest.parse(register), actor: "test")
        let app = try await PostgresConnection.connect(db.appURL)
        // No privilege on the table itself.
        for statement in [
            "SELECT * FROM personal_data_keys", "DELETE FROM personal_data_keys",
            "UPDATE personal_data_keys SET key = NULL", "TRUNCATE personal_data_keys",
            "INSERT INTO personal_data_keys (key_id, organisation_id, key) VALUES (gen_random_uuid(), 'X', NULL)",
        ] {
            await #expect(throws: PostgresError.self, "\(statement)") {
                try await app.query(PostgresQuery(unsafeSQL: statement))
            }
        }
        // The key is recorded nowhere in the log: the name is ciphertext there.
        let stored = try await app.query("SELECT data::text FROM events WHERE stream_id = 'organisation-KEYED'")
        let data = try stored[0].decode(String.self, 0)
        #expect(!data.contains("Keyed group") && data.contains("\"encrypted\""))
        // Erasing without recording the erasure is refused.
        await #expect(throws: PostgresError.self) { try await app.query("SELECT personal_data_erase('KEYED')") }
        let living = try await app.query("SELECT key_id::text, encode(key, 'hex') FROM personal_data_keys_living()")
        let (keyId, keyHex) = try living[0].decode((String, String).self)
        // The erasure, then an attempt to bring the key back.
        let erase =
            #"{"command":"erasePersonalData","organisationId":"KEYED","erasedOn":"2026-12-01","reason":"asked"}"#
        _ = try await handler.handle(try CommandRequest.parse(erase), actor: "test")
        let read = try await app.query("SELECT key FROM personal_data_keys_read(ARRAY[\(keyId)]::uuid[])")
        #expect(read.count == 1 && read[0].text(0) == nil)
        // The one-key function of sql/022 is gone (sql/028): no way around the rule below.
        do {
            _ = try await app.query("SELECT personal_data_key_add(\(keyId)::uuid, 'KEYED', decode(\(keyHex), 'hex'))")
            Issue.record("the one-key function answered")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42883", "\(error)")
        }
        // The function that adds keys refuses a known key id.
        do {
            _ = try await app.query(
                "SELECT personal_data_keys_add(ARRAY[\(keyId)]::uuid[], '{KEYED}'::text[], ARRAY[decode(\(keyHex), 'hex')])"
            )
            Issue.record("an erased key was added again")
        } catch let error as PostgresError {
            #expect(error.sqlState == "23505", "\(error)")
        }
        #expect(try await app.query("SELECT * FROM personal_data_keys_living()").count == 0)
        // A new name takes a new key; the old texts stay erased.
        let rename = #"{"command":"updateOrganisationProfile","organisationId":"KEYED","name":"Renamed"}"#
        _ = try await handler.handle(try CommandRequest.parse(rename), actor: "test")
        let runner = ProjectionRunner(pool: db.pool)
        _ = try await runner.sealAndCatchUp()
        let history = try await db.store.opened(try await db.readAll(after: 0, count: 3))
        let names: [String?] = history.map { event in
            guard case .object(let object)? = JSONValue.parse(event.data), case .string(let name)? = object["name"]
            else { return nil }
            return name
        }
        #expect(names == ["erased", nil, "Renamed"], "\(names)")
    }

    @Test("an organisation recorded in clear cannot be erased, and the refusal says why")
    func clearTextRefused() async throws {
        let db = try await TestDatabase.make()
        // As a version before encryption recorded it.
        _ = try await db.store.append([
            NewEvent(
                streamID: "organisation-CLEAR", type: "OrganisationRegistered",
                data: """
                    {"organisationId":"CLEAR","name":"Clear group","country":"KZ","regionCode":"KZ-43",\
                    "settlement":"rural","registrationStatus":"unregistered","leadershipGender":"women",\
                    "kind":"informalGroup"}
                    """, metadata: "{}")
        ])
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        let erase =
            #"{"command":"erasePersonalData","organisationId":"CLEAR","erasedOn":"2026-12-01","reason":"asked"}"#
        do {
            _ = try await handler.handle(try CommandRequest.parse(erase), actor: "test")
            Issue.record("erasure of a clear text accepted")
        } catch let error as DomainError {
            #expect(error.code == .ruleViolated)
            #expect(error.message.contains("recorded in clear"))
        }
        let unknown = #"{"command":"erasePersonalData","organisationId":"NOBODY","erasedOn":"2026-12-01","reason":"x"}"#
        await #expect(throws: DomainError.self) {
            _ = try await handler.handle(try CommandRequest.parse(unknown), actor: "t")
        }
    }

    @Test("a box opens only with its key, for its own event type and field")
    func cipher() throws {
        let key = PersonalDataKey(id: UUID().uuidString.lowercased(), organisationId: "O", key: .init(size: .bits256))
        let other = PersonalDataKey(id: key.id, organisationId: "O", key: .init(size: .bits256))
        for text in ["Қоғамдық бірлестік «Ана»", "\"quoted\" \\ \u{202E}rtl", String(repeating: "é", count: 300), "a"] {
            let fields = [
                "organisationId": "O", "name": text, "country": "KZ", "regionCode": "KZ-43", "settlement": "rural",
                "registrationStatus": "unregistered", "leadershipGender": "women", "kind": "informalGroup",
            ]
            let data = String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self)
            let sealed = try PersonalDataCipher.seal(type: "OrganisationRegistered", data: data, with: key)
            #expect(text.count < 3 || !sealed.contains(text))
            #expect(!PersonalData.hasClearText(type: "OrganisationRegistered", data: sealed))
            let box = try #require(PersonalData.sealed(type: "OrganisationRegistered", data: sealed).first)
            #expect(
                PersonalDataCipher.open(
                    box, type: "OrganisationRegistered", field: "name", keys: [key.id: .living(key.bytes)]) == text)
            // Another key, another field or event type, an erased or unknown key.
            #expect(
                PersonalDataCipher.open(
                    box, type: "OrganisationRegistered", field: "name", keys: [key.id: .living(other.bytes)])
                    == PersonalData.unavailable)
            #expect(
                PersonalDataCipher.open(
                    box, type: "SubGrantAwarded", field: "purpose", keys: [key.id: .living(key.bytes)])
                    == PersonalData.unavailable)
            #expect(
                PersonalDataCipher.open(box, type: "OrganisationRegistered", field: "name", keys: [key.id: .erased])
                    == PersonalData.erased)
            #expect(
                PersonalDataCipher.open(box, type: "OrganisationRegistered", field: "name", keys: [:])
                    == PersonalData.unavailable)
            // Decoding without the key reads a placeholder, never fails.
            guard
                case .organisationRegistered(let decoded)? = try DomainEvent.decode(
                    type: "OrganisationRegistered", data: sealed)
            else {
                Issue.record("not decoded")
                continue
            }
            #expect(decoded.name == PersonalData.sealedPlaceholder)
        }
        // A box that is not base64 or is cut short reads as unavailable.
        for box in ["", "!!", "AAAA"] {
            #expect(
                PersonalDataCipher.open(
                    .init(key: key.id, box: box), type: "OrganisationRegistered", field: "name",
                    keys: [key.id: .living(key.bytes)]) == PersonalData.unavailable)
        }
    }
}
