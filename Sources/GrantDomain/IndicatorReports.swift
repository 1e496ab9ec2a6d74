import Foundation

// Signed-off figures, restatements, baselines and targets (docs/domain.md §9-§10).

/// The indicators of the Roadmap's results framework, by their codes (docs/domain.md §13).
/// Sign-offs and targets name one (§14).
public enum Indicator: String, Sendable, Codable, CaseIterable {
    case i1 = "I.1"
    case i2 = "I.2"
    case i3 = "I.3"
    case i4 = "I.4"
    case i5 = "I.5"
    case ii1 = "II.1"
    case ii2 = "II.2"
    case ii3 = "II.3"
    case iii1 = "III.1"
    case iii2 = "III.2"
    case iii3 = "III.3"
    case iii4 = "III.4"
    case iii5 = "III.5"
    case iii6 = "III.6"

    /// The indicator's definition in the results framework's table.
    public var definition: IndicatorDefinition {
        // Every case has its entry: `ResultsFrameworkTests` holds the table to the enum.
        ResultsFramework.indicator(rawValue) ?? ResultsFramework.indicators[2]
    }
}

/// A share from 0 to 1 with at most 4 decimals, exact: a whole number of ten-thousandths.
/// Written as a JSON string (`"0.5"`, `"0.4286"`, `"1"`).
public struct Share: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The share in ten-thousandths (0...10,000).
    public let units: Int

    public init?(units: Int) {
        guard (0...10_000).contains(units) else { return nil }
        self.units = units
    }

    /// Parses `0`, `1`, `0.5`, `0.4286`, `1.0000`; nil for anything else (more than 4
    /// decimals, above 1, signs, exponents).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard let whole = bytes.first, whole == UInt8(ascii: "0") || whole == UInt8(ascii: "1") else { return nil }
        var units = Int(whole - 48) * 10_000
        if bytes.count > 1 {
            let fraction = bytes.dropFirst(2)
            guard bytes[1] == UInt8(ascii: "."), (1...4).contains(fraction.count),
                fraction.allSatisfy({ (48...57).contains($0) })
            else { return nil }
            var scale = 1_000
            for digit in fraction {
                units += Int(digit - 48) * scale
                scale /= 10
            }
        }
        self.init(units: units)
    }

    /// The shortest exact text: `"0.5"`, `"1"`, `"0"`, `"0.4286"`.
    public var description: String { Self.text(units) }

    /// Ten-thousandths as the shortest exact decimal text (also for values above 1).
    static func text(_ units: Int) -> String {
        let whole = units / 10_000
        var fraction = String(units % 10_000)
        if fraction == "0" { return String(whole) }
        fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    public static func < (a: Share, b: Share) -> Bool { a.units < b.units }
}

extension Share: TextCoded {}

/// A ratio to 4 decimals that may exceed 1 (`achieved` = actual ÷ target), written as a
/// decimal string with exactly 4 decimals, e.g. `"1.2500"`.
public struct Ratio: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Ten-thousandths.
    public let units: Int

    /// `numerator ÷ denominator`, rounding half away from zero; nil when the denominator is 0.
    public init?(_ numerator: Int, over denominator: Int) {
        guard denominator > 0, numerator >= 0 else { return nil }
        units = (numerator * 20_000 + denominator) / (2 * denominator)
    }

    public var description: String {
        let fraction = String(units % 10_000)
        return "\(units / 10_000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        let parts = text.split(separator: ".")
        guard parts.count == 2, let whole = Int(parts[0]), let fraction = Int(parts[1]), parts[1].count == 4 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a ratio"))
        }
        units = whole * 10_000 + fraction
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The dimensions a target may set minimum shares for, with their values.
public enum ShareDimension: String, Sendable, CaseIterable {
    case leadershipGender, registrationStatus, settlement, channel

    public var values: [String] {
        switch self {
        case .leadershipGender: return LeadershipGender.allCases.map(\.rawValue)
        case .registrationStatus: return RegistrationStatus.allCases.map(\.rawValue)
        case .settlement: return Settlement.allCases.map(\.rawValue)
        case .channel: return AccessChannel.allCases.map(\.rawValue)
        }
    }

    /// The count of `value` in `figures` (for `channel`: `byChannel`).
    public func count(of value: String, in figures: I3Figures) -> Int {
        switch self {
        case .leadershipGender: return LeadershipGender(rawValue: value).flatMap { figures.byLeadershipGender[$0] } ?? 0
        case .registrationStatus:
            return RegistrationStatus(rawValue: value).flatMap { figures.byRegistrationStatus[$0] } ?? 0
        case .settlement: return Settlement(rawValue: value).flatMap { figures.bySettlement[$0] } ?? 0
        case .channel: return AccessChannel(rawValue: value).flatMap { figures.byChannel[$0] } ?? 0
        }
    }
}

/// `{dimension: {value: share}}` (docs/domain.md §10).
public typealias MinimumShares = [String: [String: Share]]

/// An optional value whose key is always written: `null` when there is no value (Swift's
/// synthesized encoding leaves the key out instead). The report shapes list every key.
@propertyWrapper
public struct NullEncoded<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// A point of the log with its integrity fields: the chain hash there and when that event
/// was recorded (RFC 3339; null before the first event), so that a figure can be replayed
/// and checked.
public struct LogPoint: Sendable, Hashable, Codable {
    public var position: Int64
    @NullEncoded public var recordedAt: String?
    public var hash: String
    /// The Merkle tree of the log at this point: its size (the sealed events up to the
    /// position) and RFC 9162 root, base64 as in a signed checkpoint. Absent only in
    /// sign-offs recorded before the tree existed.
    public var treeSize: Int64?
    public var rootHash: String?

    public init(position: Int64, recordedAt: String?, hash: String, treeSize: Int64? = nil, rootHash: String? = nil) {
        self.position = position
        self.recordedAt = recordedAt
        self.hash = hash
        self.treeSize = treeSize
        self.rootHash = rootHash
    }
}

extension SignOffIndicatorReport {
    public func validate() throws(DomainError) {
        if to < from { throw .rule("signOffIndicatorReport: \"to\" \(to) is before \"from\" \(from)") }
    }

    /// The I.3 query the sign-off covers.
    public var query: I3Query { I3Query(from: from, to: to, programme: programme, callId: callId) }

    /// The period and filters the sign-off covers, for any indicator.
    public var indicatorQuery: IndicatorQuery {
        IndicatorQuery(from: from, to: to, programme: programme, callId: callId)
    }
}

extension SetIndicatorTarget {
    public func validate() throws(DomainError) {
        if to < from { throw .rule("setIndicatorTarget: \"to\" \(to) is before \"from\" \(from)") }
    }

    /// The I.3 query of the target's period and programme.
    public var query: I3Query { I3Query(from: from, to: to, programme: programme) }

    /// The period and programme of the target, for any indicator.
    public var indicatorQuery: IndicatorQuery { IndicatorQuery(from: from, to: to, programme: programme) }
}

/// The data of `IndicatorReportSignedOff`: the command's fields, the figures the system
/// computed at `position` (docs/domain.md §4 shape) and the log's integrity fields there.
public typealias IndicatorReportSignedOff = Flat<SignOffIndicatorReport, SignOffDerived>

/// What a sign-off derives: the report at its position, and the chain there.
public struct SignOffDerived: Codable, Sendable, Hashable {
    public var figures: SignedFigures
    public var asOf: LogPoint

    public init(figures: SignedFigures, asOf: LogPoint) {
        self.figures = figures
        self.asOf = asOf
    }
}

/// The figures a sign-off records: I.3's §4 shape, or another indicator's report without its
/// period, filters and cut-off, which the event records beside them (docs/domain.md §14).
public enum SignedFigures: Codable, Sendable, Hashable {
    case i3(I3Figures)
    case indicator(IndicatorFigures)

    /// The headline number: I.3's total, another indicator's value (nil for I.5).
    public var value: Int64? {
        switch self {
        case .i3(let figures): Int64(figures.total)
        case .indicator(let figures): figures.value
        }
    }

    /// I.3's figures, nil for another indicator.
    public var i3: I3Figures? {
        if case .i3(let figures) = self { figures } else { nil }
    }

    /// Another indicator's figures, nil for I.3.
    public var indicator: IndicatorFigures? {
        if case .indicator(let figures) = self { figures } else { nil }
    }

    enum Keys: String, CodingKey { case measure }

    public init(from decoder: any Decoder) throws {
        // Another indicator's figures name their measure; I.3's (§4) never do.
        if try decoder.container(keyedBy: Keys.self).contains(.measure) {
            self = .indicator(try IndicatorFigures(from: decoder))
        } else {
            self = .i3(try I3Figures(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .i3(let figures): try figures.encode(to: encoder)
        case .indicator(let figures): try figures.encode(to: encoder)
        }
    }
}

/// Ordered counts as a JSON object: every key of the report shape, zeros included.
public struct CountObject: Codable, Hashable, Sendable {
    public var pairs: [(key: String, count: Int)]

    public init(_ pairs: [(key: String, count: Int)]) { self.pairs = pairs }

    struct Key: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        pairs = try c.allKeys.map { ($0.stringValue, try c.decode(Int.self, forKey: $0)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (key, count) in pairs { try c.encode(count, forKey: Key(stringValue: key)) }
    }

    public static func == (a: CountObject, b: CountObject) -> Bool { a.pairs.elementsEqual(b.pairs, by: ==) }
    public func hash(into hasher: inout Hasher) {
        for (key, count) in pairs {
            hasher.combine(key)
            hasher.combine(count)
        }
    }

    public subscript(key: String) -> Int { pairs.first { $0.key == key }?.count ?? 0 }
}

extension I3Figures: Codable {
    enum CodingKeys: String, CodingKey {
        case rules, total, byChannel, byLeadershipGender, byRegistrationStatus, bySettlement, byRegion, cells
    }

    /// The margins of the report shape, each with every key (zeros included).
    public var margins: [(name: String, counts: [(key: String, count: Int)])] {
        [
            ("byChannel", AccessChannel.allCases.map { ($0.rawValue, byChannel[$0] ?? 0) }),
            ("byLeadershipGender", LeadershipGender.allCases.map { ($0.rawValue, byLeadershipGender[$0] ?? 0) }),
            ("byRegistrationStatus", RegistrationStatus.allCases.map { ($0.rawValue, byRegistrationStatus[$0] ?? 0) }),
            ("bySettlement", Settlement.allCases.map { ($0.rawValue, bySettlement[$0] ?? 0) }),
            ("byRegion", Region.codes.map { ($0, byRegion[$0] ?? 0) }),
        ]
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let channels = try c.decode([String: Int].self, forKey: .byChannel)
        self.init(
            rules: try c.decode(ReportingRules.self, forKey: .rules),
            byChannel: Dictionary(
                uniqueKeysWithValues: AccessChannel.allCases.map { ($0, channels[$0.rawValue] ?? 0) }),
            cells: try c.decode([I3Cell].self, forKey: .cells))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rules, forKey: .rules)
        try c.encode(total, forKey: .total)
        for (name, counts) in margins {
            guard let key = CodingKeys(rawValue: name) else { continue }
            try c.encode(CountObject(counts), forKey: key)
        }
        try c.encode(cells, forKey: .cells)
    }
}

/// Where, when and by whom an event was recorded.
public struct Recorded: Sendable, Hashable, Codable {
    public var position: Int64
    public var recordedAt: String
    public var actor: String?

    public init(position: Int64, recordedAt: String, actor: String?) {
        self.position = position
        self.recordedAt = recordedAt
        self.actor = actor
    }
}

/// Where an event was recorded, as a field of its own.
public struct RecordedField: Codable, Sendable, Hashable {
    public var recorded: Recorded

    public init(recorded: Recorded) { self.recorded = recorded }
}

/// A sign-off as listed: the event's data and where it was recorded.
public typealias SignOffRecord = Flat<IndicatorReportSignedOff, RecordedField>

extension Flat where Extras == RecordedField {
    /// The same record without the name of who recorded it (for viewers, docs/domain.md §15).
    public var withoutActor: Self {
        var copy = self
        copy.extras.recorded.actor = nil
        return copy
    }
}
/// One revision of a target as listed.
public typealias TargetRecord = Flat<SetIndicatorTarget, RecordedField>
