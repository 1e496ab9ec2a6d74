import EventStore
import Foundation
import GrantDomain
import PostgresClient

/// A read model recomputed from the log and compared, row by row, with what its tables hold.
///
/// The application role can write every read-model table, so a figure served from one is
/// only as good as this check: `audit verify --read-models` runs it on demand and `serve`
/// periodically (`/metrics`, `/readyz`). Each projection is rebuilt in memory from the log up
/// to the live checkpoint, written into its verification twin (`rm_<name>_verify`, sql/020)
/// inside one REPEATABLE READ transaction whose snapshot also reads the live tables, compared
/// with `EXCEPT` both ways, and rolled back: nothing is ever committed to the twin.
public struct ReadModelCheck: Sendable, Codable, Hashable {
    /// One row that differs, named by its primary key.
    public struct Difference: Sendable, Codable, Hashable {
        public enum Problem: String, Sendable, Codable {
            /// In the table, not in the recomputation: forged, or left behind.
            case extra
            /// In the recomputation, not in the table: deleted, or never projected.
            case missing
            /// In both, with different values: altered.
            case differs
        }
        public var table: String
        /// The primary key's columns and values, as `column=value` joined by `, `.
        public var key: String
        public var problem: Problem
    }

    /// The read model (`entities`, `i3`).
    public var readModel: String
    /// The checkpoint both sides stand on.
    public var position: Int64
    /// The rows compared (the recomputation's).
    public var rows: Int
    /// How many rows differ, and the first of them (at most `limit` per table).
    public var differing: Int
    public var differences: [Difference]

    public var ok: Bool { differing == 0 }

    /// Checks every one of `projections`; `limit` bounds the rows named per table.
    public static func run(
        pool: ConnectionPool, projections: [any Projection] = ProjectionRunner.standard, limit: Int = 100
    ) async throws -> [ReadModelCheck] {
        var checks: [ReadModelCheck] = []
        for projection in projections {
            checks.append(try await check(projection, pool: pool, limit: limit))
        }
        return checks
    }

    static func check(_ projection: any Projection, pool: ConnectionPool, limit: Int) async throws
        -> ReadModelCheck
    {
        let live = "rm_" + projection.name
        let twin = live + "_verify"
        let reader = DecodedLogReader(store: EventStore(pool: pool))
        let builder = projection.makeBulkBuilder()
        var quarantined: [QuarantinedEvent] = []
        // The bulk of the log is folded outside the transaction, up to the checkpoint seen
        // now; the transaction below folds the rest, up to the checkpoint its snapshot sees.
        var built = try await pool.withConnection { try await ProjectionRunner.checkpoint(ofSchema: live, on: $0) }
        try await reader.forEachBatch(upTo: built, quarantined: &quarantined) { builder.add($0) }
        return try await pool.withConnection { connection in
            // Rolled back whatever happens: the twin never keeps a row.
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ")
            do {
                let check = try await compare(
                    projection.name, live: live, twin: twin, built: &built, builder: builder, reader: reader,
                    quarantined: &quarantined, limit: limit, on: connection)
                try await connection.query("ROLLBACK")
                return check
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Inside the check's transaction: folds the log up to the checkpoint its snapshot sees,
    /// writes the recomputation into the twin and compares every table.
    private static func compare(
        _ name: String, live: String, twin: String, built: inout Int64, builder: any BulkProjectionBuilder,
        reader: DecodedLogReader, quarantined: inout [QuarantinedEvent], limit: Int, on connection: PostgresConnection
    ) async throws -> ReadModelCheck {
        let position = try await ProjectionRunner.checkpoint(ofSchema: live, on: connection)
        guard position >= built else {
            // A rebuild swapped in tables that stand earlier; the next run checks them.
            throw PostgresError(
                kind: .server, message: "\(live) moved back from \(built) to \(position) during the check")
        }
        if position > built {
            try await reader.forEachBatch(after: built, upTo: position, quarantined: &quarantined) { builder.add($0) }
            built = position
        }
        let tables = try await connection.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(twin) ORDER BY tablename"
        ).map { try $0.decode(String.self, 0) }
        try await connection.query(
            PostgresQuery(unsafeSQL: "TRUNCATE " + tables.map { "\(twin).\(quoted($0))" }.joined(separator: ", ")))
        try await builder.writer()(twin, connection)
        try await ProjectionRunner.record(quarantined, schema: twin, on: connection)
        var rows = 0
        var differing = 0
        var differences: [Difference] = []
        for table in tables {
            let result = try await compareTable(table, live: live, twin: twin, limit: limit, on: connection)
            rows += result.rows
            differing += result.differing
            differences += result.named
        }
        return ReadModelCheck(
            readModel: name, position: position, rows: rows, differing: differing, differences: differences)
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// The rows of `table` that differ between the live schema and the twin, named by the
    /// primary key.
    static func compareTable(_ table: String, live: String, twin: String, limit: Int, on connection: PostgresConnection)
        async throws -> (rows: Int, differing: Int, named: [Difference])
    {
        let keyColumns = try await connection.query(
            """
            SELECT a.attname FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = (quote_ident(\(twin)) || '.' || quote_ident(\(table)))::regclass AND i.indisprimary
            ORDER BY array_position(i.indkey::int2[], a.attnum)
            """
        ).map { try $0.decode(String.self, 0) }
        let liveTable = "\(live).\(quoted(table))"
        let twinTable = "\(twin).\(quoted(table))"
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(twinTable)"))[0]
            .decode(Int.self, 0)
        // Every differing row once, with the side(s) it stands on: a key on both sides differs.
        // Column names come from the catalogue; quoted as identifiers and as literals anyway.
        let keyText =
            keyColumns.isEmpty
            ? "t::text"
            : "concat_ws(', ', "
                + keyColumns.map { column in
                    "'\(column.replacingOccurrences(of: "'", with: "''"))=' || coalesce(t.\(quoted(column))::text, 'null')"
                }.joined(separator: ", ") + ")"
        let sql = """
            WITH extra AS (SELECT * FROM \(liveTable) EXCEPT ALL SELECT * FROM \(twinTable)),
                 missing AS (SELECT * FROM \(twinTable) EXCEPT ALL SELECT * FROM \(liveTable)),
                 sides AS (SELECT \(keyText) AS k, 'extra' AS side FROM extra t
                           UNION ALL
                           SELECT \(keyText) AS k, 'missing' AS side FROM missing t)
            SELECT k, CASE WHEN count(DISTINCT side) > 1 THEN 'differs' ELSE min(side) END
            FROM sides GROUP BY k ORDER BY k
            """
        let found = try await connection.query(PostgresQuery(unsafeSQL: sql))
        var named: [Difference] = []
        for row in found.prefix(limit) {
            guard let problem = Difference.Problem(rawValue: try row.decode(String.self, 1)) else { continue }
            named.append(Difference(table: table, key: try row.decode(String.self, 0), problem: problem))
        }
        return (rows, found.count, named)
    }
}
