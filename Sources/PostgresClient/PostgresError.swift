/// An error from PostgreSQL, libpq or the connection pool.
///
/// `description` carries the SQLSTATE and the server's primary message but never the
/// `detail` field, which can echo bound values back.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Kind: String, Sendable {
        /// The server could not be reached or refused the connection.
        case connectionFailed
        /// An established connection broke.
        case connectionLost
        /// The server rejected a statement.
        case server
        /// No pooled connection became free within the wait timeout.
        case poolTimeout
        /// The pool was closed: it lends no more connections.
        case poolClosed
        /// A value in a result could not be decoded into the requested type.
        case decoding
        /// A bound value cannot be sent (it holds U+0000); nothing was sent.
        case invalidParameter
        /// The connection broke while COMMIT was in flight: the transaction may or may not
        /// have been committed.
        case commitOutcomeUnknown
    }

    /// The broad class of the failure.
    public var kind: Kind
    /// The five-character SQLSTATE code for server errors (e.g. `23505`).
    public var sqlState: String?
    /// The server's or libpq's primary message.
    public var message: String
    /// The server's DETAIL field; may contain data, so it is kept out of `description`.
    public var detail: String?
    /// The constraint the error names, if any (e.g. a unique index).
    public var constraint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil)
    {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
    }

    public var description: String {
        switch kind {
        case .server:
            return "PostgreSQL error \(sqlState ?? "?????"): \(message)"
        case .connectionFailed:
            return "cannot connect to PostgreSQL: \(message)"
        case .connectionLost:
            return "connection to PostgreSQL lost: \(message)"
        case .poolTimeout:
            return "no database connection available: \(message)"
        case .poolClosed:
            return "the connection pool is closed"
        case .decoding:
            return "cannot decode result: \(message)"
        case .invalidParameter:
            return "invalid parameter: \(message)"
        case .commitOutcomeUnknown:
            return "connection to PostgreSQL lost during COMMIT; the outcome is unknown: \(message)"
        }
    }

    /// True for SQLSTATE 23505 (`unique_violation`).
    public var isUniqueViolation: Bool { sqlState == SQLState.uniqueViolation }

    /// True for a deadlock or a serialization failure: the transaction lost a race and may
    /// be tried again.
    public var isLostRace: Bool { sqlState == SQLState.deadlockDetected || sqlState == SQLState.serializationFailure }

    /// True when the failure is about reaching the server rather than the statement:
    /// connection failures, lost connections (with or without a SQLSTATE), an exhausted
    /// pool, a server shutting down or starting up, and statement or lock timeouts.
    public var isUnavailable: Bool {
        kind == .connectionFailed || kind == .connectionLost || kind == .poolTimeout || kind == .poolClosed
            || sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57P") == true
            || sqlState == SQLState.queryCanceled || sqlState == SQLState.lockNotAvailable
            || sqlState == SQLState.tooManyConnections
    }
}

/// The SQLSTATE codes the code acts on, by PostgreSQL's names (Appendix A of its manual).
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let queryCanceled = "57014"
    public static let lockNotAvailable = "55P03"
    public static let objectInUse = "55006"
    public static let tooManyConnections = "53300"
}
