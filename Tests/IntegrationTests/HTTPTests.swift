import EventStore
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import Testing
import Transparency

@testable import TestSupport

@Suite("HTTP API")
struct HTTPTests {
    @Test("health, readiness and the OpenAPI document need no token")
    func publicEndpoints() async throws {
        let fixture = try await HTTPFixture.make(sample: false)
        try await fixture.application.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(json(response.body)["openapi"] as? String == "3.1.0")
            }
        }
    }

    @Test("the OpenAPI document lists exactly the routes the router serves")
    func openAPICompleteness() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        let served = Set(routeTable())
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented))")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served))")
    }

    @Test("role matrix: each role and anonymous against each endpoint")
    func roleMatrix() async throws {
        let fixture = try await HTTPFixture.make()
        // nil: allowed (2xx); otherwise the expected refusal.
        let command =
            #"{"command":"evaluateApplication","applicationId":"APP-11","score":70,"evaluatedOn":"2025-05-01"}"#
        let cases: [(String, HTTPRequest.Method, String?, [Role?: HTTPResponse.Status])] = [
            (
                "/v1/commands", .post, command,
                [
                    .manager: .created, .auditor: .forbidden, .viewer: .forbidden, .grantee: .forbidden,
                    nil: .unauthorized,
                ]
            ),
            (
                "/v1/organisations", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/grants/GR-01", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .ok, nil: .unauthorized]
            ),
            // A grantee reads the grants its organisation leads, the sub-grants and activities
            // under them, their histories and proofs, and nothing else.
            (
                "/v1/grants/GR-02", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/activities/ACT-001", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .ok, nil: .unauthorized]
            ),
            (
                "/v1/activities/ACT-004", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/sub-grants", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .ok, nil: .unauthorized]
            ),
            (
                "/v1/calls", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/grants/GR-01/history", .get, nil,
                [.manager: .forbidden, .auditor: .ok, .viewer: .forbidden, .grantee: .ok, nil: .unauthorized]
            ),
            (
                "/v1/grants/GR-02/history", .get, nil,
                [.manager: .forbidden, .auditor: .ok, .viewer: .forbidden, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/audit/proof/consistency?from=1&to=2", .get, nil,
                [.manager: .forbidden, .auditor: .ok, .viewer: .forbidden, .grantee: .ok, nil: .unauthorized]
            ),
            (
                "/v1/results-framework?from=2025-01-01&to=2025-12-31", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators/i3?from=2024-01-01&to=2026-12-31", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators/i3/organisations?from=2024-01-01&to=2026-12-31", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators/i3/progress", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/indicators/II.2?from=2025-01-01&to=2025-12-31", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/activities", .get, nil,
                [.manager: .ok, .auditor: .ok, .viewer: .ok, .grantee: .ok, nil: .unauthorized]
            ),
            (
                "/v1/events?after=0&limit=5", .get, nil,
                [.manager: .forbidden, .auditor: .ok, .viewer: .forbidden, .grantee: .forbidden, nil: .unauthorized]
            ),
            (
                "/v1/audit/verify", .get, nil,
                [.manager: .forbidden, .auditor: .ok, .viewer: .forbidden, .grantee: .forbidden, nil: .unauthorized]
            ),
        ]
        try await fixture.application.test(.router) { client in
            for (uri, method, body, expectations) in cases {
                for (role, status) in expectations {
                    // Each manager command needs a fresh id so that it is accepted, not replayed.
                    let extra: HTTPFields =
                        method == .post ? [HTTPField.Name("Idempotency-Key")!: UUID().uuidString] : [:]
                    try await client.execute(
                        uri: uri, method: method, headers: fixture.headers(role, extra),
                        body: body.map { ByteBuffer(string: $0) }
                    ) { response in
                        if role == .manager && method == .post {
                            // The first manager call evaluates; the status must be a success.
                            #expect(response.status.kind == .successful, "\(uri) as manager: \(response.status)")
                        } else {
                            #expect(response.status == status, "\(uri) as \(role?.rawValue ?? "anonymous")")
                        }
                    }
                }
            }
            try await client.execute(
                uri: "/v1/organisations", method: .get, headers: [.authorization: "Bearer glt_nope"]
            ) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("a grantee token records and retracts only its own activities and reads only its own entities")
    func granteeScope() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            func post(_ body: String) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(
                    uri: "/v1/commands", method: .post,
                    headers: fixture.headers(.grantee, [HTTPField.Name("Idempotency-Key")!: UUID().uuidString]),
                    body: ByteBuffer(string: body)
                ) { ($0.status, String(buffer: $0.body)) }
            }
            func activity(_ id: String, grant: String, organiser: String = "grantee") -> String {
                #"{"command":"recordActivity","activityId":"\#(id)","title":"Roundtable","startedOn":"2025-10-01","kind":"networkingInitiative","organiser":"\#(organiser)","grantId":"\#(grant)","withGovernment":false,"themes":[],"participants":[]}"#
            }
            // Its own grant: accepted, recorded with the token's name as the actor.
            let own = try await post(activity("ACT-G1", grant: "GR-01"))
            #expect(own.0 == .created, "\(own.1)")
            let recorded = try await fixture.db.store.readStream("activity-ACT-G1")
            #expect(recorded.first?.metadata.contains("t-grantee") == true)
            // Another lead's grant, an EU activity, any other command: 403, nothing recorded.
            let other = try await post(activity("ACT-G2", grant: "GR-02"))
            #expect(other.0 == .forbidden && other.1.contains("not led by INGO-DE-FES"))
            let eu = try await post(
                #"{"command":"recordActivity","activityId":"ACT-G3","title":"t","startedOn":"2025-10-01","kind":"dialogue","organiser":"eu","withGovernment":true,"themes":[],"participants":[]}"#
            )
            #expect(eu.0 == .forbidden)
            let evaluate = try await post(
                #"{"command":"evaluateApplication","applicationId":"APP-11","score":70,"evaluatedOn":"2025-05-01"}"#)
            #expect(evaluate.0 == .forbidden && evaluate.1.contains("evaluateApplication"))
            #expect(try await fixture.db.store.readStream("activity-ACT-G2").isEmpty)
            #expect(try await fixture.db.store.readStream("activity-ACT-G3").isEmpty)
            // Retract: its own activity yes, another grantee's no.
            let retractOther = try await post(
                #"{"command":"retractActivity","activityId":"ACT-004","retractedOn":"2026-01-10","reason":"r"}"#)
            #expect(retractOther.0 == .forbidden)
            let retractOwn = try await post(
                #"{"command":"retractActivity","activityId":"ACT-G1","retractedOn":"2026-01-10","reason":"r"}"#)
            #expect(retractOwn.0 == .created, "\(retractOwn.1)")
            // Lists hold only its own entities, page after page.
            for (path, count) in [("sub-grants", 15), ("grants", 1)] {
                var ids: [String] = []
                var cursor: String?
                repeat {
                    let uri = "/v1/\(path)?limit=20" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.execute(uri: uri, method: .get, headers: fixture.headers(.grantee)) {
                        json($0.body)
                    }
                    for item in page["items"] as? [[String: Any]] ?? [] {
                        let grantId = (item["grantId"] ?? (item["award"] as? [String: Any])?["grantId"]) as? String
                        #expect(grantId == "GR-01", "\(path): \(item)")
                        ids.append(grantId ?? "")
                    }
                    cursor = page["nextCursor"] as? String
                } while cursor != nil
                #expect(ids.count == count, "\(path)")
            }
            // Proofs of its own events only (sealed first: a proof stands on the Merkle tree).
            _ = try await fixture.db.store.seal()
            let ownPosition = try #require(recorded.first?.position)
            let foreign = try #require(try await fixture.db.store.readStream("activity-ACT-004").first?.position)
            for (position, status) in [(ownPosition, HTTPResponse.Status.ok), (foreign, .forbidden)] {
                try await client.execute(
                    uri: "/v1/audit/proof/inclusion?position=\(position)", method: .get,
                    headers: fixture.headers(.grantee)
                ) { #expect($0.status == status, "inclusion proof of \(position)") }
            }
        }
    }

    @Test("a viewer sees confidential organisations only as stable pseudonyms, with every count the manager's")
    func viewerPseudonyms() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            func get(_ uri: String, _ role: Role) async throws -> String {
                // A read of the test's own write (`minPosition`) is refused for a moment (503,
                // Retry-After) while a transaction elsewhere in the cluster holds the readers'
                // horizon back; a client tries again.
                for _ in 0..<10 {
                    let (status, body) = try await client.execute(
                        uri: uri, method: .get, headers: fixture.headers(role)
                    ) { ($0.status, String(buffer: $0.body)) }
                    if status == .serviceUnavailable, uri.contains("minPosition=") {
                        try await Task.sleep(for: .seconds(1))
                        continue
                    }
                    #expect(status == .ok, "\(uri) as \(role)")
                    return body
                }
                Issue.record("\(uri) as \(role): still unavailable after 10 tries")
                return ""
            }
            // Returns the position of the command's last event.
            func post(_ body: String) async throws -> Int {
                try await client.execute(
                    uri: "/v1/commands", method: .post,
                    headers: fixture.headers(.manager, [HTTPField.Name("Idempotency-Key")!: UUID().uuidString]),
                    body: ByteBuffer(string: body)
                ) {
                    #expect($0.status.kind == .successful, "\(String(buffer: $0.body))")
                    let events = json(String(buffer: $0.body))["events"] as? [[String: Any]] ?? []
                    return events.compactMap { $0["position"] as? Int }.max() ?? 0
                }
            }
            // §15: confidential as recorded overrides the default (unregistered).
            let written = try await post(
                #"{"command":"updateOrganisationProfile","organisationId":"NGO-KZ-BUREAU","confidential":true}"#)
            #expect(written > 0)
            // Every page of a list, as a role; reads its own write as a client does (minPosition),
            // since other writers' transactions can hold the gap-free head back for a moment.
            func all(_ path: String, _ role: Role) async throws -> [String] {
                var pages: [String] = []
                var cursor: String?
                repeat {
                    let page = try await get(
                        "/v1/\(path)?limit=100&minPosition=\(written)" + (cursor.map { "&cursor=\($0)" } ?? ""), role)
                    pages.append(page)
                    cursor = json(page)["nextCursor"] as? String
                } while cursor != nil
                return pages
            }
            // The confidential organisations, as a manager sees them.
            var confidential: [(id: String, name: String)] = []
            for page in try await all("organisations", .manager) {
                for item in json(page)["items"] as? [[String: Any]] ?? [] {
                    let unregistered = item["registrationStatus"] as? String == "unregistered"
                    let flag = item["confidential"] as? Bool
                    if flag ?? unregistered, let id = item["organisationId"] as? String,
                        let name = item["name"] as? String
                    {
                        confidential.append((id, name))
                    }
                }
            }
            #expect(confidential.count > 10)
            #expect(confidential.contains { $0.id == "NGO-KZ-BUREAU" })
            let period = "from=2024-01-01&to=2026-12-31"
            var viewed: [String] = []
            for path in ["organisations", "consortia", "applications", "grants", "sub-grants", "activities"] {
                viewed += try await all(path, .viewer)
            }
            let i3Viewer = try await get("/v1/indicators/i3/organisations?\(period)", .viewer)
            let i3Manager = try await get("/v1/indicators/i3/organisations?\(period)", .manager)
            viewed += [
                i3Viewer, try await get("/v1/indicators/i3/organisations?\(period)&format=csv", .viewer),
                try await get("/v1/indicators/III.3/organisations?\(period)", .viewer),
                try await get("/v1/indicators/III.3/organisations?\(period)&format=csv", .viewer),
                try await get("/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement", .viewer),
                try await get("/v1/organisations/\(try #require(confidential.first).id)", .viewer),
            ]
            // The lists as CSV too.
            for path in ["organisations", "sub-grants", "activities", "consortia"] {
                viewed.append(
                    try await client.execute(
                        uri: "/v1/\(path)?limit=500", method: .get,
                        headers: fixture.headers(.viewer, [.accept: "text/csv"])
                    ) {
                        #expect($0.status == .ok && $0.headers[.contentType]?.hasPrefix("text/csv") == true)
                        return String(buffer: $0.body)
                    })
            }
            for body in viewed {
                for (id, name) in confidential {
                    #expect(!body.contains("\"\(id)\""), "\(id) shown to a viewer")
                    #expect(!body.contains(name), "\(name) shown to a viewer")
                }
                #expect(!body.contains("\"actor\""))
            }
            // Every row is still there, the pseudonyms are the same in every answer, and names
            // say the region.
            let viewerRows = json(i3Viewer)["organisations"] as? [[String: Any]] ?? []
            let managerRows = json(i3Manager)["organisations"] as? [[String: Any]] ?? []
            #expect(viewerRows.count == managerRows.count && !viewerRows.isEmpty)
            let listed = Set(
                try await all("organisations", .viewer).flatMap { page in
                    (json(page)["items"] as? [[String: Any]] ?? []).compactMap { $0["organisationId"] as? String }
                })
            let anonymous = viewerRows.compactMap { $0["organisationId"] as? String }.filter { $0.hasPrefix("anon-") }
            #expect(!anonymous.isEmpty)
            #expect(anonymous.allSatisfy { listed.contains($0) && $0.count == 21 })
            let managerCount = try await all("organisations", .manager).reduce(0) {
                $0 + ((json($1)["items"] as? [Any])?.count ?? 0)
            }
            #expect(listed.count == managerCount)  // every organisation once, through sealed cursors
            #expect(viewerRows.contains { ($0["name"] as? String)?.hasPrefix("Civil society group, ") == true })
            for (viewer, manager) in zip(viewerRows, managerRows) {
                #expect(viewer["regionCode"] as? String == manager["regionCode"] as? String)
                #expect(viewer["leadershipGender"] as? String == manager["leadershipGender"] as? String)
            }
            // A sealed cursor is refused when forged.
            try await client.execute(
                uri: "/v1/organisations?cursor=Q1NPLTc1LTA5OA==", method: .get, headers: fixture.headers(.viewer)
            ) { #expect($0.status == .notFound) }
        }
    }

    @Test("every error class maps to its status and §5 body")
    func errorMapping() async throws {
        let fixture = try await HTTPFixture.make()
        let headers = fixture.headers(.manager)
        try await fixture.application.test(.router) { client in
            func post(_ body: String, _ extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String?) {
                var all = headers
                for field in extra { all.append(field) }
                return try await client.execute(
                    uri: "/v1/commands", method: .post, headers: all, body: ByteBuffer(string: body)
                ) {
                    ($0.status, errorCode($0.body))
                }
            }
            var result = try await post("{not json")
            #expect(result == (.badRequest, "invalid"))
            result = try await post(#"{"command":"closeGrant","grantId":"NOPE","closedOn":"2026-01-01"}"#)
            #expect(result == (.badRequest, "invalid"), "no commandId and no Idempotency-Key")
            result = try await post(
                #"{"command":"closeGrant","commandId":"m-1","grantId":"NOPE","closedOn":"2026-01-01"}"#)
            #expect(result == (.notFound, "notFound"))
            result = try await post(
                #"{"command":"publishCall","commandId":"m-2","callId":"CSOLA-2024","reference":"r","title":"t","programme":"p","publishedOn":"2025-01-01","deadline":"2025-02-01","budget":"10","minGrant":"1","maxGrant":"5","subGrantingAllowed":false}"#
            )
            #expect(result == (.conflict, "alreadyExists"))
            result = try await post(
                #"{"command":"disburseGrant","commandId":"m-3","grantId":"GR-01","amount":"99999999","paidOn":"2025-01-01"}"#
            )
            #expect(result == (.unprocessableContent, "ruleViolated"))
            result = try await post(
                #"{"command":"disburseGrant","commandId":"twice","grantId":"GR-01","amount":"1","paidOn":"2025-01-01"}"#
            )
            #expect(result.0 == .created)
            result = try await post(
                #"{"command":"disburseGrant","commandId":"twice","grantId":"GR-01","amount":"2","paidOn":"2025-01-01"}"#
            )
            #expect(result == (.conflict, "conflict"))
            let huge = String(repeating: "x", count: ServerLimits.maxBodyBytes + 10)
            result = try await post(#"{"command":"closeCall","callId":"\#(huge)"}"#)
            #expect(result == (.contentTooLarge, "payloadTooLarge"))
            try await client.execute(uri: "/v1/grants/NOPE", method: .get, headers: headers) { response in
                #expect(response.status == .notFound)
                #expect(errorCode(response.body) == "notFound")
            }
            try await client.execute(
                uri: "/v1/indicators/i3?from=2025-13-01&to=2025-12-31", method: .get, headers: headers
            ) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("the Idempotency-Key header makes a command idempotent")
    func idempotencyHeader() async throws {
        let fixture = try await HTTPFixture.make()
        let body = ByteBuffer(
            string: #"{"command":"disburseGrant","grantId":"GR-02","amount":"10","paidOn":"2025-01-01"}"#)
        let headers = fixture.headers(.manager, [HTTPField.Name("Idempotency-Key")!: "tranche-77"])
        try await fixture.application.test(.router) { client in
            let first = try await client.execute(uri: "/v1/commands", method: .post, headers: headers, body: body) {
                $0
            }
            let second = try await client.execute(uri: "/v1/commands", method: .post, headers: headers, body: body) {
                $0
            }
            #expect(first.status == .created)
            #expect(second.status == .ok)
            #expect(json(second.body)["replayed"] as? Bool == true)
            let positions = { (buffer: ByteBuffer) in
                (json(buffer)["events"] as? [[String: Any]])?.compactMap { $0["position"] as? Int }
            }
            #expect(positions(first.body) == positions(second.body))
        }
        let tranches = try await fixture.db.committedEvents().filter {
            $0.streamID == "grant-GR-02" && $0.type == "GrantTrancheDisbursed"
        }
        #expect(tranches.count == 3)
    }

    @Test("cursor pagination walks every item once")
    func pagination() async throws {
        let fixture = try await HTTPFixture.make()
        let seen = try await fixture.application.test(.router) { client in
            var seen: [String] = []
            var cursor: String?
            repeat {
                // A manager's walk, by identifier (a viewer's is by the same hidden order, with
                // pseudonyms in it: viewerPseudonyms).
                let uri = "/v1/organisations?limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.execute(uri: uri, method: .get, headers: fixture.headers(.manager)) {
                    json($0.body)
                }
                let items = page["items"] as? [[String: Any]] ?? []
                #expect(items.count <= 7)
                seen += items.compactMap { $0["organisationId"] as? String }
                cursor = page["nextCursor"] as? String
            } while cursor != nil
            let filtered = try await client.execute(
                uri: "/v1/sub-grants?grantId=GR-01&limit=500", method: .get, headers: fixture.headers(.viewer)
            ) {
                json($0.body)["items"] as? [[String: Any]] ?? []
            }
            #expect(!filtered.isEmpty)
            #expect(filtered.allSatisfy { ($0["award"] as? [String: Any])?["grantId"] as? String == "GR-01" })
            return seen
        }
        let registered = try await fixture.db.committedEvents().filter { $0.type == "OrganisationRegistered" }.count
        #expect(seen.count == registered)
        #expect(Set(seen).count == seen.count)
        #expect(seen == seen.sorted())
    }

    @Test("I.3 as JSON and CSV, and events after a position")
    func reportsAndEvents() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            let report = try await client.execute(
                uri: "/v1/indicators/i3?from=2024-01-01&to=2026-12-31&asOf=200", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                json($0.body)
            }
            #expect(report["indicator"] as? String == "I.3")
            #expect((report["asOf"] as? [String: Any])?["position"] as? Int == 200)
            #expect((report["byRegion"] as? [String: Any])?.count == 20)
            let csv = try await client.execute(
                uri: "/v1/indicators/i3?from=2024-01-01&to=2026-12-31", method: .get,
                headers: fixture.headers(.viewer, [.accept: "text/csv"])
            ) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/csv") == true)
                return String(buffer: response.body)
            }
            #expect(csv.hasPrefix("\"Section\","))
            #expect(csv.contains("\n\"Total\","))
            let events = try await client.execute(
                uri: "/v1/events?after=10&limit=5", method: .get, headers: fixture.headers(.auditor)
            ) { json($0.body) }
            let list = events["events"] as? [[String: Any]] ?? []
            #expect(list.compactMap { $0["position"] as? Int } == [11, 12, 13, 14, 15])
            #expect(events["next"] as? Int == 15)
        }
    }

    @Test("the organisations behind I.3: JSON rows add up to the figure, CSV with a byte-order mark, filters")
    func organisations() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            let period = "from=2024-01-01&to=2026-12-31&asOf=300"
            let report = try await client.execute(
                uri: "/v1/indicators/i3?\(period)", method: .get, headers: fixture.headers(.viewer)
            ) { json($0.body) }
            let list = try await client.execute(
                uri: "/v1/indicators/i3/organisations?\(period)", method: .get, headers: fixture.headers(.viewer)
            ) { response in
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                return json(response.body)
            }
            let rows = list["organisations"] as? [[String: Any]] ?? []
            let total = try #require(report["total"] as? Int)
            #expect(total > 0)
            #expect(rows.count == total)
            #expect((list["asOf"] as? [String: Any])?["position"] as? Int == 300)
            let first = try #require(rows.first)
            #expect(
                Set(first.keys) == [
                    "organisationId", "name", "regionCode", "leadershipGender", "settlement", "registrationStatus",
                    "channels", "firstAccess",
                ])
            let access = try #require(first["firstAccess"] as? [String: Any])
            #expect((access["subGrantId"] != nil) == (access["channel"] as? String == "subGrant"))
            // One cell's filter lists that cell's count.
            let cell = try #require((report["cells"] as? [[String: Any]])?.first)
            let filters = ["regionCode", "leadershipGender", "settlement", "registrationStatus"]
                .map { "\($0)=\(cell[$0] as? String ?? "")" }.joined(separator: "&")
            let inCell = try await client.execute(
                uri: "/v1/indicators/i3/organisations?\(period)&\(filters)", method: .get,
                headers: fixture.headers(.auditor)
            ) { (json($0.body)["organisations"] as? [[String: Any]])?.count }
            #expect(inCell == cell["count"] as? Int)
            let csv = try await client.execute(
                uri: "/v1/indicators/i3/organisations?\(period)&format=csv&bom=true", method: .get,
                headers: fixture.headers(.manager)
            ) { response in
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                return Array(response.body.readableBytesView)
            }
            #expect(Array(csv.prefix(3)) == [0xEF, 0xBB, 0xBF])
            let csvLines = String(decoding: csv.dropFirst(3), as: UTF8.self).split(separator: "\n")
            #expect(csvLines.first?.hasPrefix("\"organisationId\",\"name\",\"regionCode\"") == true)
            #expect(csvLines.count == total + 1)
            // `call` (the CLI's --call) and `callId` name the same filter.
            var byCall: [Int?] = []
            for parameter in ["callId", "call"] {
                byCall.append(
                    try await client.execute(
                        uri: "/v1/indicators/i3/organisations?\(period)&\(parameter)=CSOLA-2024", method: .get,
                        headers: fixture.headers(.viewer)
                    ) { (json($0.body)["organisations"] as? [[String: Any]])?.count })
            }
            #expect(byCall[0] == byCall[1])
            #expect((byCall[0] ?? 0) > 0 && (byCall[0] ?? 0) < total)
            try await client.execute(
                uri: "/v1/indicators/i3/organisations?\(period)&callId=CSOLA-2024&call=EIDHR-2024", method: .get,
                headers: fixture.headers(.viewer)
            ) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/indicators/i3/organisations?\(period)&channel=grant", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .badRequest)
                #expect(errorCode($0.body) == "invalid")
            }
            try await client.execute(
                uri: "/v1/indicators/i3/organisations?from=2024-01-01&to=2026-12-31&asOf=99999999", method: .get,
                headers: fixture.headers(.viewer)
            ) { #expect($0.status == .notFound) }
        }
    }

    @Test("the sample's sign-off, its restatement in JSON and words, progress against its targets")
    func signOffsAndProgress() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            let list = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs", method: .get, headers: fixture.headers(.viewer)
            ) { response in
                (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [[String: Any]] ?? []
            }
            #expect(list.compactMap { $0["reportId"] as? String } == ["I3-2025-ANNUAL"])
            let signOff = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL", method: .get, headers: fixture.headers(.auditor)
            ) { json($0.body) }
            let position = try #require(signOff["position"] as? Int)
            #expect((signOff["asOf"] as? [String: Any])?["position"] as? Int == position)
            #expect(((signOff["figures"] as? [String: Any])?["byRegion"] as? [String: Any])?.count == 20)
            #expect((signOff["recorded"] as? [String: Any])?["actor"] as? String == "sample")

            // An auditor's restatement names the organisations (a viewer's shows pseudonyms).
            let restatement = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement", method: .get,
                headers: fixture.headers(.auditor)
            ) { json($0.body) }
            let changes = restatement["changes"] as? [[String: Any]] ?? []
            let byOrganisation = Dictionary(
                uniqueKeysWithValues: changes.compactMap { c in (c["organisationId"] as? String).map { ($0, c) } })
            #expect(byOrganisation["CSO-61-SOZAK-JASTAR"]?["change"] as? String == "added")
            #expect(byOrganisation["CSO-62-STEP"]?["change"] as? String == "removed")
            let cause = (byOrganisation["CSO-62-STEP"]?["causes"] as? [[String: Any]])?.first
            #expect(cause?["type"] as? String == "SubGrantCancelled")
            #expect(cause?["businessDate"] as? String == "2026-02-01")
            #expect((restatement["signedOff"] as? [String: Any])?["position"] as? Int == position)
            #expect(((restatement["delta"] as? [String: Any])?["byRegion"] as? [String: Any])?["KZ-62"] as? Int == -1)
            let words = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement?format=table", method: .get,
                headers: fixture.headers(.auditor)
            ) { String(buffer: $0.body) }
            #expect(
                words.contains(
                    "CSO-61-SOZAK-JASTAR added (KZ-61 men rural unregistered): sub-grant SG-952 awarded 2025-11-30, recorded "
                ))
            #expect(
                words.contains(
                    "CSO-62-STEP removed (was KZ-62 mixed rural unregistered): sub-grant SG-951 cancelled 2026-02-01"))
            try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL/restatement?asOf=\(position - 1)", method: .get,
                headers: fixture.headers(.viewer)
            ) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/NOPE/restatement", method: .get, headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .notFound)
                #expect(errorCode($0.body) == "notFound")
            }

            let progress = try await client.execute(
                uri: "/v1/indicators/i3/progress", method: .get, headers: fixture.headers(.viewer)
            ) { json($0.body) }
            let targets = progress["targets"] as? [[String: Any]] ?? []
            #expect(targets.compactMap { $0["targetId"] as? String } == ["I3-CSOLA", "I3-ROADMAP"])
            let roadmap = try #require(targets.last)
            #expect(roadmap["programme"] is NSNull)
            #expect((roadmap["achieved"] as? String)?.count == 6)
            let csv = try await client.execute(
                uri: "/v1/indicators/i3/progress?programme=CSO-LA&format=csv", method: .get,
                headers: fixture.headers(.viewer)
            ) { String(buffer: $0.body) }
            #expect(
                csv.hasPrefix(
                    "\"targetId\",\"indicator\",\"programme\",\"from\",\"to\",\"baseline\",\"target\",\"actual\",\"achieved\","
                ))
            #expect(csv.contains("\n\"I3-CSOLA\",\"I.3\",\"CSO-LA\",\"2024-01-01\",\"2026-12-31\",\"\",60,"))
            #expect(!csv.contains("I3-ROADMAP"))

            // A sign-off over HTTP, and one beyond the head.
            let body = { (id: String, at: Int) in
                ByteBuffer(
                    string: #"{"command":"signOffIndicatorReport","commandId":"so-\#(id)","reportId":"\#(id)","#
                        + #""indicator":"I.3","from":"2024-01-01","to":"2024-12-31","position":\#(at),"#
                        + #""signedOffOn":"2025-01-31"}"#)
            }
            try await client.execute(
                uri: "/v1/commands", method: .post, headers: fixture.headers(.manager), body: body("I3-2024", 100)
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/v1/commands", method: .post, headers: fixture.headers(.manager), body: body("I3-FUTURE", 999_999)
            ) {
                #expect(errorCode($0.body) == "ruleViolated")
                #expect(String(buffer: $0.body).contains("\\\"position\\\" 999999"))
            }
        }
    }

    @Test("the results framework: the catalogue, an indicator by its code, I.3 by its code, an unknown code")
    func framework() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            try await client.execute(uri: "/v1/indicators", method: .get, headers: fixture.headers(.viewer)) {
                let indicators = json($0.body)["indicators"] as? [[String: Any]]
                #expect(indicators?.count == 14)
                #expect(indicators?.first?["code"] as? String == "I.1")
                #expect(indicators?.last?["objective"] as? String == "III")
            }
            try await client.execute(
                uri: "/v1/indicators/III.5?from=2024-01-01&to=2026-12-31", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .ok)
                let report = json($0.body)
                #expect(report["indicator"] as? String == "III.5")
                #expect((report["value"] as? Int ?? 0) > 0)  // the sample's capacity development
                #expect((report["byTheme"] as? [String: Int])?.count == 9)
                #expect((report["byRegion"] as? [String: Int])?.count == 21)
            }
            try await client.execute(
                uri: "/v1/indicators/I.3?from=2024-01-01&to=2026-12-31", method: .get, headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .ok)
                #expect(json($0.body)["total"] is Int)  // the §4 report
            }
            try await client.execute(
                uri: "/v1/indicators/I.5?from=2024-01-01&to=2026-12-31&programme=CSO-LA", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .notFound)
            }
            for (uri, status) in [
                ("/v1/indicators/III.5/activities?from=2024-01-01&to=2026-12-31", HTTPResponse.Status.ok),
                ("/v1/indicators/III.3/organisations?from=2024-01-01&to=2026-12-31&format=csv", .ok),
                ("/v1/indicators/I.5/activities?from=2024-01-01&to=2026-12-31", .notFound),
                ("/v1/indicators/III.3/activities?from=2024-01-01&to=2026-12-31", .notFound),
            ] {
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(.viewer)) {
                    #expect($0.status == status, "\(uri)")
                    if uri.hasPrefix("/v1/indicators/III.5") { #expect(json($0.body)["activities"] as? [Any] != nil) }
                    if uri.contains("format=csv") {
                        #expect(String(buffer: $0.body).hasPrefix(#""organisationId","name""#))
                    }
                }
            }
            try await client.execute(
                uri: "/v1/indicators/IV.1?from=2024-01-01&to=2026-12-31", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .notFound)
                #expect(errorCode($0.body) == "notFound")
            }
        }
    }

    @Test("§14 on the sample: III.6 signed off before a retraction, restated, its target's progress")
    func anyIndicatorSignOffs() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            func get(_ uri: String, _ role: Role = .viewer) async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(role)) {
                    ($0.status, String(buffer: $0.body))
                }
            }
            let (status, listText) = try await get("/v1/indicators/III.6/sign-offs")
            #expect(status == .ok)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(listText.utf8)) as? [[String: Any]])
            #expect(list.map { $0["reportId"] as? String } == ["III6-2025-ANNUAL"])
            let signed = try #require(list.first)
            #expect((signed["recorded"] as? [String: Any])?["actor"] == nil)  // a viewer
            let position = try #require(signed["position"] as? Int)
            // The recorded figures are the indicator's report at the sign-off's position.
            let atPosition = json(
                try await get("/v1/indicators/III.6?from=2025-01-01&to=2025-12-31&asOf=\(position)").1)
            let figures = try #require(signed["figures"] as? [String: Any])
            #expect(figures["value"] as? Int == atPosition["value"] as? Int)
            #expect((figures["value"] as? Int ?? 0) > 0)
            let now = json(try await get("/v1/indicators/III.6?from=2025-01-01&to=2025-12-31").1)
            let (restatedStatus, restatedText) = try await get(
                "/v1/indicators/III.6/sign-offs/III6-2025-ANNUAL/restatement", .auditor)
            #expect(restatedStatus == .ok)
            let restatement = json(restatedText)
            #expect((restatement["signedOff"] as? [String: Any])?["value"] as? Int == figures["value"] as? Int)
            #expect((restatement["current"] as? [String: Any])?["value"] as? Int == now["value"] as? Int)
            #expect((restatement["delta"] as? [String: Any])?["value"] as? Int == -1)
            let changes = restatement["changes"] as? [[String: Any]]
            #expect(changes?.map { $0["activityId"] as? String } == ["ACT-EU-07"])
            let cause = (changes?.first?["causes"] as? [[String: Any]])?.first
            #expect(
                cause?["type"] as? String == "ActivityRetracted" && cause?["businessDate"] as? String == "2026-02-10")
            // Progress against III.6's target: the value for the target's period, from the log.
            let whole = json(try await get("/v1/indicators/III.6?from=2024-01-01&to=2026-12-31").1)
            let progress = json(try await get("/v1/indicators/III.6/progress").1)
            let target = (progress["targets"] as? [[String: Any]])?.first
            #expect(target?["targetId"] as? String == "III6-ROADMAP")
            #expect(target?["actual"] as? Int == whole["value"] as? Int)
            #expect((target?["recorded"] as? [String: Any])?["actor"] == nil)
            // I.3's list keeps to I.3; the framework shows III.6's sign-off; wrong pairs are 404.
            let i3List = try await get("/v1/indicators/i3/sign-offs", .auditor).1
            #expect(!i3List.contains("III6-2025-ANNUAL"))
            let framework = json(try await get("/v1/results-framework?from=2025-01-01&to=2025-12-31").1)
            let entry = (framework["indicators"] as? [[String: Any]])?.first { $0["indicator"] as? String == "III.6" }
            #expect((entry?["latestSignOff"] as? [String: Any])?["reportId"] as? String == "III6-2025-ANNUAL")
            #expect((entry?["targets"] as? [[String: Any]])?.count == 1)
            for (uri, expected) in [
                ("/v1/indicators/I.3/sign-offs/III6-2025-ANNUAL", HTTPResponse.Status.notFound),
                ("/v1/indicators/III.6/sign-offs/NOPE/restatement", .notFound),
                ("/v1/indicators/IV.1/progress", .notFound),
                ("/v1/indicators/III.6/sign-offs/III6-2025-ANNUAL/restatement?asOf=3", .notFound),
                ("/v1/indicators/III.6/progress?programme=", .badRequest),
                ("/v1/indicators/III.6/sign-offs/III6-2025-ANNUAL/restatement?format=table", .ok),
                ("/v1/indicators/III.6/progress?format=csv", .ok),
                ("/v1/results-framework?from=2025-01-01&to=2025-12-31&format=html&lang=xx", .badRequest),
            ] {
                #expect(try await get(uri, .manager).0 == expected, "\(uri)")
            }
            // The framework's printable page, in the language asked for.
            let (pageStatus, page) = try await get(
                "/v1/results-framework?from=2025-01-01&to=2025-12-31&format=html&lang=kk")
            #expect(pageStatus == .ok)
            #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("<html lang=\"kk\">"))
            #expect(page.contains("data-indicator=\"III.6\" data-value=\"\(now["value"] as? Int ?? -1)\""))
        }
    }

    @Test("the results framework on the sample: 14 indicators, I.3 as its own report says, its latest sign-off")
    func resultsFramework() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.application.test(.router) { client in
            var signOffs: [[String: Any]] = []
            try await client.execute(
                uri: "/v1/indicators/i3/sign-offs", method: .get, headers: fixture.headers(.auditor)
            ) {
                signOffs =
                    (try? JSONSerialization.jsonObject(with: Data(String(buffer: $0.body).utf8))) as? [[String: Any]]
                    ?? []
            }
            let signed = try #require(signOffs.last)
            let (from, to) = (try #require(signed["from"] as? String), try #require(signed["to"] as? String))
            var total: Int?
            try await client.execute(
                uri: "/v1/indicators/i3?from=\(from)&to=\(to)", method: .get, headers: fixture.headers(.viewer)
            ) { total = json($0.body)["total"] as? Int }
            var entries: [[String: Any]] = []
            try await client.execute(
                uri: "/v1/results-framework?from=\(from)&to=\(to)", method: .get, headers: fixture.headers(.viewer)
            ) {
                #expect($0.status == .ok)
                entries = json($0.body)["indicators"] as? [[String: Any]] ?? []
            }
            #expect(entries.map { $0["indicator"] as? String } == ResultsFramework.indicators.map(\.code))
            let i3 = try #require(entries.first { $0["indicator"] as? String == "I.3" })
            #expect(i3["value"] as? Int == total)
            #expect((i3["latestSignOff"] as? [String: Any])?["reportId"] as? String == signed["reportId"] as? String)
            #expect(entries.first { $0["indicator"] as? String == "I.5" }?["value"] is NSNull)
            // Targets are shown, without who recorded them to a viewer (docs/domain.md §15).
            let targets = try #require(i3["targets"] as? [[String: Any]])
            #expect(!targets.isEmpty)
            for target in targets {
                let recorded = target["recorded"] as? [String: Any]
                #expect(recorded?["actor"] == nil || recorded?["actor"] is NSNull)
            }
            // Every other value is the indicator's own report's, and the sample counts some.
            for entry in entries where !["I.3", "I.5"].contains(entry["indicator"] as? String ?? "") {
                let code = try #require(entry["indicator"] as? String)
                try await client.execute(
                    uri: "/v1/indicators/\(code)?from=\(from)&to=\(to)", method: .get, headers: fixture.headers(.viewer)
                ) { #expect(json($0.body)["value"] as? Int == entry["value"] as? Int, "\(code)") }
            }
            #expect(entries.contains { ($0["value"] as? Int ?? 0) > 0 && $0["indicator"] as? String != "I.3" })
            try await client.execute(
                uri: "/v1/results-framework?from=\(from)&to=\(to)&format=table", method: .get,
                headers: fixture.headers(.viewer)
            ) {
                #expect(String(buffer: $0.body).contains("III.6"))
            }
        }
    }

    @Test("503 while the database refuses connections, and recovery without a restart")
    func databaseOutage() async throws {
        let fixture = try await HTTPFixture.make(sample: false)
        let admin = try await fixture.db.clusterAdmin()
        try await fixture.application.test(.router) { client in
            let headers = fixture.headers(.viewer)
            try await client.execute(uri: "/v1/organisations", method: .get, headers: headers) {
                #expect($0.status == .ok)
            }
            // Take this database away: refuse new connections and end the open ones.
            try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(fixture.db.name) ALLOW_CONNECTIONS false"))
            try await admin.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(fixture.db.name) AND pid <> pg_backend_pid()"
            )
            try await client.execute(
                uri: "/v1/organisations", method: .get,
                headers: [.authorization: "Bearer glt_\(String(repeating: "0", count: 64))"]
            ) {
                #expect($0.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            // Bring it back: the same application answers again.
            try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(fixture.db.name) ALLOW_CONNECTIONS true"))
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/organisations", method: .get, headers: headers) {
                #expect($0.status == .ok)
            }
        }
    }
}
