/// An amount in EUR, exact to the cent: a whole number of cents, never binary floating point.
///
/// Written as a JSON string holding a non-negative decimal with at most 2 decimals
/// (`"60000"`, `"1250.50"`).
///
/// An amount has at most 13 integer digits (under 2^50 cents), but sums are taken over the
/// log's events as recorded, and the log also holds whatever an application role appended
/// outside the rules: about 9,300 disbursements of the largest amount would pass 2^63
/// cents. The cents are 128 bits wide so that no sum of any log that can exist overflows:
/// a fold, a replay or a decision gives the exact sum of what was recorded instead of
/// stopping the process at every start.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount in euro cents.
    public let cents: Int128

    public init(cents: Int128) { self.cents = cents }

    public static let zero = Money(cents: 0)

    /// Parses `"60000"`, `"1250.5"`, `"1250.50"`; nil for anything else (signs, exponents,
    /// more than 2 decimals, more than 13 integer digits).
    ///
    /// Works on the ASCII bytes, so a digit followed by a combining mark (one `Character`,
    /// two scalars) is refused like any other non-digit.
    public init?(_ text: String) {
        guard let cents = Self.cents(Array(text.utf8)[...], integerDigits: 13) else { return nil }
        self.cents = cents
    }

    /// Reads a sum as `description` writes it: an optional `-`, up to 36 integer digits and
    /// at most 2 decimals. For the read models' own documents only (`Money.sumsKey`), whose
    /// totals may pass the 13 digits of an amount; an amount in a command or an event is
    /// always read by `init(_:)`.
    public init?(sum text: String) {
        let bytes = Array(text.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        guard let cents = Self.cents(negative ? bytes.dropFirst() : bytes[...], integerDigits: 36) else {
            return nil
        }
        self.cents = negative ? -cents : cents
    }

    /// The cents of 1 to `integerDigits` ASCII digits, then optionally `.` and 1 or 2
    /// digits; nil for any other bytes.
    private static func cents(_ bytes: ArraySlice<UInt8>, integerDigits: Int) -> Int128? {
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = bytes[..<(dot ?? bytes.endIndex)]
        let fraction = dot.map { bytes[($0 + 1)...] } ?? []
        guard (1...integerDigits).contains(whole.count), whole.allSatisfy(\.isASCIIDigit) else { return nil }
        if dot != nil {
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
        }
        var cents: Int128 = 0
        for byte in whole { cents = cents * 10 + Int128(byte - 48) }
        cents *= 100
        if let first = fraction.first {
            cents += Int128(first - 48) * 10
            if fraction.count == 2, let last = fraction.last { cents += Int128(last - 48) }
        }
        return cents
    }

    /// Set to `true` in a `JSONDecoder`'s `userInfo` to read `Money` as a sum
    /// (`init(sum:)`): for documents the projections wrote, never for input.
    public static let sumsKey = CodingUserInfoKey(rawValue: "grantledger.money.sums")!

    /// `"60000"` for whole euros, else `"1250.50"`; a difference below zero (an envelope
    /// overspent by events appended outside the rules) as `"-0.01"`.
    public var description: String {
        let sign = cents < 0 ? "-" : ""
        let euros = cents.magnitude / 100
        let rest = cents.magnitude % 100
        if rest == 0 { return "\(sign)\(euros)" }
        return "\(sign)\(euros).\(rest < 10 ? "0" : "")\(rest)"
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }
    public static func + (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents + rhs.cents) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(cents: lhs.cents - rhs.cents) }
    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }
}

extension Money: TextCoded {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard decoder.userInfo[Self.sumsKey] as? Bool == true else {
            self = try Self.parsing(text, at: decoder.codingPath)
            return
        }
        guard let sum = Money(sum: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a sum of Money: \(text)"))
        }
        self = sum
    }
}

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
