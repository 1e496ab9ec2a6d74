import Foundation

/// A value that can be sent to PostgreSQL as a text-format parameter.
public protocol PostgresEncodable: Sendable {
    /// The value in PostgreSQL's text input format.
    var postgresText: String { get }
}

extension String: PostgresEncodable {
    public var postgresText: String { self }
}

extension Int: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int64: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Int32: PostgresEncodable {
    public var postgresText: String { String(self) }
}

extension Bool: PostgresEncodable {
    public var postgresText: String { self ? "t" : "f" }
}

extension UUID: PostgresEncodable {
    public var postgresText: String { uuidString.lowercased() }
}

extension Array: PostgresEncodable where Element == UInt8 {
    /// `bytea` in hex format.
    public var postgresText: String { "\\x" + hexString }
}

extension Array where Element == UInt8 {
    /// Lowercase hexadecimal digits, two per byte.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses lowercase or uppercase hexadecimal digits; nil on any other character.
    public init?(hexString: some StringProtocol) {
        let utf8 = Array(hexString.utf8)
        guard let bytes = utf8.withUnsafeBytes({ Self(hexDigits: $0) }) else { return nil }
        self = bytes
    }

    /// Parses lowercase or uppercase hexadecimal digits from their ASCII bytes; nil on any
    /// other byte or an odd count.
    init?(hexDigits utf8: UnsafeRawBufferPointer) {
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = bytes
    }
}

/// SQL text with its parameters kept apart.
///
/// Interpolating a value appends `$n` to the SQL and the value to `bindings`, so values
/// never become part of the statement text:
///
/// ```swift
/// let query: PostgresQuery = "SELECT * FROM events WHERE stream_id = \(streamID)"
/// ```
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation {
    /// The statement with `$1`, `$2`, ... placeholders.
    public var sql: String
    /// Text-format parameter values; `nil` is SQL NULL.
    public var bindings: [String?]
    /// Parsed once per connection and run by name afterwards (`prepared()`).
    public private(set) var isPrepared = false

    /// Builds a query from raw SQL. Only for statements assembled from trusted constants.
    public init(unsafeSQL sql: String, bindings: [String?] = []) {
        self.sql = sql
        self.bindings = bindings
    }

    /// The same statement, parsed once per connection (a protocol-level prepared statement)
    /// and executed by name from then on: PostgreSQL skips parsing and analysis, and after
    /// five executions may settle on a generic plan, one made without the parameters'
    /// values. Only for hot statements whose generic plan is known to be the right one: a
    /// partial or expression index is used by a generic plan only when its predicate and
    /// expression are constants of the text, never parameters (see the plan tests).
    public func prepared() -> PostgresQuery {
        var query = self
        query.isPrepared = true
        return query
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, bindings: stringInterpolation.bindings)
    }

    /// Collects literal SQL and bound values.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var bindings: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            bindings.append(value.postgresText)
            sql += "$\(bindings.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            bindings.append(value?.postgresText)
            sql += "$\(bindings.count)"
        }

        /// Appends trusted SQL text verbatim (identifiers chosen by the code, never input).
        public mutating func appendInterpolation(unescaped text: String) {
            sql += text
        }
    }
}
