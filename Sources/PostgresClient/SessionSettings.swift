import Foundation

/// Settings every pooled connection starts its session with.
///
/// The timeouts bound what one stuck statement, lock wait or forgotten transaction can
/// cost: without them a single leaked lock stops every writer. Values are PostgreSQL
/// durations (`"30s"`, `"500ms"`, `"0"` to disable). The search path names `public` and then
/// `pg_temp`, so a temporary table can never stand in for a log table in these sessions.
public struct SessionSettings: Sendable, Hashable {
    /// `statement_timeout`: the longest one statement may run.
    public var statementTimeout: String
    /// `lock_timeout`: the longest a statement waits for a lock.
    public var lockTimeout: String
    /// `idle_in_transaction_session_timeout`: the longest a transaction may sit idle.
    public var idleInTransactionTimeout: String

    public init(statementTimeout: String, lockTimeout: String, idleInTransactionTimeout: String) {
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.idleInTransactionTimeout = idleInTransactionTimeout
    }

    /// 60 s per statement, 10 s per lock wait, 60 s idle in a transaction.
    public static let standard = SessionSettings(
        statementTimeout: "60s", lockTimeout: "10s", idleInTransactionTimeout: "60s")

    /// The standard settings, each overridden by `GRANTLEDGER_STATEMENT_TIMEOUT`,
    /// `GRANTLEDGER_LOCK_TIMEOUT` or `GRANTLEDGER_IDLE_IN_TRANSACTION_TIMEOUT` when set.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> SessionSettings
    {
        var settings = standard
        if let value = environment["GRANTLEDGER_STATEMENT_TIMEOUT"], !value.isEmpty {
            settings.statementTimeout = value
        }
        if let value = environment["GRANTLEDGER_LOCK_TIMEOUT"], !value.isEmpty { settings.lockTimeout = value }
        if let value = environment["GRANTLEDGER_IDLE_IN_TRANSACTION_TIMEOUT"], !value.isEmpty {
            settings.idleInTransactionTimeout = value
        }
        return settings
    }

    /// The statement that applies the settings, with bound values.
    var query: PostgresQuery {
        """
        SELECT set_config('statement_timeout', \(statementTimeout), false),
               set_config('lock_timeout', \(lockTimeout), false),
               set_config('idle_in_transaction_session_timeout', \(idleInTransactionTimeout), false),
               set_config('search_path', 'public, pg_temp', false)
        """
    }
}
