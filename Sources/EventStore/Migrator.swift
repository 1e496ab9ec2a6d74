import Crypto
import Foundation
import Logging
import PostgresClient

/// Applies the numbered SQL files of `sql/` in order, once each.
///
/// Each file runs in its own transaction together with its record in `schema_migrations`
/// (version, name, SHA-256 checksum). A session advisory lock keeps two migrators apart.
/// A file whose checksum differs from the recorded one stops everything: history that was
/// applied must not silently change.
public struct Migrator: Sendable {
    /// A migration file.
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var sql: String
        public var checksum: String
    }

    /// The migrations found, in version order.
    public let migrations: [Migration]

    /// Loads `NNN_name.sql` files from `directory`.
    /// - Throws: when the folder cannot be read or two files share a number.
    public init(directory: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        var migrations: [Migration] = []
        for name in names {
            guard let version = Int(name.prefix(while: \.isNumber)) else { continue }
            let bytes = try Data(contentsOf: directory.appendingPathComponent(name))
            let checksum = Array(SHA256.hash(data: bytes)).hexString
            if migrations.contains(where: { $0.version == version }) {
                throw EventStoreError.migrationChanged("two migration files are numbered \(version)")
            }
            migrations.append(
                Migration(version: version, name: name, sql: String(decoding: bytes, as: UTF8.self), checksum: checksum)
            )
        }
        self.migrations = migrations
    }

    /// The `sql/` folder: `GRANTLEDGER_MIGRATIONS` if set, else `sql` under the current
    /// directory (the repository's top level, where the scripts in `deploy/` run).
    public static func defaultDirectory() -> URL {
        if let path = ProcessInfo.processInfo.environment["GRANTLEDGER_MIGRATIONS"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql")
    }

    /// Applies what is missing.
    /// - Returns: the names of the files applied now (empty when up to date).
    /// - Throws: `EventStoreError.migrationChanged` naming the changed file.
    ///
    /// The connection may be the owner of the database or a role that is a member of it
    /// (the migration role): the migrations run as the owner either way, so that everything
    /// they create belongs to it.
    public func migrate(on connection: PostgresConnection, logger: Logger? = nil) async throws -> [String] {
        try await connection.assumeDatabaseOwner()
        try await AdvisoryLock.migrations.lockForSession(on: connection)
        do {
            let applied = try await apply(on: connection, logger: logger)
            try await AdvisoryLock.migrations.unlock(on: connection)
            return applied
        } catch {
            try? await AdvisoryLock.migrations.unlock(on: connection)
            throw error
        }
    }

    private func apply(on connection: PostgresConnection, logger: Logger?) async throws -> [String] {
        try await connection.executeScript(
            unsafeSQL: """
                SET client_min_messages = warning;
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     integer     PRIMARY KEY,
                    name        text        NOT NULL,
                    checksum    text        NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                );
                """)
        let rows = try await connection.query("SELECT version, name, checksum FROM schema_migrations")
        var recorded: [Int: (name: String, checksum: String)] = [:]
        for row in rows {
            let (version, name, checksum) = try row.decode((Int, String, String).self)
            recorded[version] = (name, checksum)
        }
        for migration in migrations {
            if let known = recorded[migration.version], known.checksum != migration.checksum {
                throw EventStoreError.migrationChanged(
                    "migration \(migration.name) was changed after it was applied (recorded checksum \(known.checksum.prefix(12))…, file \(migration.checksum.prefix(12))…); refusing to migrate"
                )
            }
        }
        var applied: [String] = []
        for migration in migrations where recorded[migration.version] == nil {
            try await connection.transaction { connection in
                try await connection.executeScript(unsafeSQL: migration.sql)
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """)
            }
            logger?.info("applied migration", metadata: ["migration.name": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }

    /// True when every migration file is recorded as applied.
    public func isUpToDate(on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations' AND schemaname = current_schema()")
        if try rows[0].decode(Int.self, 0) == 0 { return migrations.isEmpty }
        let applied = try await connection.query("SELECT version FROM schema_migrations")
        let versions = Set(try applied.map { try $0.decode(Int.self, 0) })
        return migrations.allSatisfy { versions.contains($0.version) }
    }

    /// How many migration files are not recorded as applied: one query, for a readiness probe
    /// polled often (`isUpToDate` also copes with a database never migrated).
    public func pendingCount(on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            SELECT count(*) FROM unnest(\("{" + migrations.map { String($0.version) }.joined(separator: ",") + "}")::int[]) v
            WHERE v NOT IN (SELECT version FROM schema_migrations)
            """)[0].decode(Int.self, 0)
    }
}
