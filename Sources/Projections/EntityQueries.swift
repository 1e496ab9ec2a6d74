import PostgresClient

/// The `rm_entities` read model as the CLI's `show`/`list` and the HTTP resources read it:
/// one place for its queries.
public struct EntityQueries: Sendable {
    /// One entity listed: its id, parent, status and JSON document.
    public struct Row: Sendable {
        public var id: String
        public var parent: String?
        public var status: String?
        public var document: String
    }

    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// The JSON document of one entity (pretty-printed when asked), nil when there is none.
    public func document(_ kind: EntityKind, id: String, pretty: Bool = false) async throws -> String? {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT CASE WHEN \(pretty) THEN jsonb_pretty(doc) ELSE doc::text END
                FROM rm_entities.entities WHERE kind = \(kind.rawValue) AND id = \(id)
                """
            ).first?.decode(String.self, 0)
        }
    }

    /// Entities of `kind` in id order, after the id `after`, optionally under one parent and
    /// with one status; at most `limit` (all when nil).
    public func list(
        _ kind: EntityKind, after: String? = nil, parent: String? = nil, status: String? = nil, limit: Int? = nil
    ) async throws -> [Row] {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT id, parent, status, doc::text FROM rm_entities.entities
                WHERE kind = \(kind.rawValue)
                  AND (\(after)::text IS NULL OR id > \(after))
                  AND (\(parent)::text IS NULL OR parent = \(parent))
                  AND (\(status)::text IS NULL OR status = \(status))
                ORDER BY id LIMIT \(limit.map(Int64.init) ?? Int64.max)
                """
            ).map { row in
                Row(
                    id: try row.decode(String.self, 0), parent: row.text(1), status: row.text(2),
                    document: try row.decode(String.self, 3))
            }
        }
    }
}
