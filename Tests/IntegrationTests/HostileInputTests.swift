import EventStore
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing

@testable import TestSupport

/// Inputs that once crashed the server or answered 500, over HTTP and the CLI: each now
/// gets its §5 error (or a clean answer), and the server keeps serving.
@Suite("Hostile input")
struct HostileInputTests {
    static let period = "from=2024-01-01&to=2026-12-31"

    @Test("cut-offs before 1970, far ahead, with leap seconds and odd fractions answer cleanly")
    func cutOffs() async throws {
        let fixture = try await HTTPFixture.make()
        let viewer = fixture.headers(.viewer)
        try await fixture.application.test(.router) { client in
            for asOf in [
                "1969-12-31T23:59:59.5Z", "1900-01-01T00:00:00Z", "0001-01-01T00:00:00%2B14:00",
                "9999-12-31T23:59:59.999999Z",
                "9999-12-31T23:59:59-12:00", "2016-12-31T23:59:60Z", "2025-06-30T12:00:00.123456789Z",
                "2025-06-30t12:00:00z",
            ] {
                try await client.execute(
                    uri: "/v1/indicators/i3?\(Self.period)&asOf=\(asOf)", method: .get, headers: viewer
                ) {
                    #expect($0.status == .ok, "asOf=\(asOf)")
                }
            }
            try await client.execute(
                uri: "/v1/indicators/i3?\(Self.period)&asOf=1969-12-31T23:59:59.5Z", method: .get, headers: viewer
            ) {
                #expect(json($0.body)["total"] as? Int == 0)
            }
            for asOf in [
                "", "1e5", "-1", "%2B5", "99999999999999999999", "2025-02-30T00:00:00Z", "2025-06-30T24:00:00Z",
                "2025-06-30T12:00:00", "2025-06-30T12:00:00.Z", "2025-06-30T12:00:00.1234567890Z",
                "٢٠٢٥-06-30T12:00:00Z",
                "2025-06-30T12:00:00%00Z", "1%CC%81",
            ] {
                try await client.execute(
                    uri: "/v1/indicators/i3?\(Self.period)&asOf=\(asOf)", method: .get, headers: viewer
                ) {
                    #expect($0.status == .badRequest, "asOf=\(asOf)")
                    #expect(errorCode($0.body) == "invalid", "asOf=\(asOf)")
                }
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("combining marks, NUL, invalid UTF-8 and over-long values in commands are invalid, never 500")
    func commands() async throws {
        let fixture = try await HTTPFixture.make()
        let before = try await fixture.db.committedEvents().count
        try await fixture.application.test(.router) { client in
            func post(_ body: [UInt8], _ extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String?) {
                var headers = fixture.headers(.manager)
                for field in extra { headers.append(field) }
                return try await client.execute(
                    uri: "/v1/commands", method: .post, headers: headers, body: ByteBuffer(bytes: body)
                ) {
                    ($0.status, errorCode($0.body))
                }
            }
            func post(_ text: String, _ extra: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String?) {
                try await post(Array(text.utf8), extra)
            }
            let marks = String(repeating: "\u{0301}", count: 300)
            for body in [
                #"{"command":"disburseGrant","commandId":"h-1","grantId":"GR-01","amount":"1\u0301","paidOn":"2025-01-01"}"#,
                #"{"command":"disburseGrant","commandId":"h-2","grantId":"GR-01","amount":"1́","paidOn":"2025-01-01"}"#,
                #"{"command":"disburseGrant","commandId":"h-3","grantId":"GR-01","amount":"١٠","paidOn":"2025-01-01"}"#,
                #"{"command":"disburseGrant","commandId":"h-4","grantId":"GR-01","amount":"10","paidOn":"2025-01-0\u0661"}"#,
                #"{"command":"updateOrganisationProfile","commandId":"h-5","organisationId":"ORG-001","name":"a\u0000b"}"#,
                #"{"command":"closeGrant","commandId":"h-\u0000","grantId":"GR-01","closedOn":"2026-01-01"}"#,
                #"{"command":"closeGrant","commandId":"a\#(marks)","grantId":"GR-01","closedOn":"2026-01-01"}"#,
                #"{"command":"closeGrant","commandId":"h-6","grantId":"GR-01","closedOn":"2026-01-01","x\u0000":1}"#,
                #"{"command":"updateOrganisationProfile","commandId":"h-7","organisationId":"ORG-001","name":"\#(String(repeating: "é", count: 301))"}"#,
                #"{"command":"registerOrganisation","commandId":"h-8","organisationId":"X1","name":"n","country":"K\u0301","registrationStatus":"registered","leadershipGender":"women","kind":"cso"}"#,
            ] {
                let result = try await post(body)
                #expect(result == (.badRequest, "invalid"), "\(body.prefix(120))")
            }
            // 151 "é" written as e + combining accent: 151 characters but 302 scalars, too long.
            let decomposed = String(repeating: "e\u{0301}", count: 151)
            #expect(
                try await post(
                    #"{"command":"updateOrganisationProfile","commandId":"h-9","organisationId":"ORG-001","name":"\#(decomposed)"}"#
                ) == (.badRequest, "invalid"))
            // Invalid UTF-8 in the body is refused, not repaired and stored.
            var broken = Array(
                #"{"command":"updateOrganisationProfile","commandId":"h-10","organisationId":"ORG-001","name":"ab"}"#
                    .utf8)
            broken.insert(0xFF, at: broken.count - 3)
            #expect(try await post(broken) == (.badRequest, "invalid"))
            // An Idempotency-Key of 129 scalars.
            let longKey = String(repeating: "k", count: 129)
            #expect(
                try await post(
                    #"{"command":"closeGrant","grantId":"GR-01","closedOn":"2026-01-01"}"#,
                    [.init("Idempotency-Key")!: longKey])
                    == (.badRequest, "invalid"))
            // Nothing of the above was recorded.
            #expect(try await fixture.db.committedEvents().count == before)
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test(
        "query parameters with NUL, invalid UTF-8 or more than 200 characters are invalid; the filter is never cut short"
    )
    func queryParameters() async throws {
        let fixture = try await HTTPFixture.make()
        let viewer = fixture.headers(.viewer)
        try await fixture.application.test(.router) { client in
            let long = String(repeating: "p", count: 60_000)
            for uri in [
                "/v1/organisations?region=KZ-43%00junk", "/v1/organisations?region=KZ-43%FF",
                "/v1/organisations?region=%E2%82",
                "/v1/organisations?region=%zz", "/v1/organisations?reg%00ion=KZ-43",
                "/v1/indicators/i3?\(Self.period)&programme=\(long)",
                "/v1/calls?programme=\(String(repeating: "é", count: 201))",
                "/v1/grants?cursor=%00", "/v1/events?after=1%00",
            ] {
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(.auditor)) {
                    #expect($0.status == .badRequest, "\(uri.prefix(80))")
                    #expect(errorCode($0.body) == "invalid", "\(uri.prefix(80))")
                }
            }
            // 200 characters is still fine, and a cursor this API never issued is not an error.
            try await client.execute(
                uri: "/v1/calls?programme=\(String(repeating: "é", count: 200))", method: .get, headers: viewer
            ) {
                #expect($0.status == .ok)
            }
            for cursor in ["not-base64!", "AAAA", "%F0%9F%98%80", "Zm9v"] {
                try await client.execute(uri: "/v1/grants?cursor=\(cursor)", method: .get, headers: viewer) {
                    #expect($0.status == .ok, "cursor=\(cursor)")
                }
            }
        }
    }

    @Test("unsupported methods on known paths answer 405 with Allow")
    func methodNotAllowed() async throws {
        let fixture = try await HTTPFixture.make(sample: false)
        try await fixture.application.test(.router) { client in
            for (uri, method, allow) in [
                ("/v1/commands", HTTPRequest.Method.get, "POST"), ("/v1/grants/GR-01", .delete, "GET"),
                ("/v1/organisations", .put, "GET"), ("/healthz", .post, "GET"),
            ] {
                try await client.execute(uri: uri, method: method, headers: fixture.headers(.manager)) {
                    #expect($0.status == .methodNotAllowed, "\(method) \(uri)")
                    #expect($0.headers[.allow] == allow, "\(method) \(uri)")
                }
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get, headers: fixture.headers(.manager)) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("one audit verification at a time; unknown tokens are refused without growing without bound")
    func boundedWork() async throws {
        // What is bounded here is the verifications, not the connections: a request that waits
        // for one of the four longer than the fixture's 2 s (a local full run of the suite
        // saw one answer neither 200 nor 429) would test the pool instead.
        let fixture = try await HTTPFixture.make(acquireTimeout: 30)
        try await fixture.application.test(.router) { client in
            // Several verifications at once: each either completes or is told to retry.
            let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/audit/verify", method: .get, headers: fixture.headers(.auditor)
                        ) {
                            ($0.status, $0.headers[.retryAfter])
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.contains { $0.0 == .ok })
            #expect(
                statuses.allSatisfy { $0.0 == .ok || ($0.0 == .tooManyRequests && $0.1 == "5") },
                "\(statuses.map { "\($0.0.code) \($0.1 ?? "-")" })")
            for index in 0..<50 {
                let token = "glt_" + String(format: "%064x", index)
                try await client.execute(uri: "/v1/grants", method: .get, headers: [.authorization: "Bearer \(token)"])
                {
                    #expect($0.status == .unauthorized)
                }
            }
            try await client.execute(uri: "/v1/grants", method: .get, headers: [.authorization: "Bearer a\u{0}b"]) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("the CLI refuses the same inputs with exit 10 and reports before 1970 cleanly")
    func cli() async throws {
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL)
        let sample = CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl").path
        #expect(try await cli.run(["import", sample]).status == 0)
        let before = try await db.committedEvents().count
        let early = try await cli.run([
            "report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--as-of", "1969-12-31T23:59:59.5Z",
        ])
        #expect(early.status == 0, "\(early.stderr)")
        #expect(try cli.json(early)["total"] as? Int == 0)
        #expect(
            try await cli.run(["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--as-of", "1\u{301}"])
                .status
                != 0)
        let long = String(repeating: "p", count: 201)
        #expect(
            try await cli.run(["report", "i3", "--from", "2024-01-01", "--to", "2026-12-31", "--programme", long])
                .status != 0
        )
        let money = try await cli.run(
            ["submit", "-", "--format", "json"],
            stdin: #"{"command":"disburseGrant","grantId":"GR-01","amount":"1\u0301","paidOn":"2025-01-01"}"#)
        #expect(money.status == 10)
        let nul = try await cli.run(
            ["submit", "-"],
            stdin: #"{"command":"closeGrant","commandId":"c\u0000","grantId":"GR-01","closedOn":"2026-01-01"}"#)
        #expect(nul.status == 10)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gl-bad-\(UUID().uuidString).jsonl")
        var bytes = Array(
            #"{"command":"closeCall","commandId":"bad-utf8","callId":"CSOLA-2024","closedOn":"2026-01-01"}"#.utf8)
        bytes.insert(0xC3, at: 30)
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try await cli.run(["import", file.path]).status == 10)
        #expect(try await cli.run(["submit", file.path]).status == 10)
        #expect(try await db.committedEvents().count == before)
    }

    @Test("the real server survives the two one-line crashes of the past and keeps serving")
    func liveServer() async throws {
        let fixture = try await HTTPFixture.make()
        let server = try await LiveServer.start(databaseURL: fixture.db.appURL)
        defer { server.stop() }
        let viewer = "Authorization: Bearer \(fixture.tokens[.viewer] ?? "")"
        let manager = "Authorization: Bearer \(fixture.tokens[.manager] ?? "")"
        let crash1 = try await server.curl([
            "-H", viewer, "\(server.base)/v1/indicators/i3?\(Self.period)&asOf=1969-12-31T23:59:59.5Z",
        ])
        #expect(crash1.status == 200)
        let crash2 = try await server.curl([
            "-X", "POST", "-H", manager, "-H", "Content-Type: application/json", "--data-binary",
            #"{"command":"disburseGrant","commandId":"live-1","grantId":"GR-01","amount":"1\u0301","paidOn":"2025-01-01"}"#,
            "\(server.base)/v1/commands",
        ])
        #expect(crash2.status == 400)
        #expect(crash2.body.contains(#""invalid""#))
        #expect(server.isRunning)
        #expect(try await server.curl(["\(server.base)/healthz"]).status == 200)
    }
}

/// The OpenAPI document as the truth: for every query and path parameter it declares, the
/// edges of what it allows are accepted and the first value past them is refused.
@Suite("OpenAPI parameters match the server")
struct OpenAPIParameterTests {
    /// Values the document allows for a parameter, from its schema, and values it does not.
    static func edges(_ name: String, _ schema: [String: Any]) -> (allowed: [String], refused: [String]) {
        if schema["anyOf"] != nil {  // asOf
            return (
                ["0", "1969-12-31T23:59:59.5Z", "2016-12-31T23:59:60Z", "9999-12-31T23:59:59.999999999-12:00"],
                ["", "soon"]
            )
        }
        if schema["format"] as? String == "date" {
            return (["1900-01-01", "2024-02-29"], ["", "2025-02-29", "1899-12-31"])
        }
        if let values = schema["enum"] as? [String] {
            return (values, ["", "none-of-them", (values.first ?? "") + "x", "a%00b"])
        }
        if schema["type"] as? String == "integer" {
            let minimum = (schema["minimum"] as? Int) ?? 0
            let maximum = schema["maximum"] as? Int
            return (
                [String(minimum)] + (maximum.map { [String($0)] } ?? []),
                [String(minimum - 1)] + (maximum.flatMap { $0 == Int.max ? nil : String($0 + 1) }.map { [$0] } ?? [])
            )
        }
        let maxLength = (schema["maxLength"] as? Int) ?? 200
        let longest =
            String(repeating: "é", count: maxLength).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let tooLong =
            String(repeating: "é", count: maxLength + 1).addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            ?? ""
        return (["x", longest], [tooLong, "a%00b"])
    }

    @Test("every declared query and path parameter, at its edges")
    func parameters() async throws {
        let fixture = try await HTTPFixture.make()
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        // (uri, allowed by the document, a path parameter, what is being checked)
        var cases: [(uri: String, allowed: Bool, label: String)] = []
        for (path, operations) in paths.sorted(by: { $0.key < $1.key }) {
            guard let get = operations["get"] as? [String: Any] else { continue }
            let parameters = (get["parameters"] as? [[String: Any]]) ?? []
            let names = Set(parameters.compactMap { $0["name"] as? String })
            // Required query parameters at a valid value; the one under test replaces its own.
            // (to must not be before from: a rule between two parameters, stated in words.)
            var base = ["from": "1900-01-01", "to": "9999-12-31"].filter { names.contains($0.key) }
            // A parameter's own example, where it gives one, is its valid value (a proof's
            // position, a consistency proof's sizes).
            for parameter in parameters {
                if let name = parameter["name"] as? String, let schema = parameter["schema"] as? [String: Any],
                    let example = schema["example"]
                {
                    base[name] = "\(example)"
                }
            }
            for parameter in parameters {
                guard let name = parameter["name"] as? String, let location = parameter["in"] as? String,
                    let schema = parameter["schema"] as? [String: Any], location == "query" || location == "path"
                else { continue }
                let (allowed, refused) = Self.edges(name, schema)
                // Other path parameters at a plain value (an unknown id: 404 is then an answer).
                func uri(_ value: String) -> String {
                    var filled = path
                    if location == "path" { filled = filled.replacingOccurrences(of: "{\(name)}", with: value) }
                    filled = filled.replacingOccurrences(of: "\\{[A-Za-z]+\\}", with: "x", options: .regularExpression)
                    // The required query parameters come along (a path parameter under test too:
                    // without them the request is not one the document allows).
                    var query = base
                    if location == "query" { query[name] = value }
                    if query.isEmpty { return filled }
                    return filled + "?"
                        + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
                }
                for value in allowed {
                    cases.append((uri(value), true, "\(path) \(name)=\(value.prefix(40))"))
                }
                for value in refused where location == "query" {
                    cases.append((uri(value), false, "\(path) \(name)=\(value.prefix(40))"))
                }
            }
        }
        let checks = cases
        try await fixture.application.test(.router) { client in
            for check in checks {
                try await client.execute(uri: check.uri, method: .get, headers: fixture.headers(.auditor)) {
                    if check.allowed {
                        // Never a 400 for what the document allows; a 404 when the value names
                        // nothing (an unknown id, a position beyond the head).
                        #expect($0.status == .ok || $0.status == .notFound, "\(check.label): \($0.status)")
                    } else {
                        #expect($0.status == .badRequest, "\(check.label): \($0.status)")
                    }
                }
            }
        }
        let checked = checks.count
        #expect(checked > 50)
    }
}
