import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresClient

/// Which PostgreSQL role a command connects as, and where its connection string comes from.
protocol ConnectionRole {
    /// What `--database-url` names, for help.
    static var abstract: String { get }
    /// The environment variable read when `--database-url` is not given.
    static var environmentVariable: String { get }
}

/// The application role: every command that reads or appends.
enum ApplicationRole: ConnectionRole {
    static let abstract = "libpq connection URI or string."
    static let environmentVariable = "GRANTLEDGER_DATABASE_URL"
}

/// The migration role, which may become the database owner (migrations, tokens, archive import).
enum MigrationRole: ConnectionRole {
    static let abstract = "libpq connection URI of the migration role."
    static let environmentVariable = "GRANTLEDGER_MIGRATION_DATABASE_URL"
}

/// The connection flag of a command that talks to PostgreSQL as `Role`.
struct ConnectionOptions<Role: ConnectionRole>: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            Role.abstract,
            discussion: "Default: \(Role.environmentVariable), else the PG* environment variables."))
    var databaseURL: String?

    /// The conninfo to use; an empty string lets libpq read the PG* variables.
    var conninfo: String {
        databaseURL ?? ProcessInfo.processInfo.environment[Role.environmentVariable] ?? ""
    }
}

/// Connection flags shared by every command that talks to PostgreSQL as the application.
typealias DatabaseOptions = ConnectionOptions<ApplicationRole>
/// Connection flags of the commands that act as the database owner.
typealias OwnerDatabaseOptions = ConnectionOptions<MigrationRole>

extension ConnectionOptions where Role == ApplicationRole {
    func makePool(maxConnections: Int = 4) -> ConnectionPool {
        ConnectionPool(conninfo: conninfo, maxConnections: maxConnections, acquireTimeout: 30)
    }
}

extension ConnectionOptions where Role == MigrationRole {
    /// A connection acting as the database owner.
    func connectAsOwner() async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(conninfo)
        try await connection.assumeDatabaseOwner()
        return connection
    }
}

/// An identifier given on the command line (docs/domain.md §1): refused before anything runs.
struct IdentifierArgument: ExpressibleByArgument, Sendable {
    let value: String

    init?(argument: String) {
        guard Identifier.isValid(argument) else { return nil }
        value = argument
    }
}

/// A filter value given on the command line: 1-200 characters without U+0000 (`FilterText`).
struct FilterArgument: ExpressibleByArgument, Sendable {
    let value: String

    init?(argument: String) {
        guard FilterText.isValid(argument) else { return nil }
        value = argument
    }
}

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Exit codes, one per error class, documented in `grantledger --help` and the README.
enum ExitStatus {
    static let invalid: Int32 = 10
    static let notFound: Int32 = 11
    static let alreadyExists: Int32 = 12
    static let ruleViolated: Int32 = 13
    static let conflict: Int32 = 14
    static let database: Int32 = 20
    static let integrity: Int32 = 21
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// True when standard error is a terminal (progress output goes there).
var stderrIsTerminal: Bool { isatty(2) == 1 }

/// Runs `body`, turning database failures into a message and exit code 20.
func withDatabaseErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as PostgresError {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.database)
    } catch EventStoreError.database(let error) {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.database)
    }
}

/// The bytes of `file`, or of standard input for `-`.
/// - Throws: exit code 1 with a message when the file cannot be read.
func readInput(_ file: String) throws -> Data {
    if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
    guard let contents = FileManager.default.contents(atPath: file) else {
        printError("error: cannot read \(file)")
        throw ExitCode(1)
    }
    return contents
}

// Typed options: a bad date or cut-off is a usage error that names the option (exit 64).
extension BusinessDate: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension CutOff: ExpressibleByArgument {
    public init?(argument: String) {
        guard let cutOff = CutOff.parse(argument) else { return nil }
        self = cutOff
    }
}
