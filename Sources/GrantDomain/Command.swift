import Foundation

extension Command {
    /// Every command name, in docs/domain.md order.
    public static var names: [String] { CommandTable.specs.map(\.name) }

    /// The log position whose indicator figures the command's rule reads (a sign-off's
    /// `position`): the handler makes sure the log is sealed and projected that far.
    public var readsIndicatorAt: Int64? {
        if case .signOffIndicatorReport(let c) = self { return c.position }
        return nil
    }

    /// The command's name (`"awardGrant"`).
    public var name: String { type(of: payload).spec.name }

    /// The payload's fields without `command` and `commandId`, as canonical JSON with
    /// sorted keys: the same command always yields the same text, whatever the key order
    /// or spacing it arrived with. Used as the idempotency digest input.
    public var canonicalPayload: String {
        name + ":" + ((try? CanonicalJSON.text(payload)) ?? "")
    }
}

/// Command ids (docs/domain.md §1): 1-128 Unicode scalar values, none of them U+0000.
public enum CommandID {
    public static func isValid(_ text: String) -> Bool {
        (1...128).contains(text.unicodeScalars.count) && !text.unicodeScalars.contains("\u{0}")
    }
}

/// A parsed command with its optional idempotency key.
public struct CommandRequest: Sendable, Hashable {
    public var command: Command
    public var commandId: String?

    public init(command: Command, commandId: String? = nil) {
        self.command = command
        self.commandId = commandId
    }

    /// A fresh command id for a command sent without one (a random UUID).
    public static func makeCommandID() -> String { UUID().uuidString.lowercased() }

    /// Parses one command in docs/domain.md JSON form.
    /// - Throws: `DomainError` with code `invalid`, naming the field and value.
    public static func parse(_ text: String) throws(DomainError) -> CommandRequest {
        guard let value = JSONValue.parse(text) else {
            throw .invalid("malformed JSON: not a single JSON value")
        }
        return try parse(value)
    }

    /// Parses one already-decoded JSON object.
    public static func parse(_ value: JSONValue) throws(DomainError) -> CommandRequest {
        guard case .object(let fields) = value else {
            throw .invalid("a command must be a JSON object, got \(value.shortDescription)")
        }
        if let path = value.pathToNUL {
            throw .invalid(
                "the command holds U+0000 at \(path.isEmpty ? "its top level" : path); no field may contain it")
        }
        guard let nameValue = fields["command"] else { throw .invalid("missing field \"command\"") }
        guard case .string(let name) = nameValue else {
            throw .invalid("field \"command\" is \(nameValue.shortDescription), expected a command name")
        }
        var commandId: String?
        if let raw = fields["commandId"] {
            guard case .string(let id) = raw, CommandID.isValid(id) else {
                throw .invalid(
                    "\(name): field \"commandId\" is \(raw.shortDescription), expected a string of 1-128 characters")
            }
            commandId = id
        }
        guard let payload = CommandTable.payload(named: name) else {
            throw .invalid("unknown command \"\(name)\"")
        }
        let command = try payload.decode(fields)
        return CommandRequest(command: command, commandId: commandId)
    }
}

/// Free-text filters of reports and lists (`programme`, `callId`, `region`, `status`, ...):
/// 1-200 Unicode scalars without U+0000. Longer values cannot match anything a command can
/// record worth filtering by, and would only grow caches keyed by them.
public enum FilterText {
    public static let maxLength = 200

    public static func isValid(_ text: String) -> Bool {
        (1...maxLength).contains(text.unicodeScalars.count) && !text.unicodeScalars.contains("\u{0}")
    }
}
