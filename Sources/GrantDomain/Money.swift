/// An amount in EUR, exact to the cent: a whole number of cents, never binary floating point.
///
/// Written as a JSON string holding a non-negative decimal with at most 2 decimals
/// (`"60000"`, `"1250.50"`).
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount in euro cents.
    public let cents: Int64

    public init(cents: Int64) { self.cents = cents }

    public static let zero = Money(cents: 0)

    /// Parses `"60000"`, `"1250.5"`, `"1250.50"`; nil for anything else (signs, exponents,
    /// more than 2 decimals, more than 13 integer digits).
    ///
    /// Works on the ASCII bytes, so a digit followed by a combining mark (one `Character`,
    /// two scalars) is refused like any other non-digit.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = bytes[..<(dot ?? bytes.endIndex)]
        let fraction = dot.map { bytes[($0 + 1)...] } ?? []
        guard (1...13).contains(whole.count), whole.allSatisfy(\.isASCIIDigit) else { return nil }
        if dot != nil {
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
        }
        var cents: Int64 = 0
        for byte in whole { cents = cents * 10 + Int64(byte - 48) }
        cents *= 100
        if let first = fraction.first {
            cents += Int64(first - 48) * 10
            if fraction.count == 2, let last = fraction.last { cents += Int64(last - 48) }
        }
        self.cents = cents
    }

    /// `"60000"` for whole euros, else `"1250.50"`.
    public var description: String {
        let euros = cents / 100
        let rest = cents % 100
        if rest == 0 { return String(euros) }
        return "\(euros).\(rest < 10 ? "0" : "")\(rest)"
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }
    public static func + (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents + rhs.cents) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents - rhs.cents) }
    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }
}

extension Money: TextCoded {}

/// A value written in JSON as its text (`"1250.50"`, `"2025-06-30"`), parsed strictly.
public protocol TextCoded: Codable, CustomStringConvertible {
    /// Parses the text; nil when it is not one.
    init?(_ text: String)
}

extension TextCoded {
    public init(from decoder: any Decoder) throws {
        self = try Self.parsing(try decoder.singleValueContainer().decode(String.self), at: decoder.codingPath)
    }

    /// The value `text` spells, or the decoding error that says it is not one.
    static func parsing(_ text: String, at codingPath: [any CodingKey] = []) throws -> Self {
        guard let value = Self(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: codingPath, debugDescription: "not a \(Self.self): \(text)"))
        }
        return value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Sequence where Element == Money {
    /// The exact sum.
    public func sum() -> Money { reduce(.zero, +) }
}

extension UInt8 {
    /// `0`-`9` in ASCII.
    var isASCIIDigit: Bool { (48...57).contains(self) }
}

extension Character {
    /// Exactly one of the ASCII digits `0`-`9`: a digit with a combining mark is not.
    var isASCIIDigit: Bool { asciiValue?.isASCIIDigit ?? false }
}
