import ArgumentParser
import EventStore
import Foundation
import PostgresClient

/// `grantledger migrate`: applies the SQL files of `sql/` that are not applied yet.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the numbered SQL migrations in order, once each.",
        discussion: """
            Connects with --database-url, else GRANTLEDGER_MIGRATION_DATABASE_URL: the migration \
            role, a member of the owning role, and runs the files as the owner (the owner itself \
            cannot log in). Refuses to run when an applied file has changed.
            """)

    @OptionGroup(title: "Database") var database: OwnerDatabaseOptions

    @Option(help: "Folder of NNN_name.sql files (default: ./sql or GRANTLEDGER_MIGRATIONS).")
    var directory: String?

    func run() async throws {
        let folder = directory.map { URL(fileURLWithPath: $0) } ?? Migrator.defaultDirectory()
        let migrator = try Migrator(directory: folder)
        try await withDatabaseErrors {
            let connection = try await database.connectAsOwner()
            do {
                let applied = try await migrator.migrate(on: connection)
                if applied.isEmpty {
                    print("migrations: up to date (\(migrator.migrations.count) applied)")
                } else {
                    for name in applied { print("applied \(name)") }
                }
            } catch EventStoreError.migrationChanged(let message) {
                printError("error: \(message)")
                throw ExitCode(ExitStatus.integrity)
            }
        }
    }
}
