import Foundation

/// The kind of value a command field holds (docs/domain.md §1-§2).
///
/// One description serves the JSON decoder (which checks each field's shape and names the
/// field in its §5 message), the CLI (options and their help) and the OpenAPI document
/// (an exact JSON schema per command).
public enum FieldType: Sendable, Hashable {
    /// `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
    case identifier
    /// Free text of so many Unicode scalars.
    case text(ClosedRange<Int>)
    /// ISO 3166-1 alpha-2, upper case.
    case country
    /// An ISO 3166-2:KZ code of §6; checked with the rules of the organisation profile.
    case region
    /// Twelve digits with a §7 check digit; checked with the rules of the organisation profile.
    case bin
    /// Money as a string; `maximum` is a rule of §2 shown in help texts (checked by `decide`).
    case money(maximum: Money?)
    /// Money more than 0 (a payment, a sub-grant): 0 is refused as `ruleViolated`.
    case positiveMoney(maximum: Money?)
    /// A business date `YYYY-MM-DD`.
    case date
    case bool
    case integer(ClosedRange<Int64>)
    /// One of these exact strings.
    case enumeration([String])
    /// A non-empty list of `{organisationId, role}`.
    case members
    /// Minimum shares `{dimension: {value: share}}` (docs/domain.md §10): dimensions and
    /// values of `ShareDimension`, shares decimal strings from 0 to 1 with at most 4 decimals.
    case shares
    /// A list of distinct values from these, possibly empty.
    case enumerationSet([String])
    /// A list of distinct identifiers, possibly empty, at most so many.
    case identifierSet(maximum: Int)
    /// People supported, as counts (docs/domain.md §12): `{group: {gender: count}}`, every
    /// group and gender present, counts 0-100,000, at least one above 0.
    case peopleCounts
    /// A non-negative decimal string with at most 2 decimals, at most `maximum` (an index
    /// score); above it is `invalid`.
    case decimal(maximum: Int)

    /// How the value is written, for help texts.
    public var formatHelp: String {
        switch self {
        case .identifier:
            return "an identifier: letters, digits, '.', '_' or '-', 1-64, starting with a letter or digit"
        case .text(let length): return "text of \(length.lowerBound)-\(length.upperBound) characters"
        case .country: return "an ISO 3166-1 alpha-2 country code, e.g. KZ"
        case .region: return "an ISO 3166-2:KZ region code (KZ only): " + Region.codes.joined(separator: ", ")
        case .bin: return "a 12-digit Business Identification Number with its check digit"
        case .money(let maximum):
            return "an amount in EUR with at most 2 decimals, e.g. 1250.50"
                + (maximum.map { "; at most \($0)" } ?? "")
        case .positiveMoney(let maximum):
            return "an amount in EUR with at most 2 decimals, more than 0, e.g. 1250.50"
                + (maximum.map { "; at most \($0)" } ?? "")
        case .date: return "a date YYYY-MM-DD"
        case .bool: return "true or false"
        case .integer(let range): return "an integer from \(range.lowerBound) to \(range.upperBound)"
        case .enumeration(let values): return "one of " + values.joined(separator: ", ")
        case .members:
            return "ORGANISATION_ID:ROLE, role one of " + MemberRole.allCases.map(\.rawValue).joined(separator: ", ")
        case .shares:
            return "a JSON object {dimension: {value: share}}, dimension one of "
                + ShareDimension.allCases.map(\.rawValue).joined(separator: ", ")
                + ", share a decimal from 0 to 1 with at most 4 decimals, e.g. {\"leadershipGender\": {\"women\": \"0.5\"}}"
        case .enumerationSet(let values):
            return "a list of distinct values, possibly empty, each one of " + values.joined(separator: ", ")
        case .identifierSet(let maximum):
            return "a list of at most \(maximum) distinct identifiers, possibly empty"
        case .peopleCounts:
            return "a JSON object {group: {gender: count}} with every group ("
                + PeopleSupported.Group.allCases.map(\.rawValue).joined(separator: ", ") + ") and gender ("
                + PeopleSupported.Gender.allCases.map(\.rawValue).joined(separator: ", ")
                + "), counts 0-100000, at least one above 0"
        case .decimal(let maximum):
            return "a decimal from 0 to \(maximum) with at most 2 decimals, e.g. \"37.5\""
        }
    }
}

/// One field of a command.
public struct FieldSpec: Sendable, Hashable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    /// What the field means, when its name does not say it all.
    public var help: String?
    /// Enumeration values the decoder lets through so that a §2 rule answers them
    /// (`ruleViolated`, e.g. adding a second `lead`); `type` lists only the allowed ones.
    public var refusedByRule: [String]

    public init(
        _ name: String, _ type: FieldType, required: Bool = true, help: String? = nil, refusedByRule: [String] = []
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.help = help
        self.refusedByRule = refusedByRule
    }

    /// An enumeration field whose values are the cases of `E`, less those a rule refuses
    /// (they parse, then the rule names why) and those the field never takes (`except`: they
    /// are `invalid` like any value outside the enumeration).
    public static func choice<E: RawRepresentable & CaseIterable>(
        _ name: String, _ type: E.Type, required: Bool = true, help: String? = nil, refusedByRule: [E] = [],
        except: [E] = []
    ) -> FieldSpec where E.RawValue == String {
        let refused = refusedByRule.map(\.rawValue)
        let excluded = except.map(\.rawValue)
        return FieldSpec(
            name, .enumeration(E.allCases.map(\.rawValue).filter { !refused.contains($0) && !excluded.contains($0) }),
            required: required,
            help: help,
            refusedByRule: refused)
    }
}

/// Fields that the values of others make required or forbidden, e.g. `regionCode` is
/// required when `country` is `"KZ"` and forbidden otherwise.
public struct FieldCondition: Sendable, Hashable {
    /// The fields and values that, all present and equal, make the condition hold.
    public var when: [String: JSONValue]
    /// True when the condition holds exactly when `when` does not.
    public var otherwise: Bool
    /// Fields that must be present while the condition holds.
    public var required: [String]
    /// Fields that must be absent while the condition holds.
    public var forbidden: [String]

    public init(when: [String: JSONValue], otherwise: Bool = false, required: [String] = [], forbidden: [String] = []) {
        self.when = when
        self.otherwise = otherwise
        self.required = required
        self.forbidden = forbidden
    }

    func holds(in fields: [String: JSONValue]) -> Bool {
        when.allSatisfy { fields[$0.key] == $0.value } != otherwise
    }

    /// `"country" is "KZ"`, for messages.
    var clause: String {
        let parts = when.sorted { $0.key < $1.key }.map { "\"\($0.key)\" is \($0.value.shortDescription)" }
        return (otherwise ? "not " : "") + parts.joined(separator: " and ")
    }
}

/// A command as docs/domain.md §2 describes it: its name, the event it records, what it does
/// and its fields, in order.
public struct CommandSpec: Sendable {
    public var name: String
    public var event: String
    public var summary: String
    public var fields: [FieldSpec]
    /// Fields that the values of others make required or forbidden.
    public var conditions: [FieldCondition] = []
    /// At least one of these fields must be given (`updateOrganisationProfile`).
    public var atLeastOneOf: [String] = []
    /// Rules between fields worth saying in help texts.
    public var notes: String? = nil
    /// The section of docs/domain.md that defines the command (`§2`, `§12`).
    public var section = "§2"
}

/// The payload of one command: its description, the rules between its fields, and its place
/// in `Command`.
public protocol CommandPayload: Codable, JSONObjectDecodable, Sendable, Hashable {
    /// The command's description, from which decoding, the CLI and the OpenAPI schema derive.
    static var spec: CommandSpec { get }
    /// Rules between this command's fields, checked once every field has its shape.
    func validate() throws(DomainError)
    /// The command this payload makes.
    var command: Command { get }
}

extension CommandPayload {
    public func validate() throws(DomainError) {}

    /// Checks every field of `fields` against the spec (naming the field at fault), decodes
    /// the payload and checks the rules between its fields.
    static func decode(_ fields: [String: JSONValue]) throws(DomainError) -> Command {
        var reader = FieldReader(fields, command: spec.name)
        for field in spec.fields {
            try reader.check(field)
        }
        for condition in spec.conditions where condition.holds(in: fields) {
            for name in condition.required where fields[name] == nil {
                throw .invalid("\(spec.name): missing field \"\(name)\" (required when \(condition.clause))")
            }
            for name in condition.forbidden {
                if let value = fields[name] {
                    throw .invalid(
                        "\(spec.name): field \"\(name)\" is \(value.shortDescription) but \(condition.clause)")
                }
            }
        }
        if !spec.atLeastOneOf.isEmpty, !spec.atLeastOneOf.contains(where: { fields[$0] != nil }) {
            throw .invalid(
                "\(spec.name): give at least one of " + spec.atLeastOneOf.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        let value: Self
        do {
            // Reads the payload's fields by name; `command` and `commandId` are not among them.
            value = try Self(fields: fields)
        } catch {
            // The checks above admit only what the type decodes; this is a mismatch between
            // the spec and the type, which the tests exercise for every command.
            throw .invalid("\(spec.name): the fields do not fit the command")
        }
        try value.validate()
        try reader.finish()
        return value.command
    }
}

/// Every command, in docs/domain.md order: `payloads` is generated from Commands.table.
public enum CommandTable {
    /// Every command's description, in docs/domain.md order.
    public static var specs: [CommandSpec] { payloads.map { $0.spec } }

    static let byName: [String: any CommandPayload.Type] = Dictionary(
        uniqueKeysWithValues: payloads.map { ($0.spec.name, $0) })

    /// The payload type of the command called `name`.
    public static func payload(named name: String) -> (any CommandPayload.Type)? { byName[name] }
}
