/// The stable error classes of docs/domain.md §5.
public enum ErrorCode: String, Sendable, Codable, CaseIterable {
    /// Malformed input: JSON, field, identifier, date, money, enumeration, BIN, region.
    case invalid
    /// A referenced entity does not exist.
    case notFound
    /// The identifier is taken.
    case alreadyExists
    /// A business rule of docs/domain.md §2 would break.
    case ruleViolated
    /// A concurrent change won, or a command id was reused with another payload.
    case conflict
    /// The connection to the database broke while the command was being committed: it
    /// may or may not be recorded; re-sending it with the same command id tells which.
    case outcomeUnknown
}

/// A rejected command: a stable code and a message naming the offending field and value.
public struct DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ message: String) -> DomainError { DomainError(.invalid, message) }
    static func notFound(_ message: String) -> DomainError { DomainError(.notFound, message) }
    static func alreadyExists(_ message: String) -> DomainError { DomainError(.alreadyExists, message) }
    static func rule(_ message: String) -> DomainError { DomainError(.ruleViolated, message) }
}
