import Foundation
import GrantLedgerHTTP
import Testing

@testable import TestSupport

/// The OpenAPI document as integrators use it: schemathesis (installed in the test virtual
/// environment by deploy/test.sh) generates requests from `/openapi.json` with every check,
/// against a real server holding the sample programme, once per role's token. A request
/// the document allows must be answered, one it forbids refused, every status and body
/// declared: any finding fails the test. `deploy/schemathesis.toml` says which answers a
/// schema cannot rule out (the business rules of a command body) and why.
@Suite("OpenAPI document under a schema-driven fuzzer")
struct OpenAPIFuzzTests {
    /// Examples per operation and phase; `GRANTLEDGER_FUZZ_EXAMPLES` (deploy/bench/openapi-fuzz.sh
    /// runs 200).
    static var examples: String { ProcessInfo.processInfo.environment["GRANTLEDGER_FUZZ_EXAMPLES"] ?? "10" }

    /// The roles whose tokens are tried, one after another: `GRANTLEDGER_FUZZ_ROLES` (comma-separated).
    /// The default three; deploy/bench/openapi-fuzz.sh adds the grantee.
    static var roles: [Role] {
        let names = ProcessInfo.processInfo.environment["GRANTLEDGER_FUZZ_ROLES"] ?? "viewer,manager,auditor"
        return names.split(separator: ",").compactMap { Role(rawValue: String($0)) }
    }

    static var schemathesis: String {
        URL(fileURLWithPath: Validators.python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
    }

    @Test("schemathesis --checks all finds nothing for a viewer, a manager or an auditor token")
    func everyRole() async throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: Self.schemathesis),
            "deploy/test.sh installs schemathesis into the test virtual environment")
        let fixture = try await HTTPFixture.make()
        let server = try await LiveServer.start(databaseURL: fixture.db.appURL)
        defer { server.stop() }
        let roles = Self.roles
        #expect(!roles.isEmpty, "GRANTLEDGER_FUZZ_ROLES names no role")
        var tokens: [Role: String] = [:]
        for role in roles { tokens[role] = try #require(fixture.tokens[role]) }
        // One role after another: three fuzzers at once on two cores starved the suites that
        // run beside this one (a 16-way command race timed out waiting for connections).
        var runs: [Role: Subprocess.Result] = [:]
        for role in roles { runs[role] = try await Self.run(server.base, token: tokens[role] ?? "") }
        for role in roles {
            let result = try #require(runs[role])
            let output = result.stdout + result.stderr
            let tail = String(output.suffix(6_000))
            #expect(result.status == 0, "schemathesis with a \(role) token:\n\(tail)")
            // The token was sent: with none, every operation would answer 401 alone.
            #expect(!output.contains("401 Unauthorized ("), "\(role):\n\(tail)")
            let cases = Self.generatedCases(output)
            #expect(cases >= 1_000, "\(role): \(cases) cases generated\n\(tail)")
            print("schemathesis, \(role) token: \(cases) cases generated, exit \(result.status)")
        }
        #expect(server.isRunning)
    }

    /// One schemathesis run in a scratch folder (it keeps caches in the working directory),
    /// its token in the environment only.
    static func run(_ base: String, token: String) async throws -> Subprocess.Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var environment = ProcessInfo.processInfo.environment
        environment["GRANTLEDGER_TOKEN"] = token
        environment["FUZZ_FOLDER"] = folder.path
        let config = CLI.repository.appendingPathComponent("deploy/schemathesis.toml").path
        return try await Subprocess.run(
            "/bin/sh",
            [
                "-c", #"cd "$FUZZ_FOLDER" && exec "$0" "$@""#, schemathesis, "--config-file", config, "run",
                "\(base)/openapi.json", "--checks", "all", "--max-examples", examples, "--seed", "1",
                "--generation-database", "none", "--no-color",
            ],
            environment: environment)
    }

    /// The "N generated" of schemathesis's summary; 0 when absent.
    static func generatedCases(_ output: String) -> Int {
        guard let range = output.range(of: #"[0-9]+ generated"#, options: .regularExpression) else { return 0 }
        return Int(output[range].prefix { $0.isNumber }) ?? 0
    }
}
