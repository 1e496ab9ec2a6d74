import Foundation
import GrantDomain
import GrantLedgerHTTP
import Testing

@testable import TestSupport

/// The command table, the CLI and `/openapi.json` say the same thing, and whatever fits a
/// command's schema in the document is what the server's decoder accepts.
@Suite("One command table")
struct CommandTableTests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    static func schemas() throws -> [String: [String: Any]] {
        let components = try #require(try document()["components"] as? [String: Any])
        return try #require(components["schemas"] as? [String: [String: Any]])
    }

    /// A value the property's schema allows: the first of an enumeration, the minimum, or a
    /// sample for each pattern the document uses.
    static func sample(_ property: [String: Any], longest: Bool = false) -> Any {
        if let constant = property["const"] { return constant }
        if let values = property["enum"] as? [Any], let first = longest ? values.last : values.first { return first }
        switch property["type"] as? String {
        case "boolean": return true
        case "integer": return (longest ? property["maximum"] : property["minimum"]) ?? 0
        case "array":
            // From the items' own schema: every value of an enumeration (distinct) when the
            // longest is asked for, else as few items as the schema allows, at least one.
            let items = (property["items"] as? [String: Any]) ?? [:]
            if longest, let values = items["enum"] as? [Any] { return values }
            let minimum = property["minItems"] as? Int ?? 0
            // (A member list's one member is its lead: the first role.)
            let item = sample(items, longest: longest && items["type"] as? String != "object")
            return minimum == 0 && !longest ? [Any]() : [item]
        case "object":
            let nested = (property["properties"] as? [String: [String: Any]]) ?? [:]
            if let required = property["required"] as? [String] {
                // Every required key, then the first way the schema's anyOf can be met.
                var object = Dictionary(
                    uniqueKeysWithValues: required.map { ($0, sample(nested[$0] ?? [:], longest: longest)) })
                if let first = (property["anyOf"] as? [[String: Any]])?.first { meet(first, in: &object) }
                return object
            }
            // Minimum shares: nothing, or every dimension and value.
            return longest ? nested.mapValues { sample($0, longest: true) } : [String: Any]()
        default:
            break
        }
        if property["format"] as? String == "date" { return "2025-01-01" }
        switch property["pattern"] as? String {
        case "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"?: return longest ? "I" + String(repeating: "d", count: 63) : "ID-1"
        case "^[A-Z]{2}$"?: return "KZ"
        case "^[0-9]{12}$"?: return "950440001673"
        case "^[0-9]{1,13}(\\.[0-9]{1,2})?$"?: return longest ? "60000.00" : "1250.5"
        case "^(0(\\.[0-9]{1,4})?|1(\\.0{1,4})?)$"?: return longest ? "0.4286" : "1"
        case "^([0-9]{1,3}(\\.[0-9]{1,2})?|1000(\\.0{1,2})?)$"?: return longest ? "1000.00" : "37.5"
        default: break
        }
        let length = (longest ? property["maxLength"] : property["minLength"]) as? Int ?? 1
        return String(repeating: longest ? "é" : "t", count: max(length, 1))
    }

    /// Sets the nested `minimum`s an `anyOf` alternative asks for (`{properties: {hrd:
    /// {properties: {women: {minimum: 1}}}}}`) in `object`.
    static func meet(_ alternative: [String: Any], in object: inout [String: Any]) {
        for (key, inner) in (alternative["properties"] as? [String: [String: Any]]) ?? [:] {
            if let minimum = inner["minimum"] {
                object[key] = minimum
            } else if var nested = object[key] as? [String: Any] {
                meet(inner, in: &nested)
                object[key] = nested
            }
        }
    }

    /// Applies the schema's `allOf` (if/then/else required or forbidden, anyOf at least one).
    static func settle(_ object: inout [String: Any], schema: [String: Any], properties: [String: [String: Any]]) {
        for _ in 0..<3 {
            for rule in (schema["allOf"] as? [[String: Any]]) ?? [] {
                if let choices = rule["anyOf"] as? [[String: Any]] {
                    let names = choices.compactMap { ($0["required"] as? [String])?.first }
                    if !names.contains(where: { object[$0] != nil }), let first = names.first,
                        let property = properties[first]
                    {
                        object[first] = sample(property)
                    }
                    continue
                }
                guard let test = rule["if"] as? [String: Any] else { continue }
                let consts = (test["properties"] as? [String: [String: Any]]) ?? [:]
                let holds = consts.allSatisfy { name, constant in
                    guard let value = object[name], let expected = constant["const"] else { return false }
                    if let text = value as? String { return text == expected as? String }
                    return (value as? Bool) != nil && (value as? Bool) == (expected as? Bool)
                }
                guard let effect = (holds ? rule["then"] : rule["else"]) as? [String: Any] else { continue }
                for part in (effect["allOf"] as? [[String: Any]]) ?? [effect] {
                    for name in (part["required"] as? [String]) ?? [] where object[name] == nil {
                        if let property = properties[name] { object[name] = sample(property) }
                    }
                    let forbidden = ((part["not"] as? [String: Any])?["anyOf"] as? [[String: Any]]) ?? []
                    for choice in forbidden {
                        for name in (choice["required"] as? [String]) ?? [] { object[name] = nil }
                    }
                }
            }
        }
    }

    static func parse(_ object: [String: Any]) throws -> Result<CommandRequest, DomainError> {
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            return .success(try CommandRequest.parse(String(decoding: data, as: UTF8.self)))
        } catch {
            return .failure(error)
        }
    }

    @Test("the entity kinds a history answer names are the entity table's")
    func historyKinds() throws {
        let history = try #require(Self.schemas()["EntityHistory"])
        let kind = try #require((history["properties"] as? [String: Any])?["kind"] as? [String: Any])
        #expect(kind["enum"] as? [String] == EntityKind.allCases.map(\.argumentName))
    }

    @Test("the document has one exact schema per command of the table, and Command is their oneOf")
    func documentMatchesTable() throws {
        let schemas = try Self.schemas()
        let command = try #require(schemas["Command"])
        let oneOf = try #require(command["oneOf"] as? [[String: String]])
        #expect(oneOf.count == CommandTable.specs.count)
        for spec in CommandTable.specs {
            let name = spec.name.prefix(1).uppercased() + spec.name.dropFirst() + "Command"
            #expect(oneOf.contains { $0["$ref"] == "#/components/schemas/\(name)" })
            let schema = try #require(schemas[name], "\(name)")
            #expect(schema["additionalProperties"] as? Bool == false)
            let properties = try #require(schema["properties"] as? [String: Any])
            #expect(Set(properties.keys) == Set(spec.fields.map(\.name) + ["command", "commandId"]), "\(spec.name)")
            let required = try #require(schema["required"] as? [String])
            #expect(
                Set(required) == Set(spec.fields.filter(\.required).map(\.name) + ["command", "commandId"]),
                "\(spec.name)")
        }
    }

    @Test("the served document is valid OpenAPI 3.1 for the reference validator")
    func validDocument() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gl-openapi-\(UUID().uuidString).json")
        try Data(OpenAPIDocument.json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await Subprocess.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
                file.path,
            ], environment: ProcessInfo.processInfo.environment)
        #expect(result.status == 0, "\(result.stderr.suffix(2_000))")
    }

    @Test("what fits a command's schema is accepted; what breaks it is invalid")
    func examples() throws {
        let schemas = try Self.schemas()
        var accepted = 0
        var refused = 0
        for spec in CommandTable.specs {
            let name = spec.name.prefix(1).uppercased() + spec.name.dropFirst() + "Command"
            let schema = try #require(schemas[name])
            let properties = try #require(schema["properties"] as? [String: [String: Any]])
            let required = try #require(schema["required"] as? [String])

            // Valid: required fields only; every property at its longest; each value of each
            // enumeration and boolean.
            var minimal: [String: Any] = [:]
            for field in required { minimal[field] = Self.sample(properties[field] ?? [:]) }
            var variants: [[String: Any]] = [minimal]
            var full: [String: Any] = [:]
            for (field, property) in properties where field != "commandId" {
                full[field] = Self.sample(property, longest: true)
            }
            variants.append(full)
            for (field, property) in properties {
                let values: [Any] =
                    (property["enum"] as? [Any]) ?? (property["type"] as? String == "boolean" ? [true, false] : [])
                for value in values {
                    var variant = minimal
                    variant[field] = value
                    variants.append(variant)
                }
            }
            for var variant in variants {
                Self.settle(&variant, schema: schema, properties: properties)
                switch try Self.parse(variant) {
                case .success(let request):
                    #expect(request.command.name == spec.name)
                    accepted += 1
                case .failure(let error):
                    Issue.record("\(spec.name): a request that fits the schema was refused: \(error) — \(variant)")
                }
            }

            // Invalid: each required field missing, an unknown field, each field ill-typed,
            // too long, or holding U+0000.
            var base = minimal
            Self.settle(&base, schema: schema, properties: properties)
            var broken: [(String, [String: Any])] = []
            // A body without commandId parses: the Idempotency-Key header may carry it (the route
            // refuses a command with neither, HTTPTests).
            for field in required where field != "command" && field != "commandId" {
                var variant = base
                variant[field] = nil
                broken.append(("without \(field)", variant))
            }
            var extra = base
            extra["unexpectedField"] = "x"
            broken.append(("with an unknown field", extra))
            for (field, property) in properties where field != "command" {
                var wrongType = base
                wrongType[field] = ["not": "this"]
                broken.append(("\(field) as an object", wrongType))
                if let maxLength = property["maxLength"] as? Int {
                    var tooLong = base
                    tooLong[field] = String(repeating: "e\u{301}", count: maxLength / 2 + 1)
                    broken.append(("\(field) too long", tooLong))
                }
                if property["type"] as? String == "string" {
                    var nul = base
                    nul[field] = "a\u{0}b"
                    broken.append(("\(field) with U+0000", nul))
                }
                if property["type"] as? String == "object", let nested = property["properties"] as? [String: Any],
                    let dimension = nested.keys.sorted().first
                {
                    // A share above 1, one with 5 decimals, a value the dimension lacks.
                    for (value, share) in [("women", "1.5"), ("women", "0.12345"), ("nobody", "0.5")] {
                        var badShare = base
                        let key = dimension == "leadershipGender" ? value : value == "women" ? "rural" : value
                        badShare[field] = [dimension: [key: share]]
                        broken.append(("\(field) with \(dimension).\(key) \(share)", badShare))
                    }
                }
                if property["uniqueItems"] as? Bool == true, let items = property["items"] as? [String: Any] {
                    var twice = base
                    twice[field] = [Self.sample(items), Self.sample(items)]
                    broken.append(("\(field) with an item twice", twice))
                    if let maxItems = property["maxItems"] as? Int {
                        var tooMany = base
                        tooMany[field] = (0...maxItems).map { "ITEM-\($0)" }
                        broken.append(("\(field) with \(maxItems + 1) items", tooMany))
                    }
                }
                if let maximum = property["maximum"] as? Int {
                    var tooBig = base
                    tooBig[field] = maximum + 1
                    broken.append(("\(field) above its maximum", tooBig))
                }
            }
            for (what, variant) in broken {
                switch try Self.parse(variant) {
                case .success:
                    Issue.record("\(spec.name) \(what) was accepted")
                case .failure(let error):
                    #expect(error.code == .invalid, "\(spec.name) \(what): \(error)")
                    refused += 1
                }
            }
        }
        #expect(accepted >= 3 * CommandTable.specs.count)
        #expect(refused > 10 * CommandTable.specs.count)
    }

    @Test("every command's CLI subcommand has one option per field, and its help shows formats and limits")
    func cliMatchesTable() async throws {
        let cli = CLI(databaseURL: "")
        for spec in CommandTable.specs {
            let kebab = spec.name.reduce(into: "") { out, character in
                out += character.isUppercase ? "-" + character.lowercased() : String(character)
            }
            let help = try await cli.run([kebab, "--help"])
            #expect(help.status == 0, "\(kebab)")
            for field in spec.fields {
                let option =
                    field.type == .members
                    ? "--member"
                    : "--"
                        + field.name.reduce(into: "") { out, character in
                            out += character.isUppercase ? "-" + character.lowercased() : String(character)
                        }
                #expect(help.stdout.contains(option + ":"), "\(kebab) --help lacks \(option)")
            }
        }
        // Help texts are wrapped at the terminal width: compare with single spaces.
        func words(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let publish = words(try await cli.run(["publish-call", "--help"]).stdout)
        #expect(publish.contains("at most 60000"))
        #expect(publish.contains("YYYY-MM-DD"))
        let register = words(try await cli.run(["register-organisation", "--help"]).stdout)
        #expect(register.contains("informalGroup") && register.contains("undisclosed"))
    }
}
