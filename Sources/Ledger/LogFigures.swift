import EventStore
import GrantDomain
import PostgresClient
import Projections

/// Figures computed from the events themselves, never from a table the application role can
/// write (docs/domain.md §14, last rule): what a sign-off records and an export publishes.
/// An auditor gets the same from `audit export` alone, with the same fold.
public enum LogFigures {
    /// The I.3 fold of every event up to `position`, read from the gap-free prefix of the
    /// log (call it once the log is sealed that far). Events that do not decode as their
    /// type are treated as absent, as the projections treat them.
    /// - Throws: `DomainError.conflict` when the readable log does not reach `position` yet.
    public static func i3(upTo position: Int64, pool: ConnectionPool, batchSize: Int = 20_000) async throws -> I3Fold {
        let store = EventStore(pool: pool)
        let head = try await store.head()
        guard head >= position else {
            throw DomainError(
                .conflict,
                "position \(position) is not yet readable (a command before it is still being committed); try again")
        }
        var fold = I3Fold()
        var after: Int64 = 0
        while after < position {
            let events = try await store.readAll(after: after, limit: batchSize, upTo: position)
            guard let last = events.last else { break }
            for event in events {
                if case .event(let decoded) = DomainEvent.decodeOrQuarantine(
                    position: event.position, type: event.type, data: event.data)
                {
                    fold.apply(decoded, at: event.position)
                }
            }
            after = last.position
        }
        return fold
    }

    /// A sign-off's figures at `position`, with the log's integrity fields there; nil when
    /// `position` is not sealed yet.
    static func signOff(_ query: I3Query, at position: Int64, pool: ConnectionPool) async throws
        -> (figures: I3Figures, asOf: LogPoint)?
    {
        let asOf = try await pool.withConnection { try await I3Reporter.asOf(position, on: $0) }
        guard asOf.position == position else { return nil }
        return (try await i3(upTo: position, pool: pool).figures(query), asOf)
    }
}
