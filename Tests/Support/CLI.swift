import Foundation
import GrantLedgerHTTP
import Testing

/// Runs the built `grantledger` executable against a test database.
struct CLI {
    let databaseURL: String
    /// The migration role's URL for this database (token and archive commands); unset
    /// otherwise, so that no command reaches another database by accident.
    var migrationURL: String? = nil

    /// `grantledger` beside the running test executable (`<package>PackageTests.xctest`): the
    /// build that built the tests built it too, in the same directory, whatever the build
    /// path or configuration.
    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("grantledger")

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `grantledger` with this database (the test process's working directory, the
    /// repository, is the child's too).
    func run(_ arguments: [String], stdin: String? = nil) async throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        environment["GRANTLEDGER_DATABASE_URL"] = databaseURL
        environment["GRANTLEDGER_MIGRATION_DATABASE_URL"] = migrationURL ?? ""
        environment["GRANTLEDGER_ACTOR"] = "cli-test"
        environment["GRANTLEDGER_MIGRATIONS"] = Self.repository.appendingPathComponent("sql").path
        let result = try await Subprocess.run(Self.executable.path, arguments, environment: environment, stdin: stdin)
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    func json(_ result: Result) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
    }
}
