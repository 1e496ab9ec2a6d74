import PostgresClient

/// Every PostgreSQL advisory lock grantledger takes, with its key in one place.
///
/// Keys are 64-bit: a fixed number for the single-purpose locks, or `hashtextextended`
/// of a name with a seed per kind, so two kinds never share a key space.
public enum AdvisoryLock: Sendable, Hashable {
    /// Keeps two migrators apart (session-level, released by the migrator).
    case migrations
    /// Transaction id and positions taken together; only inside `append_events()` and
    /// `begin_append_batch()` (sql/013, sql/018). Listed here so that its number is known,
    /// not to be taken from Swift: a batch begins with `EventStore.beginBatch(on:)`.
    case positions
    /// Sealing the chain; only inside `seal_events()` (sql/007, sql/013).
    case sealing
    /// Appends and replays of one command id wait for each other (the key `append_events()`
    /// also uses).
    case command(String)
    /// One projection batch or rebuild swap at a time per read-model schema.
    case projection(String)
    /// The entity whose state a rule reads: a stream, or a rule owner such as
    /// `contract:<number>` (see `PostgresStateReader` in Ledger).
    case entity(String)

    /// The key as a SQL expression with its bound name, if any.
    var key: PostgresQuery {
        switch self {
        case .migrations: return "7263540"
        case .positions: return "7263541"
        case .sealing: return "7263542"
        case .command(let id): return "hashtextextended(\(id), 7263543)"
        case .projection(let schema): return "hashtextextended(\(schema), 7263544)"
        case .entity(let name): return "hashtextextended(\(name), 0)"
        }
    }

    /// Takes the lock until the end of the caller's transaction.
    public func lockForTransaction(on connection: PostgresConnection) async throws {
        try await connection.query(transactionLock)
    }

    /// The statement that takes the lock until the end of the transaction.
    /// Prepared: the commands take one or more of these each.
    public var transactionLock: PostgresQuery { wrapped("SELECT pg_advisory_xact_lock(", ")").prepared() }

    /// Takes the lock for the session; release it with `unlock(on:)`.
    public func lockForSession(on connection: PostgresConnection) async throws {
        try await connection.query(wrapped("SELECT pg_advisory_lock(", ")"))
    }

    /// Releases a session-level lock.
    public func unlock(on connection: PostgresConnection) async throws {
        try await connection.query(wrapped("SELECT pg_advisory_unlock(", ")"))
    }

    private func wrapped(_ prefix: String, _ suffix: String) -> PostgresQuery {
        let inner = key
        return PostgresQuery(unsafeSQL: prefix + inner.sql + suffix, bindings: inner.bindings)
    }
}
