/// An amount in EUR, exact to the cent: a whole number of cents, never binary floating point.
///
/// Written as a JSON string holding a non-negative decimal with at most 2 decimals
/// (`"60000"`, `"1250.50"`).
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The amount in euro cents.
    public let cents: Int64

    public init(cents: Int64) { self.cents = cents }

    public static let zero = Money(cents: 0)

    /// Parses `"60000"`, `"1250.5"`, `"1250.50"`; nil for anything else (signs, exponents,
    /// more than 2 decimals, more than 13 integer digits).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 13, whole.allSatisfy(\.isASCIIDigit) else {
            return nil
        }
        var cents = Int64(whole)! * 100
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
            cents += Int64(fraction.count == 1 ? String(fraction) + "0" : String(fraction))!
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

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Money(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad money \(text)"))
        }
        self = value
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

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
