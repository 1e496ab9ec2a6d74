import ArgumentParser
import PostgresClient

/// The `grantledger` command: grants and sub-grants on an append-only event log.
@main
struct GrantLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grantledger",
        abstract: "Grants and sub-grants for civil society, on an append-only event log in PostgreSQL.",
        discussion: """
            Database: --database-url, else GRANTLEDGER_DATABASE_URL, else the standard libpq \
            variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, ...).

            Exit codes: 0 success; 10 invalid; 11 notFound; 12 alreadyExists; 13 ruleViolated; \
            14 conflict; 20 database unavailable or failed; 21 integrity check failed; \
            64 bad command-line usage; 1 anything else.
            """,
        subcommands: [Migrate.self, Submit.self, Import.self] + domainSubcommands + [
            Show.self, List.self, Report.self, Export.self, ProjectionsCommand.self, Audit.self, Serve.self, Token.self,
            Keygen.self, WitnessCommand.self,
        ]
    )

    /// `AsyncParsableCommand.main()`, then a wait for the database connections the command
    /// released to close on their threads: the process never exits while a libpq call is
    /// still running on one of them.
    static func main() async {
        var failure: (any Error)?
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            failure = error
        }
        PostgresConnection.waitUntilAllClosed()
        if let failure { exit(withError: failure) }
    }
}
