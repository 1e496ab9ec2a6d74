import Foundation
import GrantDomain

/// JSON schemas (OpenAPI 3.1, JSON Schema 2020-12) of every command, derived from the
/// command table: `Command` is a `oneOf` of one exact schema per command, with its required
/// fields, formats, patterns, enumerations, limits and the fields other fields make
/// required or forbidden. Nothing here is typed twice: change the table and the document
/// follows.
enum CommandSchemas {
    static let noNUL = "^[^\\u0000]*$"
    static let datePattern = "^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
    static let moneyPattern = "^[0-9]{1,13}(\\.[0-9]{1,2})?$"
    /// A share from 0 to 1 with at most 4 decimals (docs/domain.md §10).
    static let sharePattern = "^(0(\\.[0-9]{1,4})?|1(\\.0{1,4})?)$"

    /// The component name of a command's schema: `RegisterOrganisationCommand`.
    static func componentName(_ spec: CommandSpec) -> String {
        (spec.name.first.map { String($0).uppercased() } ?? "") + spec.name.dropFirst() + "Command"
    }

    static func schema(_ type: FieldType) -> [String: Any] {
        switch type {
        case .identifier:
            return ["type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"]
        case .text(let length):
            return ["type": "string", "minLength": length.lowerBound, "maxLength": length.upperBound, "pattern": noNUL]
        case .country:
            return ["type": "string", "pattern": "^[A-Z]{2}$", "description": type.formatHelp]
        case .region:
            return ["type": "string", "enum": Region.codes]
        case .bin:
            return [
                "type": "string", "pattern": "^[0-9]{12}$", "description": type.formatHelp + " (docs/domain.md §7)",
            ]
        case .money, .positiveMoney:
            return ["type": "string", "pattern": moneyPattern, "description": type.formatHelp]
        case .date:
            return ["type": "string", "format": "date", "pattern": datePattern]
        case .bool:
            return ["type": "boolean"]
        case .integer(let range):
            return ["type": "integer", "minimum": range.lowerBound, "maximum": range.upperBound]
        case .enumeration(let values):
            return ["type": "string", "enum": values]
        case .members:
            return [
                "type": "array", "minItems": 1,
                "items": [
                    "type": "object", "required": ["organisationId", "role"], "additionalProperties": false,
                    "properties": [
                        "organisationId": schema(.identifier),
                        "role": schema(.enumeration(MemberRole.allCases.map(\.rawValue))),
                    ],
                ],
            ]
        case .shares:
            let share: [String: Any] = ["type": "string", "pattern": sharePattern]
            var dimensions: [String: Any] = [:]
            for dimension in ShareDimension.allCases {
                dimensions[dimension.rawValue] = [
                    "type": "object", "additionalProperties": false,
                    "properties": Dictionary(uniqueKeysWithValues: dimension.values.map { ($0, share) }),
                ]
            }
            return [
                "type": "object", "additionalProperties": false, "properties": dimensions,
                "description": type.formatHelp,
            ]
        case .enumerationSet(let values):
            return ["type": "array", "uniqueItems": true, "items": ["type": "string", "enum": values]]
        case .identifierSet(let maximum):
            return ["type": "array", "uniqueItems": true, "maxItems": maximum, "items": schema(.identifier)]
        case .peopleCounts:
            let genders = PeopleSupported.Gender.allCases.map(\.rawValue)
            let groups = PeopleSupported.Group.allCases.map(\.rawValue)
            let count: [String: Any] = ["type": "integer", "minimum": 0, "maximum": PeopleSupported.maximum]
            let counts: [String: Any] = [
                "type": "object", "required": genders, "additionalProperties": false,
                "properties": Dictionary(uniqueKeysWithValues: genders.map { ($0, count) }),
            ]
            // At least one count above 0: some group has some gender at 1 or more.
            let someoneCounted: [[String: Any]] = groups.flatMap { group in
                genders.map { gender -> [String: Any] in
                    ["properties": [group: ["properties": [gender: ["minimum": 1]]]]]
                }
            }
            return [
                "type": "object", "required": groups, "additionalProperties": false,
                "properties": Dictionary(uniqueKeysWithValues: groups.map { ($0, counts) }),
                "anyOf": someoneCounted, "description": type.formatHelp,
            ]
        case .decimal(let maximum):
            return [
                "type": "string", "pattern": decimalPattern(maximum: maximum), "description": type.formatHelp,
            ]
        }
    }

    /// A non-negative decimal with at most 2 decimals, at most `maximum` (a power of ten, as
    /// the index scores' 1000): fewer digits than it, or it exactly.
    static func decimalPattern(maximum: Int) -> String {
        let digits = String(maximum).count - 1
        return "^([0-9]{1,\(digits)}(\\.[0-9]{1,2})?|\(maximum)(\\.0{1,2})?)$"
    }

    static func jsonObject(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .integer(let number): return number
        case .number(let number): return number
        case .string(let text): return text
        case .array(let items): return items.map(jsonObject)
        case .object(let fields): return fields.mapValues(jsonObject)
        }
    }

    static func schema(_ condition: FieldCondition) -> [String: Any] {
        let test: [String: Any] = [
            "properties": condition.when.mapValues { ["const": jsonObject($0)] },
            "required": condition.when.keys.sorted(),
        ]
        var effect: [[String: Any]] = []
        if !condition.required.isEmpty { effect.append(["required": condition.required]) }
        if !condition.forbidden.isEmpty {
            effect.append(["not": ["anyOf": condition.forbidden.map { ["required": [$0]] }]])
        }
        let consequence: [String: Any] = effect.count == 1 ? effect[0] : ["allOf": effect]
        return ["if": test, condition.otherwise ? "else" : "then": consequence]
    }

    static func schema(_ spec: CommandSpec) -> [String: Any] {
        var properties: [String: Any] = [
            "command": ["const": spec.name],
            "commandId": ["type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000]+$"],
        ]
        for field in spec.fields {
            var property = schema(field.type)
            if let help = field.help {
                property["description"] = [property["description"] as? String, help].compactMap { $0 }.joined(
                    separator: "; ")
            }
            properties[field.name] = property
        }
        var result: [String: Any] = [
            "type": "object",
            "title": spec.name,
            "description": "\(spec.summary) Records \(spec.event). docs/domain.md \(spec.section)."
                + (spec.notes.map { " " + $0 } ?? ""),
            // The document requires commandId in the body; the Idempotency-Key header that may
            // carry it instead (docs/domain.md §1) is told in prose, since a schema cannot say
            // "this member or that header".
            "required": ["command", "commandId"] + spec.fields.filter(\.required).map(\.name),
            "properties": properties,
            "additionalProperties": false,
        ]
        var all = spec.conditions.map(schema)
        if !spec.atLeastOneOf.isEmpty {
            all.append(["anyOf": spec.atLeastOneOf.map { ["required": [$0]] }])
        }
        if !all.isEmpty { result["allOf"] = all }
        return result
    }

    /// `components.schemas` entries: `Command` and one schema per command.
    static func components() -> [String: Any] {
        var components: [String: Any] = [:]
        var mapping: [String: String] = [:]
        for spec in CommandTable.specs {
            let name = componentName(spec)
            components[name] = schema(spec)
            mapping[spec.name] = "#/components/schemas/\(name)"
        }
        components["Command"] = [
            "description": """
            One command of docs/domain.md §2, with its commandId. (The server also takes the \
            command id from an Idempotency-Key header when the body has none, as docs/domain.md §1 \
            allows; when both are sent they must be equal.) Lengths count Unicode scalar values; \
            no string may contain U+0000.
            """,
            "oneOf": CommandTable.specs.map { ["$ref": "#/components/schemas/\(componentName($0))"] },
            "discriminator": ["propertyName": "command", "mapping": mapping],
        ]
        return components
    }

    /// The document of `openapi.json` with the command schemas put in.
    static func document(merging text: String) -> String {
        guard let data = text.data(using: .utf8),
            var document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return text }
        var components = document["components"] as? [String: Any] ?? [:]
        var schemas = components["schemas"] as? [String: Any] ?? [:]
        for (name, schema) in self.components() { schemas[name] = schema }
        components["schemas"] = schemas
        document["components"] = components
        guard
            let merged = try? JSONSerialization.data(
                withJSONObject: document, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        else { return text }
        return String(decoding: merged, as: UTF8.self)
    }
}
