// Turns the command table (Sources/GrantDomain/Commands.table) into Swift: each payload type
// with its `spec`, the `Command` and `DomainEvent` enumerations and `CommandTable.payloads`.
// Run by the CommandTable build-tool plugin: `CommandTableGenerator <table> <output.swift>`.
// The table's grammar is described at the top of the table itself.

import Foundation

struct Field {
    var name: String
    var swiftType: String
    var optional: Bool
    /// A `FieldType` expression, or `choice` / `choice(<arguments>)`.
    var kind: String
    var help: String?
    /// Its line in the table.
    var line: Int
}

/// `require <fields> when <field> = <value>, …` / `forbid <fields> when|unless …`.
struct Condition {
    var required: Bool
    var fields: [String]
    /// (field, value as a Swift literal: a quoted string, `true` or `false`).
    var when: [(String, String)]
    var otherwise: Bool
    var line: Int
}

struct Entry {
    var name: String
    var type: String
    var event: String
    var summary = ""
    var stream = ""
    var data: String?
    var conditions: [Condition] = []
    var atLeastOneOf: [String] = []
    var notes: String?
    /// The docs/domain.md section of the `## ... (docs/domain.md §N)` heading above it.
    var section = "§2"
    var fields: [Field] = []
    var line: Int
}

struct TableError: Error, CustomStringConvertible {
    var description: String
}

func lowerFirst(_ text: String) -> String { text.prefix(1).lowercased() + text.dropFirst() }

func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

func parse(_ text: String, path: String) throws -> [Entry] {
    var entries: [Entry] = []
    var section = "§2"
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let number = index + 1
        let line = raw.trimmingCharacters(in: .whitespaces)
        func fail(_ message: String) -> TableError { TableError(description: "\(path):\(number): \(message)") }
        if line.hasPrefix("## ") {
            // A heading names the section of docs/domain.md its commands come from, if not §2.
            if let marker = line.range(of: "docs/domain.md §") {
                section = "§" + line[marker.upperBound...].prefix { $0.isNumber }
            } else {
                section = "§2"
            }
        }
        if line.isEmpty || line.hasPrefix("#") { continue }
        if line.hasPrefix("command ") {
            // command <name>: <Type> -> <Event>
            let parts = line.dropFirst("command ".count).split(separator: " ").map(String.init)
            guard parts.count == 4, parts[0].hasSuffix(":"), parts[2] == "->" else {
                throw fail("expected `command <name>: <Type> -> <Event>`")
            }
            var entry = Entry(name: String(parts[0].dropLast()), type: parts[1], event: parts[3], line: number)
            entry.section = section
            entries.append(entry)
            continue
        }
        guard var entry = entries.popLast() else { throw fail("a line outside any `command` entry") }
        defer { entries.append(entry) }
        if line.hasPrefix("summary ") {
            entry.summary = String(line.dropFirst("summary ".count))
        } else if line.hasPrefix("stream ") {
            let stream = String(line.dropFirst("stream ".count))
            if let open = stream.firstIndex(of: "("), stream.hasSuffix(")") {
                let fields = stream[stream.index(after: open)..<stream.index(before: stream.endIndex)]
                    .split(separator: ",").map { "e." + $0.trimmingCharacters(in: .whitespaces) }
                entry.stream = "Streams.\(stream[..<open])(\(fields.joined(separator: ", ")))"
            } else {
                entry.stream = "Streams.\(stream)"
            }
        } else if line.hasPrefix("data ") {
            entry.data = String(line.dropFirst("data ".count))
        } else if line.hasPrefix("require ") || line.hasPrefix("forbid ") {
            entry.conditions.append(try condition(line, number: number, fail: fail))
        } else if line.hasPrefix("at least one of ") {
            entry.atLeastOneOf = names(line.dropFirst("at least one of ".count))
        } else if line.hasPrefix("note ") {
            entry.notes = String(line.dropFirst("note ".count))
        } else {
            // <field>[?]: <SwiftType> = <FieldType> [| help]
            var definition = line
            var help: String?
            if let bar = line.range(of: " | ") {
                help = String(line[bar.upperBound...])
                definition = String(line[..<bar.lowerBound])
            }
            guard let colon = definition.firstIndex(of: ":"), let equals = definition.range(of: " = ") else {
                throw fail("expected `<field>[?]: <SwiftType> = <FieldType> [| help]`")
            }
            var name = String(definition[..<colon])
            let optional = name.hasSuffix("?")
            if optional { name.removeLast() }
            let swiftType = definition[definition.index(after: colon)..<equals.lowerBound]
                .trimmingCharacters(in: .whitespaces)
            let kind = String(definition[equals.upperBound...])
            entry.fields.append(
                Field(name: name, swiftType: swiftType, optional: optional, kind: kind, help: help, line: number))
        }
    }
    for entry in entries {
        // Every field a rule line names is a field of the command.
        let known = Set(entry.fields.map(\.name))
        let named =
            entry.conditions.flatMap { condition in
                (condition.fields + condition.when.map(\.0)).map { ($0, condition.line) }
            }
            + entry.atLeastOneOf.map { ($0, entry.line) }
        if let (unknown, line) = named.first(where: { !known.contains($0.0) }) {
            throw TableError(description: "\(path):\(line): `\(entry.name)` has no field `\(unknown)`")
        }
        let missing = [("summary", entry.summary), ("stream", entry.stream)].filter { $0.1.isEmpty }.map(\.0)
        if !missing.isEmpty || entry.fields.isEmpty {
            throw TableError(
                description: "\(path):\(entry.line): `\(entry.name)` lacks "
                    + (missing + (entry.fields.isEmpty ? ["fields"] : [])).joined(separator: ", "))
        }
    }
    return entries
}

/// Comma-separated names.
func names(_ text: Substring) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// `require a, b when x = "v", y = true` or `forbid a unless x = "v"`.
func condition(_ line: String, number: Int, fail: (String) -> TableError) throws -> Condition {
    let required = line.hasPrefix("require ")
    let rest = line.dropFirst(required ? "require ".count : "forbid ".count)
    let otherwise: Bool
    let split: Range<Substring.Index>
    if let when = rest.range(of: " when ") {
        (otherwise, split) = (false, when)
    } else if let unless = rest.range(of: " unless ") {
        (otherwise, split) = (true, unless)
    } else {
        throw fail("expected `require|forbid <fields> when|unless <field> = <value>, …`")
    }
    var when: [(String, String)] = []
    for clause in rest[split.upperBound...].split(separator: ",") {
        let parts = clause.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty,
            parts[1] == "true" || parts[1] == "false"
                || (parts[1].hasPrefix("\"") && parts[1].hasSuffix("\"") && parts[1].count >= 2)
        else {
            throw fail("expected `<field> = \"text\"`, `<field> = true` or `<field> = false` in `\(clause)`")
        }
        when.append((parts[0], parts[1]))
    }
    return Condition(
        required: required, fields: names(rest[..<split.lowerBound]), when: when, otherwise: otherwise, line: number)
}

/// Swift that reports its errors at `line` of the table.
func located(_ line: Int, _ path: String, _ code: String) -> String {
    "#sourceLocation(file: \(quoted(path)), line: \(line))\n\(code)\n#sourceLocation()\n"
}

func fieldSpec(_ field: Field) -> String {
    let help = field.help.map { ", help: \(quoted($0))" } ?? ""
    if field.kind == "choice" || field.kind.hasPrefix("choice(") {
        let required = field.optional ? ", required: false" : ""
        var extra = ""
        if field.kind.hasPrefix("choice(") {
            extra = ", " + field.kind.dropFirst("choice(".count).dropLast()
        }
        return ".choice(\(quoted(field.name)), \(field.swiftType).self\(required)\(help)\(extra))"
    }
    let required = field.optional ? ", required: false" : ""
    return "FieldSpec(\(quoted(field.name)), \(field.kind)\(required)\(help))"
}

func render(_ entries: [Entry], path: String) -> String {
    var out = "// Generated from Commands.table by CommandTableGenerator. Do not edit.\n\nimport Foundation\n"
    for e in entries {
        let data =
            e.data.map { ", whose data (`\($0)`) adds derived fields to this payload" }
            ?? ", whose data is this payload"
        out += "\n/// `\(e.name)`: \(e.summary)\n/// Records `\(e.event)`\(data).\n"
        out += "public struct \(e.type): CommandPayload {\n"
        for f in e.fields {
            out += located(f.line, path, "    public var \(f.name): \(f.swiftType)\(f.optional ? "?" : "")")
        }
        let parameters = e.fields.map { "\($0.name): \($0.swiftType)\($0.optional ? "? = nil" : "")" }
        out += "\n    public init(\(parameters.joined(separator: ", "))) {\n"
        for f in e.fields { out += "        self.\(f.name) = \(f.name)\n" }
        out += "    }\n"
        out += "\n    public static let spec = CommandSpec(\n"
        out += "        name: \(quoted(e.name)), event: \(quoted(e.event)), summary: \(quoted(e.summary)),\n"
        out += "        fields: [\(e.fields.indices.map { "field\($0)" }.joined(separator: ", "))]"
        if !e.conditions.isEmpty {
            out += ",\n        conditions: [\(e.conditions.indices.map { "condition\($0)" }.joined(separator: ", "))]"
        }
        if !e.atLeastOneOf.isEmpty {
            out += ",\n        atLeastOneOf: [\(e.atLeastOneOf.map(quoted).joined(separator: ", "))]"
        }
        if let notes = e.notes { out += ",\n        notes: \(quoted(notes))" }
        if e.section != "§2" { out += ",\n        section: \(quoted(e.section))" }
        out += ")\n\n"
        // Each field and rule line as a declaration of its own, so that the compiler reports
        // an error in one at its line of the table.
        for (index, f) in e.fields.enumerated() {
            out += located(f.line, path, "    private static let field\(index): FieldSpec = \(fieldSpec(f))")
        }
        for (index, c) in e.conditions.enumerated() {
            let when = c.when.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ")
            let list = c.fields.map(quoted).joined(separator: ", ")
            out += located(
                c.line, path,
                "    private static let condition\(index) = FieldCondition(when: [\(when)]"
                    + "\(c.otherwise ? ", otherwise: true" : ""), \(c.required ? "required" : "forbidden"): [\(list)])")
        }
        out += "\n    public var command: Command { .\(e.name)(self) }\n}\n"
        // The decoder: each field read by name from the parsed object (JSONFields.swift).
        out += "\nextension \(e.type): JSONObjectDecodable {\n"
        out += "    public init(object o: JSONObject) throws {\n        self.init(\n"
        let reads = e.fields.map { f in
            "            \(f.name): try o.\(f.optional ? "optional" : "required")(\(quoted(f.name)), as: \(f.swiftType).self)"
        }
        out += reads.joined(separator: ",\n") + ")\n    }\n}\n"
        // The writer: each field in the order of its key's UTF-8 bytes, as canonical JSON
        // sorts them, so the object is written in one pass (CanonicalWriter.swift).
        out += "\nextension \(e.type): CanonicalObject {\n"
        out += "    public func writeMembers(to writer: inout CanonicalWriter) throws {\n"
        for f in e.fields.sorted(by: { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }) {
            out += "        try writer.\(f.optional ? "optionalMember" : "member")(\(quoted(f.name)), \(f.name))\n"
        }
        out += "    }\n}\n"
    }

    out += "\n/// A request for a change, as named in docs/domain.md §2.\npublic enum Command: Sendable, Hashable {\n"
    for e in entries { out += "    case \(e.name)(\(e.type))\n" }
    out += "\n    /// The command's fields.\n    public var payload: any CommandPayload {\n        switch self {\n"
    for e in entries { out += "        case .\(e.name)(let c): return c\n" }
    out += "        }\n    }\n}\n"

    // Indirect: each event's data in a box of its own size. Inline, every event would take
    // the size of the largest data (a sign-off's, 360 bytes), in each array of events the
    // command memory and the folds keep; and a copy is one retain, not one per field.
    out += "\n/// A recorded fact, as named in docs/domain.md §2.\n"
    out += "public indirect enum DomainEvent: Sendable, Hashable {\n"
    for e in entries { out += "    case \(lowerFirst(e.event))(\(e.data ?? e.type))\n" }
    out +=
        "\n    /// The event type as stored (`\"GrantAwarded\"`).\n    public var type: String {\n        switch self {\n"
    for e in entries { out += "        case .\(lowerFirst(e.event)): return \(quoted(e.event))\n" }
    out +=
        "        }\n    }\n\n    /// The stream the event belongs to.\n    public var streamID: String {\n        switch self {\n"
    for e in entries {
        let binding = e.stream.contains("(e.") ? "(let e)" : ""
        out += "        case .\(lowerFirst(e.event))\(binding): return \(e.stream)\n"
    }
    out +=
        "        }\n    }\n\n    /// The event's data.\n    var data: any Encodable & Sendable {\n        switch self {\n"
    for e in entries { out += "        case .\(lowerFirst(e.event))(let e): return e\n" }
    out += "        }\n    }\n\n"
    out += "    /// Decodes a stored event; nil for a type this version does not know. A text still\n"
    out += "    /// encrypted (docs/domain.md §15: not opened by the reader) reads as a placeholder.\n"
    out += "    /// - Throws: when the data does not fit the type.\n"
    out += "    public static func decode(type: String, data: String) throws -> DomainEvent? {\n"
    out += "        var data = data\n"
    out += "        return try data.withUTF8 { try decode(type: type, utf8: UnsafeRawBufferPointer($0)) }\n"
    out += "    }\n\n"
    out += "    /// `decode(type:data:)` of the data's UTF-8 bytes, as a result row holds them.\n"
    out += "    public static func decode(type: String, utf8 data: UnsafeRawBufferPointer) throws -> DomainEvent? {\n"
    out += "        guard knownTypes.contains(type) else { return nil }\n"
    out += "        // The data's members looked up where they lie, without a dictionary.\n"
    out += "        guard let parsed = JSONParser.parseObject(utf8: data) else {\n"
    out +=
        "            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: \"\\(type): the data is not one JSON value\"))\n"
    out += "        }\n"
    out += "        return try decode(type: type, readable: PersonalData.readable(type: type, parsed: parsed))\n"
    out += "    }\n\n"
    out += "    /// Decodes parsed data whose sealed texts read as placeholders (`PersonalData.readable`);\n"
    out += "    /// nil for a type this version does not know. Data parsed into a tree (`.value`) gives\n"
    out += "    /// the same event or the same error as its members (`.object`); the tests compare them.\n"
    out += "    public static func decode(type: String, readable parsed: JSONParser.Parsed) throws -> DomainEvent? {\n"
    out += "        // The generated decoder where the type has one (every payload, and data that adds\n"
    out += "        // derived fields to one), `Decodable` through `JSONValueDecoder` otherwise.\n"
    out += "        func d<T: JSONObjectDecodable>(_ t: T.Type) throws -> T { try T.read(parsed) }\n"
    out +=
        "        func d<T: Decodable>(_ t: T.Type) throws -> T { try JSONValueDecoder.decode(t, from: parsed.value) }\n"
    out += "        switch type {\n"
    for e in entries {
        out += "        case \(quoted(e.event)): return .\(lowerFirst(e.event))(try d(\(e.data ?? e.type).self))\n"
    }
    out += "        default: return nil\n        }\n    }\n}\n"

    out += "\nextension CommandTable {\n    /// Every command, in docs/domain.md order.\n"
    out += "    public static let payloads: [any CommandPayload.Type] = [\n"
    for e in entries { out += "        \(e.type).self,\n" }
    out += "    ]\n}\n"
    return out
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: CommandTableGenerator <table> <output.swift>\n".utf8))
    exit(2)
}
do {
    let text = try String(contentsOfFile: arguments[1], encoding: .utf8)
    let swift = render(try parse(text, path: arguments[1]), path: arguments[1])
    let output = URL(fileURLWithPath: arguments[2])
    if (try? String(contentsOf: output, encoding: .utf8)) != swift {
        try swift.write(to: output, atomically: true, encoding: .utf8)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
