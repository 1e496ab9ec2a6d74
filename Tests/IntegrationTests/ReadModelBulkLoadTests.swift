import EventStore
import Foundation
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// A rebuild loads the build twins without their indexes and builds them after
/// (sql/030): the indexes, the rows and the guards around the two functions.
@Suite("Read models loaded without indexes")
struct ReadModelBulkLoadTests {
    /// One index of a read-model table: its schema's read model (`rm_i3` for `rm_i3_build`
    /// too), whether the schema is the live one, and its definition with the schema's name
    /// written as `<schema>`.
    struct IndexDefinition: Hashable, CustomStringConvertible {
        let live: Bool
        let table: String
        let primary: Bool
        let definition: String
        var description: String { "\(live ? "live" : "build") \(table) \(primary ? "pkey " : "")\(definition)" }
    }

    static func indexes(on connection: PostgresConnection) async throws -> Set<IndexDefinition> {
        let rows = try await connection.query(
            """
            SELECT n.nspname, t.relname, x.indisprimary, pg_get_indexdef(x.indexrelid)
            FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname IN ('rm_entities', 'rm_i3', 'rm_entities_build', 'rm_i3_build')
            """)
        return Set(
            try rows.map { row in
                let schema = try row.decode(String.self, 0)
                return IndexDefinition(
                    live: !schema.hasSuffix("_build"), table: try row.decode(String.self, 1),
                    primary: try row.decode(Bool.self, 2),
                    definition: try row.decode(String.self, 3).replacingOccurrences(
                        of: " \(schema).", with: " <schema>."))
            })
    }

    /// A digest of every row of the live read-model tables but the checkpoints.
    static func liveRows(on connection: PostgresConnection) async throws -> [String: String] {
        var digests: [String: String] = [:]
        for table in ["rm_entities.entities", "rm_i3.profiles", "rm_i3.accesses", "rm_i3.calls", "rm_i3.rules"] {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM \(table) t"
                ))
            digests[table] = try rows.first?.decode(String.self, 0)
        }
        return digests
    }

    /// After a rebuild: the live tables are the former build twin, loaded and indexed again,
    /// and the build twin the former live tables, emptied; the rows as before; no load left.
    static func expectSwapped(
        from before: Set<IndexDefinition>, rows: [String: String], on owner: PostgresConnection,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let after = try await indexes(on: owner)
        let swapped = Set(
            before.map {
                IndexDefinition(live: !$0.live, table: $0.table, primary: $0.primary, definition: $0.definition)
            })
        #expect(
            after == swapped, "gone: \(swapped.subtracting(after)); new: \(after.subtracting(swapped))",
            sourceLocation: sourceLocation)
        #expect(try await liveRows(on: owner) == rows, sourceLocation: sourceLocation)
        let pending = try await owner.query("SELECT count(*) FROM read_model_load_indexes")
        #expect(try pending.first?.decode(Int64.self, 0) == 0, sourceLocation: sourceLocation)
    }

    /// A random history projected: its database, the runner, an owner's connection, and
    /// the indexes and live rows before anything else happens.
    static func projected(seed: UInt64, steps: Int) async throws -> (
        db: TestDatabase, runner: ProjectionRunner, owner: PostgresConnection, indexes: Set<IndexDefinition>,
        rows: [String: String]
    ) {
        let (_, db, log) = try await HistoryGenerator.recorded(seed: seed, steps: steps)
        let runner = ProjectionRunner(pool: db.pool)
        _ = try await runner.sealAndCatchUp(reaching: log.last?.position)
        let owner = try await db.owner()
        return (db, runner, owner, try await indexes(on: owner), try await liveRows(on: owner))
    }

    @Test("a rebuild leaves every index as the twin had it, and the same rows")
    func indexesAndRows() async throws {
        let (db, runner, owner, before, rowsBefore) = try await Self.projected(seed: 11, steps: 400)
        #expect(before.filter { $0.primary && $0.live }.count >= 8, "\(before)")
        #expect(before.contains { $0.definition.contains("accesses_first") })
        #expect(rowsBefore["rm_i3.accesses"]?.hasPrefix("0:") == false)

        try await runner.rebuild()

        try await Self.expectSwapped(from: before, rows: rowsBefore, on: owner)
        #expect(try await ReadModelCheck.run(pool: db.pool).allSatisfy { $0.ok })

        // The lookups the read models serve still use their indexes.
        let plan = try await owner.query(
            "EXPLAIN (FORMAT TEXT) SELECT doc FROM rm_entities.entities WHERE kind = 'grant' AND id = 'GR-1'"
        ).map { try $0.decode(String.self, 0) }.joined(separator: "\n")
        #expect(plan.contains("entities_pkey"), "\(plan)")

        // A second rebuild loads the other twin: the same again.
        try await runner.rebuild()
        #expect(try await Self.indexes(on: owner) == before)
        #expect(try await Self.liveRows(on: owner) == rowsBefore)
    }

    @Test("a load left without its end never goes live; the next rebuild finishes it; only build twins, only by name")
    func unfinishedLoad() async throws {
        let (db, runner, owner, before, rowsBefore) = try await Self.projected(seed: 12, steps: 200)
        let app = try await PostgresConnection.connect(db.appURL)

        // A load that fails part-way leaves the twin as it was.
        try await app.query("BEGIN")
        try await app.query("SELECT read_model_load_begin('rm_i3_build')")
        await expectRefused("INSERT INTO rm_i3_build.accesses (position) VALUES (1)", on: app)
        try await app.query("ROLLBACK")
        #expect(try await Self.indexes(on: owner) == before)

        // The application role begins a load and commits without its end.
        let dropped = try await app.query("SELECT read_model_load_begin('rm_i3_build')")
        #expect(try dropped.first?.decode(Int.self, 0) ?? 0 >= 6)
        let left = try await Self.indexes(on: owner)
        #expect(!left.contains { !$0.live && $0.definition.contains(".accesses ") })
        #expect(left.filter(\.live) == before.filter(\.live))
        await expectRefused("SELECT swap_read_model('i3')", on: app)
        #expect(try await Self.liveRows(on: owner) == rowsBefore)

        // Only the build twins, only the functions write the noted statements.
        for statement in [
            "SELECT read_model_load_begin('rm_i3')",
            "SELECT read_model_load_begin('rm_entities')",
            "SELECT read_model_load_begin('public')",
            "SELECT read_model_load_begin('rm_i3_verify')",
            "SELECT read_model_load_begin(NULL)",
            "SELECT read_model_load_end('rm_i3')",
            "SELECT * FROM read_model_load_indexes",
            "DELETE FROM read_model_load_indexes",
            "INSERT INTO read_model_load_indexes VALUES ('rm_i3_build', 99, 'DROP TABLE events')",
            "UPDATE read_model_load_indexes SET statement = 'DROP TABLE events'",
            "CREATE INDEX ON rm_i3_build.accesses (position)",
        ] {
            await expectRefused(statement, on: app)
        }

        // The next rebuild builds the noted indexes first, then loads as usual.
        try await runner.rebuild()
        try await Self.expectSwapped(from: before, rows: rowsBefore, on: owner)
    }
}
