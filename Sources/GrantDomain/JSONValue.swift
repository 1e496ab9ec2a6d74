import Foundation

/// Any JSON value, as parsed from a command, keeping numbers apart from booleans.
public enum JSONValue: Sendable, Hashable, Codable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let fields): try container.encode(fields)
        }
    }

    /// The value as JSON text (UTF-8), keys sorted.
    public var jsonData: Data {
        (try? CanonicalJSON.data(self)) ?? Data("null".utf8)
    }

    /// Parses one JSON text; nil when it is not valid JSON (`JSONParser`).
    public static func parse(_ text: String) -> JSONValue? {
        JSONParser.parse(text)
    }

    /// The first place (a dotted path) where a string or key holds U+0000, if any.
    public var pathToNUL: String? {
        switch self {
        case .string(let text):
            return text.unicodeScalars.contains("\u{0}") ? "" : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let path = item.pathToNUL { return "[\(index)]" + path }
            }
            return nil
        case .object(let fields):
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                if key.unicodeScalars.contains("\u{0}") {
                    return "." + key.replacingOccurrences(of: "\u{0}", with: "\\u0000")
                }
                if let path = value.pathToNUL { return "." + key + path }
            }
            return nil
        case .null, .bool, .integer, .number:
            return nil
        }
    }

    /// A short rendering for error messages.
    public var shortDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return String(value)
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .string(let value):
            // Bounded and printable whatever came in: at most 80 scalars, NUL spelled out.
            let shown = String(String.UnicodeScalarView(value.unicodeScalars.prefix(80)))
                .replacingOccurrences(of: "\u{0}", with: "\\u0000")
            return "\"\(shown)\(value.unicodeScalars.count > 80 ? "…" : "")\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Reads the fields of one command object, tracking which were used so that unknown
/// fields can be rejected, and producing §5 `invalid` errors that name field and value.
struct FieldReader {
    let fields: [String: JSONValue]
    let command: String
    private(set) var used: Set<String> = ["command", "commandId"]

    init(_ fields: [String: JSONValue], command: String) {
        self.fields = fields
        self.command = command
    }

    private mutating func value(_ key: String, required: Bool) throws(DomainError) -> JSONValue? {
        used.insert(key)
        guard let value = fields[key] else {
            if required { throw .invalid("\(command): missing field \"\(key)\"") }
            return nil
        }
        return value
    }

    private func fail(_ key: String, _ value: JSONValue, _ expectation: String) -> DomainError {
        .invalid("\(command): field \"\(key)\" is \(value.shortDescription), expected \(expectation)")
    }

    /// Reads a field: nil when it is absent and optional; `invalid` naming the field when
    /// it is absent and required, or when `extract` finds no `expectation` in it.
    private mutating func read<T>(
        _ key: String, required: Bool, _ expectation: String, _ extract: (JSONValue) -> T?
    ) throws(DomainError) -> T? {
        guard let value = try value(key, required: required) else { return nil }
        guard let extracted = extract(value) else { throw fail(key, value, expectation) }
        return extracted
    }

    private static func text(_ value: JSONValue) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }

    /// Checks the shape of one field against its description (a missing required field, a
    /// wrong type, a bad identifier, date, money, enumeration value, length or range).
    mutating func check(_ field: FieldSpec) throws(DomainError) {
        let key = field.name
        let required = field.required
        switch field.type {
        case .identifier:
            _ = try read(key, required: required, "an identifier matching ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$") {
                Self.text($0).flatMap { Identifier.isValid($0) ? $0 : nil }
            }
        case .text(let length):
            _ = try text(key, length: length, required: required)
        case .country:
            if let country = try text(key, length: 2...2, required: required),
                !country.utf8.allSatisfy({ (65...90).contains($0) })
            {
                throw .invalid(
                    "\(command): field \"\(key)\" is \"\(country)\", expected an ISO 3166-1 alpha-2 code such as \"KZ\""
                )
            }
        case .region, .bin:
            // Their validity depends on other fields (country, registration status): checked by
            // the organisation profile's rules, which name the field too.
            _ = try text(key, length: 1...10_000, required: required)
        case .money:
            _ = try money(key, required: required)
        case .positiveMoney:
            if try money(key, required: required) == .zero {
                throw .rule("\(command): field \"\(key)\" is \"0\"; it must be more than 0")
            }
        case .date:
            _ = try read(key, required: required, "a date YYYY-MM-DD") { Self.text($0).flatMap(BusinessDate.init) }
        case .bool:
            _ = try read(key, required: required, "true or false") { value -> Bool? in
                if case .bool(let flag) = value { return flag }
                return nil
            }
        case .integer(let range):
            _ = try read(key, required: required, "an integer from \(range.lowerBound) to \(range.upperBound)") {
                value -> Int64? in
                if case .integer(let number) = value, range.contains(number) { return number }
                return nil
            }
        case .enumeration(let values):
            let admitted = values + field.refusedByRule
            _ = try read(key, required: required, "one of " + values.map { "\"\($0)\"" }.joined(separator: ", ")) {
                Self.text($0).flatMap { admitted.contains($0) ? $0 : nil }
            }
        case .members:
            if required || fields[key] != nil { try members(key) }
        case .shares:
            if required || fields[key] != nil { try shares(key) }
        case .enumerationSet(let values):
            try distinctList(
                key, required: required, "a list of distinct values from " + values.joined(separator: ", ")
            ) { value in Self.text(value).flatMap { values.contains($0) ? $0 : nil } }
        case .identifierSet(let maximum):
            try distinctList(
                key, required: required, "a list of at most \(maximum) distinct identifiers", maximum: maximum
            ) { value in Self.text(value).flatMap { Identifier.isValid($0) ? $0 : nil } }
        case .peopleCounts:
            if required || fields[key] != nil { try peopleCounts(key) }
        case .decimal(let maximum):
            _ = try read(key, required: required, "a decimal from 0 to \(maximum) with at most 2 decimals (\"37.5\")") {
                Self.text($0).flatMap(Money.init(_:)).flatMap { $0 <= Money(cents: Int128(maximum) * 100) ? $0 : nil }
            }
        }
    }

    /// A JSON list, possibly empty, of at most `maximum` items that `item` accepts, none twice.
    private mutating func distinctList(
        _ key: String, required: Bool, _ expectation: String, maximum: Int = Int.max,
        _ item: (JSONValue) -> String?
    ) throws(DomainError) {
        guard
            let items = try read(
                key, required: required, expectation,
                { value -> [JSONValue]? in
                    if case .array(let items) = value, items.count <= maximum { return items }
                    return nil
                })
        else { return }
        var seen: Set<String> = []
        for (index, value) in items.enumerated() {
            guard let text = item(value) else { throw fail("\(key)[\(index)]", value, expectation) }
            guard seen.insert(text).inserted else {
                throw .invalid("\(command): field \"\(key)\" lists \(value.shortDescription) twice")
            }
        }
    }

    /// `{group: {gender: count}}`: every group and gender present, counts 0-100,000, at
    /// least one above 0 (docs/domain.md §12).
    private mutating func peopleCounts(_ key: String) throws(DomainError) {
        let groups = PeopleSupported.Group.allCases.map(\.rawValue)
        let genders = PeopleSupported.Gender.allCases.map(\.rawValue)
        let object = try read(key, required: true, "an object {group: {gender: count}}") {
            value -> [String: JSONValue]? in
            if case .object(let object) = value { return object }
            return nil
        }
        var total: Int64 = 0
        for name in (object ?? [:]).keys.sorted() where !groups.contains(name) {
            throw .invalid(
                "\(command): field \"\(key)\" has group \(JSONValue.string(name).shortDescription), expected "
                    + groups.joined(separator: ", "))
        }
        for group in groups {
            guard let inner = object?[group] else {
                throw .invalid("\(command): field \"\(key)\" lacks the group \"\(group)\"")
            }
            guard case .object(let counts) = inner else {
                throw fail("\(key).\(group)", inner, "an object {gender: count}")
            }
            for name in counts.keys.sorted() where !genders.contains(name) {
                throw .invalid(
                    "\(command): field \"\(key).\(group)\" has gender \(JSONValue.string(name).shortDescription), expected "
                        + genders.joined(separator: ", "))
            }
            for gender in genders {
                guard let count = counts[gender] else {
                    throw .invalid("\(command): field \"\(key).\(group)\" lacks \"\(gender)\"")
                }
                guard case .integer(let number) = count, (0...PeopleSupported.maximum).contains(number) else {
                    throw fail("\(key).\(group).\(gender)", count, "an integer from 0 to \(PeopleSupported.maximum)")
                }
                total += number
            }
        }
        if total == 0 {
            throw .invalid("\(command): field \"\(key)\" counts nobody; at least one count must be above 0")
        }
    }

    /// `{dimension: {value: share}}`, every dimension, value and share named when refused.
    private mutating func shares(_ key: String) throws(DomainError) {
        let dimensions = ShareDimension.allCases.map(\.rawValue)
        let object = try read(key, required: true, "an object {dimension: {value: share}}") {
            value -> [String: JSONValue]? in
            if case .object(let object) = value { return object }
            return nil
        }
        for (name, inner) in (object ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let dimension = ShareDimension(rawValue: name) else {
                throw .invalid(
                    "\(command): field \"\(key)\" has dimension \(JSONValue.string(name).shortDescription), expected one of "
                        + dimensions.joined(separator: ", "))
            }
            guard case .object(let shares) = inner else {
                throw fail("\(key).\(name)", inner, "an object {value: share}")
            }
            for (value, share) in shares.sorted(by: { $0.key < $1.key }) {
                guard dimension.values.contains(value) else {
                    throw .invalid(
                        "\(command): field \"\(key).\(name)\" has value \(JSONValue.string(value).shortDescription), expected one of "
                            + dimension.values.joined(separator: ", "))
                }
                guard case .string(let text) = share, Share(text) != nil else {
                    throw fail(
                        "\(key).\(name).\(value)", share, "a share from 0 to 1 with at most 4 decimals, e.g. \"0.5\"")
                }
            }
        }
    }

    /// Text of so many Unicode scalars, as PostgreSQL's length() counts them.
    private mutating func text(_ key: String, length: ClosedRange<Int>, required: Bool) throws(DomainError) -> String? {
        try read(key, required: required, "a string of \(length.lowerBound)-\(length.upperBound) characters") {
            Self.text($0).flatMap { length.contains($0.unicodeScalars.count) ? $0 : nil }
        }
    }

    private mutating func money(_ key: String, required: Bool) throws(DomainError) -> Money? {
        try read(
            key, required: required, "a money amount as a string, non-negative with at most 2 decimals (\"1250.50\")"
        ) {
            Self.text($0).flatMap(Money.init(_:))
        }
    }

    /// A non-empty list of `{organisationId, role}`, each checked like a field of its own.
    private mutating func members(_ key: String) throws(DomainError) {
        let items = try read(key, required: true, "a non-empty list of {organisationId, role}") {
            value -> [JSONValue]? in
            if case .array(let items) = value, !items.isEmpty { return items }
            return nil
        }
        for (index, item) in (items ?? []).enumerated() {
            guard case .object(let object) = item else {
                throw fail("\(key)[\(index)]", item, "an object {organisationId, role}")
            }
            var reader = FieldReader(object, command: "\(command) \(key)[\(index)]")
            try reader.check(FieldSpec("organisationId", .identifier))
            try reader.check(.choice("role", MemberRole.self))
            try reader.finish(allowingCommandKeys: false)
        }
    }

    /// Rejects any field that was not read.
    func finish(allowingCommandKeys: Bool = true) throws(DomainError) {
        for key in fields.keys.sorted()
        where !used.contains(key) || (!allowingCommandKeys && (key == "command" || key == "commandId")) {
            throw .invalid("\(command): unknown field \"\(key)\"")
        }
    }
}

/// The JSON the CLI (`--format json`) and the HTTP API answer with, as `Codable` types:
/// one shape for both, and no JSON assembled by hand.
public enum ResponseJSON {
    /// The one JSON encoder of the project: keys sorted, slashes unescaped, so the same
    /// value always gives the same text (answers, event data, read-model documents, CSV
    /// cells holding JSON). Configured once and never changed afterwards; encoding does not
    /// mutate it.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// `value` as JSON text (`null` should it not encode), written by `CanonicalJSON`:
    /// the same bytes as `encoder`, faster.
    public static func text(_ value: some Encodable) -> String {
        (try? CanonicalJSON.text(value)) ?? "null"
    }

    /// `value` as JSON text, or the encoder's error.
    public static func encoded(_ value: some Encodable) throws -> String {
        try CanonicalJSON.text(value)
    }
}
