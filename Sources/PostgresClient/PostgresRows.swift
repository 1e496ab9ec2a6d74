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
    /// The result this row belongs to.
    public let rows: PostgresRows
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

extension PostgresRow {
    /// Decodes the row's columns from the first, in order, as a tuple of their types:
    /// `let (position, type) = try row.decode((Int64, String).self)`. Throws on NULL or
    /// malformed text, naming the column.
    public func decode<each T: PostgresDecodable>(_ types: (repeat each T).Type) throws -> (repeat each T) {
        var index = 0
        func next<U: PostgresDecodable>(_ type: U.Type) throws -> U {
            defer { index += 1 }
            return try decode(type, index)
        }
        return (repeat try next((each T).self))
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
    /// Parses PostgreSQL's canonical `uuid` output (36 characters, lowercase hex).
    public init?(postgresText: String) {
        var text = postgresText
        let bytes: [UInt8]? = text.withUTF8 { utf8 in
            guard utf8.count == 36 else { return nil }
            var out = [UInt8](repeating: 0, count: 16)
            var nibbles = 0
            for character in utf8 {
                let value: UInt8
                switch character {
                case 48...57: value = character - 48
                case 97...102: value = character - 87
                case 65...70: value = character - 55
                case 45: continue
                default: return nil
                }
                guard nibbles < 32 else { return nil }
                out[nibbles / 2] |= nibbles % 2 == 0 ? value << 4 : value
                nibbles += 1
            }
            return nibbles == 32 ? out : nil
        }
        guard let b = bytes else { return nil }
        self.init(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// `bytea` in hex output format (`\x...`).
    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x") else { return nil }
        self.init(hexString: postgresText.dropFirst(2))
    }
}
