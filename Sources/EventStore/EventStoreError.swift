import PostgresClient

/// Why the store refused or failed an operation.
public enum EventStoreError: Error, Sendable, CustomStringConvertible {
    /// A stream was not at the expected version: a concurrent writer won.
    case wrongExpectedVersion(String)
    /// The command id was already accepted with a different payload.
    case commandIDReused(String)
    /// A command decided from memory carried an id accepted before (sql/024): its answer is
    /// the first acceptance's, which the store gives when it is decided under locks.
    case commandAccepted(String)
    /// The transaction had written before the append without `EventStore.beginBatch(on:)`:
    /// its id would be older than its positions (sql/018).
    case appendOutOfOrder(String)
    /// A migration file that was applied earlier has changed since.
    case migrationChanged(String)
    /// Anything the database said that is not one of the above.
    case database(PostgresError)

    public var description: String {
        switch self {
        case .wrongExpectedVersion(let message): return "conflict: \(message)"
        case .commandIDReused(let message): return "conflict: \(message)"
        case .commandAccepted(let message): return message
        case .appendOutOfOrder(let message): return message
        case .migrationChanged(let message): return message
        case .database(let error): return error.description
        }
    }

    /// Translates the store's SQLSTATEs; other errors pass through unchanged.
    static func translate(_ error: any Error) -> any Error {
        guard let error = error as? PostgresError else { return error }
        switch (error.sqlState, error.constraint) {
        case ("GL001", _):
            return EventStoreError.wrongExpectedVersion(error.message)
        case ("GL002", _):
            return EventStoreError.commandIDReused(error.message)
        case ("GL007", _):
            return EventStoreError.commandAccepted(error.message)
        case ("GL006", _):
            return EventStoreError.appendOutOfOrder(error.message)
        case (SQLState.uniqueViolation, "events_stream_version_key"):
            return EventStoreError.wrongExpectedVersion("a concurrent writer appended to the same stream first")
        default:
            return EventStoreError.database(error)
        }
    }
}
