import ArgumentParser
import GrantDomain
import Synchronization

// One subcommand per command of the table (`CommandTable`): kebab-case names, one option per
// field (`--organisation-id`), and a help text listing each field's format, limits and
// values, all taken from the command's description. Each builds the docs/domain.md JSON object
// and goes through the same decoder as `submit`, so the rules and messages are the same
// whichever way a command arrives.

/// The subcommand for one command of the table.
struct DomainCommand<Payload: CommandPayload>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        configurations.withLock { known in
            if let configuration = known[spec.name] { return configuration }
            let configuration = CommandConfiguration(
                commandName: kebabCase(spec.name),
                abstract:
                    "\(spec.summary.hasSuffix(".") ? String(spec.summary.dropLast()) : spec.summary) (\(spec.event)).",
                usage: usage(spec),
                discussion: fieldHelp(spec))
            known[spec.name] = configuration
            return configuration
        }
    }

    private static var spec: CommandSpec { Payload.spec }

    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp("The command's fields as --field value pairs (see above).", valueName: "field-options"))
    var fieldArguments: [String] = []

    @OptionGroup var options: WriteOptions

    func run() async throws {
        let fields: [String: JSONValue]
        do {
            fields = try parseFieldOptions(fieldArguments, spec: Payload.spec)
        } catch let error as DomainError {
            throw reportRejection(error, format: options.format)
        }
        try await runCommand(fields, options: options)
    }
}

/// Each subcommand's configuration by command name, built once: the argument parser asks a
/// command for its configuration at every step of matching a command line (its name, then
/// its arguments), and building the help texts of every command each time took a fifth of a
/// short command's run (`report i3 --server`, docs/performance.md).
private let configurations = Mutex<[String: CommandConfiguration]>([:])

/// `registerOrganisation` → `register-organisation`.
func kebabCase(_ name: String) -> String {
    var out = ""
    for character in name {
        if character.isUppercase {
            out += "-" + character.lowercased()
        } else {
            out.append(character)
        }
    }
    return out
}

/// The option that carries a field: `--organisation-id`; members come as `--member`.
func optionName(_ field: FieldSpec) -> String {
    field.type == .members ? "--member" : "--" + kebabCase(field.name)
}

func usage(_ spec: CommandSpec) -> String {
    let fields = spec.fields.map { field -> String in
        let option = "\(optionName(field)) <\(placeholder(field.type))>"
        if field.type == .members { return option + " ..." }
        return field.required ? option : "[\(option)]"
    }
    return "grantledger \(kebabCase(spec.name)) " + fields.joined(separator: " ") + " [<write-options>]"
}

func placeholder(_ type: FieldType) -> String {
    switch type {
    case .identifier: return "id"
    case .text: return "text"
    case .country: return "country"
    case .region: return "region"
    case .bin: return "bin"
    case .money, .positiveMoney: return "amount"
    case .date: return "date"
    case .bool: return "true|false"
    case .integer: return "n"
    case .enumeration(let values): return values.joined(separator: "|")
    case .members: return "org:role"
    case .shares, .peopleCounts: return "json"
    case .enumerationSet, .identifierSet: return "a,b,..."
    case .decimal: return "decimal"
    }
}

/// The help text: every field with its format, limits, values and meaning.
func fieldHelp(_ spec: CommandSpec) -> String {
    var lines = ["Fields (docs/domain.md \(spec.section), \(spec.name)):"]
    for field in spec.fields {
        var text = field.type.formatHelp
        if let help = field.help { text += "; " + help }
        text += field.required ? "." : " (optional)."
        if field.type == .members {
            text += " Repeat the option, or give --members-json '[{\"organisationId\": …, \"role\": …}]'."
        }
        lines.append("  \(optionName(field)): \(text)")
    }
    if let notes = spec.notes { lines.append(notes) }
    return lines.joined(separator: "\n")
}

/// Turns `--field value` pairs into the command's JSON fields, by the spec. Values are passed
/// on as they are (numbers and booleans when they parse as such) so that the decoder judges
/// them and names the field at fault.
func parseFieldOptions(_ arguments: [String], spec: CommandSpec) throws -> [String: JSONValue] {
    var byOption: [String: FieldSpec] = [:]
    for field in spec.fields { byOption[optionName(field)] = field }
    var fields: [String: JSONValue] = ["command": .string(spec.name)]
    var members: [JSONValue] = []
    var membersJSON: JSONValue?
    var index = 0
    while index < arguments.count {
        var option = arguments[index]
        var value: String?
        if let equals = option.firstIndex(of: "="), option.hasPrefix("--") {
            value = String(option[option.index(after: equals)...])
            option = String(option[..<equals])
        } else if index + 1 < arguments.count {
            value = arguments[index + 1]
            index += 1
        }
        index += 1
        guard option == "--members-json" || byOption[option] != nil else {
            throw ValidationError("unknown option \(option) for \(kebabCase(spec.name)); see --help")
        }
        guard let value else { throw ValidationError("\(option) needs a value") }
        if option == "--members-json" {
            guard let parsed = JSONValue.parse(value) else {
                throw DomainError(.invalid, "\(spec.name): --members-json is not valid JSON")
            }
            membersJSON = parsed
            continue
        }
        guard let field = byOption[option] else { continue }
        if fields[field.name] != nil {
            throw ValidationError("\(option) is given twice")
        }
        switch field.type {
        case .members:
            let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw ValidationError("\(option) \(value): expected ORGANISATION_ID:ROLE") }
            members.append(.object(["organisationId": .string(parts[0]), "role": .string(parts[1])]))
            continue
        case .integer:
            fields[field.name] = Int64(value).map(JSONValue.integer) ?? .string(value)
        case .bool:
            fields[field.name] = value == "true" ? .bool(true) : value == "false" ? .bool(false) : .string(value)
        case .shares, .peopleCounts:
            guard let parsed = JSONValue.parse(value) else {
                throw DomainError(.invalid, "\(spec.name): \(option) is not valid JSON")
            }
            fields[field.name] = parsed
        case .enumerationSet, .identifierSet:
            // Comma-separated; an empty value is the empty list.
            let items = value.isEmpty ? [] : value.split(separator: ",", omittingEmptySubsequences: false)
            fields[field.name] = .array(items.map { .string($0.trimmingCharacters(in: .whitespaces)) })
        default:
            fields[field.name] = .string(value)
        }
    }
    if let membersJSON {
        guard members.isEmpty else { throw ValidationError("give the members either as --member or as --members-json") }
        fields["members"] = membersJSON
    } else if !members.isEmpty {
        fields["members"] = .array(members)
    }
    return fields
}

/// The subcommand of one payload type.
private func subcommand<Payload: CommandPayload>(_: Payload.Type) -> any ParsableCommand.Type {
    DomainCommand<Payload>.self
}

/// One subcommand per command, in docs/domain.md order.
let domainSubcommands: [any ParsableCommand.Type] = CommandTable.payloads.map { subcommand($0) }
