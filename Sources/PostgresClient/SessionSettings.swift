import Foundation

/// Settings every pooled connection starts its session with.
///
/// The timeouts bound what one stuck statement, lock wait or forgotten transaction can
/// cost: without them a single leaked lock stops every writer. Values are PostgreSQL
/// durations (`"30s"`, `"500ms"`, `"0"` to disable). The search path names `public` and then
/// `pg_temp`, so a temporary table can never stand in for a log table in these sessions.
public struct SessionSettings: Sendable, Hashable {
    /// `statement_timeout`: the longest one statement may run.
    public var statementTimeout = "60s"
    /// `lock_timeout`: the longest a statement waits for a lock.
    public var lockTimeout = "10s"
    /// `idle_in_transaction_session_timeout`: the longest a transaction may sit idle.
    public var idleInTransactionTimeout = "60s"

    /// 60 s per statement, 10 s per lock wait, 60 s idle in a transaction.
    public init() {}

    /// 60 s per statement, 10 s per lock wait, 60 s idle in a transaction.
    public static let standard = SessionSettings()

    /// The environment variables that override each setting.
    static var overrides: [(variable: String, setting: WritableKeyPath<SessionSettings, String>)] {
        [
            ("GRANTLEDGER_STATEMENT_TIMEOUT", \.statementTimeout),
            ("GRANTLEDGER_LOCK_TIMEOUT", \.lockTimeout),
            ("GRANTLEDGER_IDLE_IN_TRANSACTION_TIMEOUT", \.idleInTransactionTimeout),
        ]
    }

    /// The standard settings, each overridden by `GRANTLEDGER_STATEMENT_TIMEOUT`,
    /// `GRANTLEDGER_LOCK_TIMEOUT` or `GRANTLEDGER_IDLE_IN_TRANSACTION_TIMEOUT` when set.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> SessionSettings
    {
        var settings = standard
        for (variable, setting) in overrides {
            if let value = environment[variable], !value.isEmpty { settings[keyPath: setting] = value }
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
