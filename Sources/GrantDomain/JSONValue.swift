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
        (try? DomainEvent.sharedEncoder.encode(self)) ?? Data("null".utf8)
    }

    /// Parses one JSON text; nil when it is not valid JSON.
    public static func parse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
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

    /// The value of a required field: the optional readers throw for a missing one, so
    /// nil cannot reach here, but no unwrap traps if it ever does.
    private func present<T>(_ value: T?, _ key: String) throws(DomainError) -> T {
        guard let value else { throw .invalid("\(command): missing field \"\(key)\"") }
        return value
    }

    mutating func string(_ key: String, length: ClosedRange<Int> = 1...10_000) throws(DomainError) -> String {
        try present(try optionalString(key, length: length, required: true), key)
    }

    mutating func optionalString(_ key: String, length: ClosedRange<Int> = 1...10_000, required: Bool = false)
        throws(DomainError) -> String?
    {
        guard let value = try value(key, required: required) else { return nil }
        // Lengths count Unicode scalars, as PostgreSQL's length() does.
        guard case .string(let text) = value, length.contains(text.unicodeScalars.count) else {
            throw fail(key, value, "a string of \(length.lowerBound)-\(length.upperBound) characters")
        }
        return text
    }

    mutating func identifier(_ key: String) throws(DomainError) -> String {
        try present(try optionalIdentifier(key, required: true), key)
    }

    mutating func optionalIdentifier(_ key: String, required: Bool = false) throws(DomainError) -> String? {
        guard let value = try value(key, required: required) else { return nil }
        guard case .string(let text) = value, Identifier.isValid(text) else {
            throw fail(key, value, "an identifier matching ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
        }
        return text
    }

    mutating func money(_ key: String) throws(DomainError) -> Money {
        try present(try optionalMoney(key, required: true), key)
    }

    mutating func optionalMoney(_ key: String, required: Bool = false) throws(DomainError) -> Money? {
        guard let value = try value(key, required: required) else { return nil }
        guard case .string(let text) = value, let money = Money(text) else {
            throw fail(key, value, "a money amount as a string, non-negative with at most 2 decimals (\"1250.50\")")
        }
        return money
    }

    mutating func optionalDate(_ key: String, required: Bool) throws(DomainError) -> BusinessDate? {
        guard let value = try value(key, required: required) else { return nil }
        guard case .string(let text) = value, let date = BusinessDate(text) else {
            throw fail(key, value, "a date YYYY-MM-DD")
        }
        return date
    }

    mutating func optionalBool(_ key: String, required: Bool) throws(DomainError) -> Bool? {
        guard let value = try value(key, required: required) else { return nil }
        guard case .bool(let flag) = value else { throw fail(key, value, "true or false") }
        return flag
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int64>) throws(DomainError) -> Int64 {
        try present(try optionalInteger(key, in: range, required: true), key)
    }

    mutating func optionalInteger(_ key: String, in range: ClosedRange<Int64>, required: Bool = false)
        throws(DomainError) -> Int64?
    {
        guard let value = try value(key, required: required) else { return nil }
        guard case .integer(let number) = value, range.contains(number) else {
            throw fail(key, value, "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(DomainError)
        -> E
    where E.RawValue == String {
        try present(try optionalEnumeration(key, type, required: true), key)
    }

    mutating func optionalEnumeration<E: RawRepresentable & CaseIterable>(
        _ key: String, _ type: E.Type, required: Bool = false
    ) throws(DomainError) -> E? where E.RawValue == String {
        guard let value = try value(key, required: required) else { return nil }
        guard case .string(let text) = value, let parsed = E(rawValue: text) else {
            throw fail(key, value, "one of " + E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        return parsed
    }

    mutating func members(_ key: String) throws(DomainError) -> [Member] {
        let value = try present(try value(key, required: true), key)
        guard case .array(let items) = value, !items.isEmpty else {
            throw fail(key, value, "a non-empty list of {organisationId, role}")
        }
        var members: [Member] = []
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item else {
                throw fail("\(key)[\(index)]", item, "an object {organisationId, role}")
            }
            var reader = FieldReader(object, command: "\(command) \(key)[\(index)]")
            let organisationId = try reader.identifier("organisationId")
            let role = try reader.enumeration("role", MemberRole.self)
            try reader.finish(allowingCommandKeys: false)
            members.append(Member(organisationId: organisationId, role: role))
        }
        return members
    }

    /// Checks the shape of one field against its description (a missing required field, a
    /// wrong type, a bad identifier, date, money, enumeration value, length or range).
    mutating func check(_ field: FieldSpec) throws(DomainError) {
        let key = field.name
        switch field.type {
        case .identifier:
            _ = try optionalIdentifier(key, required: field.required)
        case .text(let length):
            _ = try optionalString(key, length: length, required: field.required)
        case .country:
            if let country = try optionalString(key, length: 2...2, required: field.required),
                !country.utf8.allSatisfy({ (65...90).contains($0) })
            {
                throw .invalid(
                    "\(command): field \"\(key)\" is \"\(country)\", expected an ISO 3166-1 alpha-2 code such as \"KZ\""
                )
            }
        case .region, .bin:
            // Their validity depends on other fields (country, registration status): checked by
            // the organisation profile's rules, which name the field too.
            _ = try optionalString(key, required: field.required)
        case .money:
            _ = try optionalMoney(key, required: field.required)
        case .positiveMoney:
            if try optionalMoney(key, required: field.required) == .zero {
                throw .rule("\(command): field \"\(key)\" is \"0\"; it must be more than 0")
            }
        case .date:
            _ = try optionalDate(key, required: field.required)
        case .bool:
            _ = try optionalBool(key, required: field.required)
        case .integer(let range):
            _ = try optionalInteger(key, in: range, required: field.required)
        case .enumeration(let values):
            guard let value = try value(key, required: field.required) else { return }
            guard case .string(let text) = value, values.contains(text) || field.refusedByRule.contains(text) else {
                throw fail(key, value, "one of " + values.map { "\"\($0)\"" }.joined(separator: ", "))
            }
        case .members:
            if field.required || fields[key] != nil { _ = try members(key) }
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
