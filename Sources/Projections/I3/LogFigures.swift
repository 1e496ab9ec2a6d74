import EventStore
import GrantDomain
import PostgresClient

/// Figures computed from the events themselves, never from a table the application role can
/// write (docs/domain.md §14, last rule): what a sign-off records and a published page shows.
/// An auditor gets the same from `audit export` alone, with the same fold.
public enum LogFigures {
    /// The I.3 fold of every event up to `position`, replayed from the log as audits and
    /// exports replay it (`LogReplay`: sealed, gap-free, decoded in parallel; events that do
    /// not decode as their type are absent, as in the projections), with the point of the log
    /// it stands on.
    /// - Throws: `DomainError.invalid` for a position beyond the sealed head.
    public static func i3(upTo position: Int64, pool: ConnectionPool) async throws -> (fold: I3Fold, asOf: LogPoint) {
        var fold = I3Fold()
        let asOf = try await LogReplay.replay(pool: pool, cutOff: .position(position)) {
            fold.apply($0.event, at: $0.position)
        }
        return (fold, asOf)
    }

    /// A sign-off's figures at `position` (its indicator's report; I.3's §4 figures), with
    /// the log's integrity fields there; nil when no event stands sealed at exactly
    /// `position` yet.
    public static func signOff(_ signOff: SignOffIndicatorReport, at position: Int64, pool: ConnectionPool)
        async throws -> (figures: SignedFigures, asOf: LogPoint)?
    {
        if signOff.indicator == .i3 {
            let (fold, asOf) = try await i3(upTo: position, pool: pool)
            guard asOf.position == position else { return nil }
            return (.i3(fold.figures(signOff.query)), asOf)
        }
        var ledger = ActivityLedger()
        let asOf = try await LogReplay.replay(pool: pool, cutOff: .position(position)) {
            ledger.apply($0.event, at: $0.position)
        }
        guard asOf.position == position else { return nil }
        return (.indicator(ledger.figures(signOff.indicator.definition, signOff.indicatorQuery)), asOf)
    }

    /// `signOff` over `pool`, as the ledger's `CommandHandler` takes it: the composition root
    /// (the server, the CLI) hands it in, so that the write side never imports the read side.
    public static func signOffProvider(pool: ConnectionPool)
        -> @Sendable (SignOffIndicatorReport, Int64) async throws -> (figures: SignedFigures, asOf: LogPoint)?
    {
        { signOff, position in try await Self.signOff(signOff, at: position, pool: pool) }
    }
}
