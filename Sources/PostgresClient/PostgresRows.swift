import Foundation

/// The rows of a result, copied out of libpq's `PGresult` before it is freed: every value's
/// bytes back to back in one buffer, so that a value becomes a `String` only when a caller
/// reads it as text, and numbers, UUIDs and `bytea` are parsed from their bytes.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Where one value lies in `bytes`; a `count` of -1 is SQL NULL.
    struct Cell: Sendable {
        var start: Int
        var count: Int
    }

    /// Column names, in result order.
    public let columns: [String]
    /// The non-NULL values' bytes, in row-major order.
    let bytes: [UInt8]
    /// One cell per value, in row-major order.
    let cells: [Cell]
    /// For commands: the number of rows affected (`PQcmdTuples`), else 0.
    public let affectedRows: Int

    init(columns: [String], bytes: [UInt8], cells: [Cell], affectedRows: Int) {
        self.columns = columns
        self.bytes = bytes
        self.cells = cells
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : cells.count / columns.count }

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

    /// Calls `body` with cell `index`'s bytes, nil for NULL.
    func withCell<Result>(_ index: Int, _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        let cell = cells[index]
        guard cell.count >= 0 else { return try body(nil) }
        return try bytes.withUnsafeBytes {
            try body(UnsafeRawBufferPointer(rebasing: $0[cell.start..<cell.start + cell.count]))
        }
    }
}

/// One row of a result with typed accessors.
public struct PostgresRow: Sendable {
    /// The result this row belongs to.
    public let rows: PostgresRows
    let offset: Int

    /// The raw text of column `index`, nil for NULL.
    public func text(_ index: Int) -> String? {
        rows.withCell(offset + index) { bytes in bytes.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Calls `body` with the bytes of column `index`'s text, nil for NULL: for parsing a
    /// value without making a `String` of it first. The bytes are valid only inside `body`.
    public func withBytes<Result>(_ index: Int, _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        try rows.withCell(offset + index, body)
    }

    /// The raw text of column `name`, nil for NULL.
    public func text(_ name: String) throws -> String? {
        try text(rows.columnIndex(name))
    }

    /// Decodes column `index` into `type`; throws on NULL or malformed text.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ index: Int) throws -> T {
        try withBytes(index) { bytes in
            guard let bytes else {
                throw PostgresError(kind: .decoding, message: "column \(rows.columns[index]) is NULL")
            }
            guard let value = T(postgresBytes: bytes) else {
                throw PostgresError(kind: .decoding, message: "column \(rows.columns[index]) is not \(T.self)")
            }
            return value
        }
    }

    /// Decodes column `name` into `type`; throws on NULL or malformed text.
    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T {
        try decode(type, rows.columnIndex(name))
    }

    /// Decodes column `name`, or nil when it is NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T? {
        let index = try rows.columnIndex(name)
        return rows.cells[offset + index].count < 0 ? nil : try decode(type, index)
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
    /// Parses the text form's UTF-8 bytes; nil when they do not fit. The default makes a
    /// `String` of them for `init(postgresText:)`; the types read on every row of the log
    /// parse the bytes themselves, to the same answers.
    init?(postgresBytes: UnsafeRawBufferPointer)
}

extension PostgresDecodable {
    public init?(postgresBytes bytes: UnsafeRawBufferPointer) {
        self.init(postgresText: String(decoding: bytes, as: UTF8.self))
    }
}

extension String: PostgresDecodable {
    public init?(postgresText: String) { self = postgresText }
    public init?(postgresBytes bytes: UnsafeRawBufferPointer) { self = String(decoding: bytes, as: UTF8.self) }
}

extension Int: PostgresDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
    public init?(postgresBytes bytes: UnsafeRawBufferPointer) {
        guard let value = Self.decimal(bytes) else { return nil }
        self = value
    }
}

extension Int64: PostgresDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
    public init?(postgresBytes bytes: UnsafeRawBufferPointer) {
        guard let value = Self.decimal(bytes) else { return nil }
        self = value
    }
}

extension FixedWidthInteger where Self: SignedInteger {
    /// What `Self(String(decoding: bytes, as: UTF8.self))` gives: an optional sign, then one
    /// or more ASCII digits, within the type's range; nil for anything else.
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Self? {
        var index = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        guard index < bytes.count else { return nil }
        var value: Self = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            // Accumulated with the sign, so that the most negative value fits.
            let (next, overflowAdd) =
                negative
                ? shifted.subtractingReportingOverflow(Self(digit)) : shifted.addingReportingOverflow(Self(digit))
            guard !overflowShift, !overflowAdd else { return nil }
            value = next
            index += 1
        }
        return value
    }
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
        guard let uuid = text.withUTF8({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self.init(uuid: uuid)
    }

    public init?(postgresBytes bytes: UnsafeRawBufferPointer) {
        guard let uuid = Self.parse(bytes) else { return nil }
        self.init(uuid: uuid)
    }

    /// 36 characters: 32 hex digits (either case) and 4 hyphens anywhere.
    private static func parse(_ text: UnsafeRawBufferPointer) -> uuid_t? {
        guard text.count == 36 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let complete = withUnsafeMutableBytes(of: &uuid) { out -> Bool in
            var nibbles = 0
            for character in text {
                let value: UInt8
                switch character {
                case 48...57: value = character - 48
                case 97...102: value = character - 87
                case 65...70: value = character - 55
                case 45: continue
                default: return false
                }
                guard nibbles < 32 else { return false }
                out[nibbles / 2] |= nibbles % 2 == 0 ? value << 4 : value
                nibbles += 1
            }
            return nibbles == 32
        }
        return complete ? uuid : nil
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    /// `bytea` in hex output format (`\x...`).
    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x") else { return nil }
        self.init(hexString: postgresText.dropFirst(2))
    }

    public init?(postgresBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x") else { return nil }
        guard let decoded = Self(hexDigits: UnsafeRawBufferPointer(rebasing: bytes[2...])) else { return nil }
        self = decoded
    }
}
