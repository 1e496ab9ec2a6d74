import Foundation
import GrantDomain
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

extension EntityQueries {
    /// Listed entities as CSV for spreadsheets: `id`, `parent`, `status`, then the fields of
    /// the command that created the entity, in docs/domain.md order, then what the read model
    /// derives and later events recorded (sorted by name; a nested record's fields count as
    /// the document's own). Money stays a decimal string and dates ISO; a list or object
    /// is written as its JSON. With `byteOrderMark`, the text starts with U+FEFF.
    public static func csv(_ kind: EntityKind, rows: [Row], byteOrderMark: Bool = false) -> String {
        let documents = rows.map { row -> [String: JSONValue] in
            guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(row.document.utf8))
            else { return [:] }
            // A record nested in the document (a grant's `award`, a call's `call`, a
            // cancellation) lends its fields, without overriding the document's own.
            var flat = fields.filter { if case .object = $0.value { false } else { true } }
            for key in fields.keys.sorted() {
                guard case .object(let nested)? = fields[key] else { continue }
                for (name, value) in nested where flat[name] == nil { flat[name] = value }
            }
            return flat
        }
        let declared = CommandTable.specs.first { $0.name == kind.creatingCommand }?.fields.map(\.name) ?? []
        let derived = Set(documents.flatMap(\.keys)).subtracting(declared).subtracting(["id", "parent", "status"])
        let columns = declared + derived.sorted()
        var lines = [(["id", "parent", "status"] + columns).map(CSV.field).joined(separator: ",")]
        for (row, document) in zip(rows, documents) {
            let cells =
                [row.id, row.parent ?? "", row.status ?? ""] + columns.map { document[$0].map(Self.cell) ?? "" }
            lines.append(cells.map(CSV.field).joined(separator: ","))
        }
        return CSV.document(lines.joined(separator: "\n") + "\n", byteOrderMark: byteOrderMark)
    }

    private static func cell(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .string(let value): return value
        case .array, .object:
            return (try? ResponseJSON.encoded(value)) ?? ""
        }
    }
}
