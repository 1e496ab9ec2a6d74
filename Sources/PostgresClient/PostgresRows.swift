import Foundation

/// The rows of a result, copied out of libpq's `PGresult` before it is freed.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Column names, in result order.
    public let columns: [String]
    /// Values in row-major order; `nil` is SQL NULL.
    let values: [String?]
    /// For commands: the number of rows affected (`PQcmdTuples`), else 0.
    public let affectedRows: Int

    init(columns: [String], values: [String?], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : values.count / columns.count }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(rows: self, offset: position * columns.count)
    }

    /// The index of the column named `name`.
    func columnIndex(_ name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresError(kind: .decoding, message: "no column named \(name)")
        }
        return index
    }
}

/// One row of a result with typed accessors.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let offset: Int

    /// The raw text of column `index`, nil for NULL.
    public func text(_ index: Int) -> String? {
        rows.values[offset + index]
    }

    /// The raw text of column `name`, nil for NULL.
    public func text(_ name: String) throws -> String? {
        try text(rows.columnIndex(name))
    }

    /// Decodes column `index` into `type`; throws on NULL or malformed text.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ index: Int) throws -> T {
        guard let raw = text(index) else {
            throw PostgresError(kind: .decoding, message: "column \(rows.columns[index]) is NULL")
        }
        guard let value = T(postgresText: raw) else {
            throw PostgresError(kind: .decoding, message: "column \(rows.columns[index]) is not \(T.self)")
        }
        return value
    }

    /// Decodes column `name` into `type`; throws on NULL or malformed text.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T {
        try decode(type, rows.columnIndex(name))
    }

    /// Decodes column `name`, or nil when it is NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T? {
        let index = try rows.columnIndex(name)
        return text(index) == nil ? nil : try decode(type, index)
    }
}

/// A type that can be read from PostgreSQL's text output format.
public protocol PostgresDecodable {
    /// Parses the text form; nil when it does not fit.
    init?(postgresText: String)
}

extension String: PostgresDecodable {
    public init?(postgresText: String) { self = postgresText }
}

extension Int: PostgresDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int64: PostgresDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Bool: PostgresDecodable {
    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension UUID: PostgresDecodable {
    public init?(postgresText: String) { self.init(uuidString: postgresText) }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// `bytea` in hex output format (`\x...`).
    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x") else { return nil }
        self.init(hexString: postgresText.dropFirst(2))
    }
}
