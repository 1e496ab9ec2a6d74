import EventStore
import Foundation
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient
import Projections

/// Reads what an export needs from the log at a cut-off.
public enum ExportRun {
    /// The ledger replayed up to `cutOff`, with the point of the log it stands on.
    /// - Parameter pseudonyms: what confidential organisations appear as (docs/domain.md §15).
    public static func ledger(
        pool: ConnectionPool, cutOff: CutOff, pseudonyms: Pseudonyms? = nil,
        progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> (ledger: ExportLedger, asOf: LogPoint) {
        var ledger = ExportLedger(pseudonyms: pseudonyms)
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff, progress: progress) {
            ledger.apply($0.event, at: $0.position)
        }
        return (ledger, asOf)
    }

    /// I.3 for a call over a calendar year, folded from the same events as the ledger: the
    /// figures `report i3 --call` gives for that year at the ledger's cut-off, computed from
    /// the log itself, never from a read model. Each (call, year) is computed once.
    public static func i3(_ ledger: ExportLedger) -> @Sendable (String, Int) async throws -> I3Figures {
        let cache = NIOLockedValueBox<[String: I3Figures]>([:])
        let fold = ledger.i3
        return { callId, year in
            let key = "\(year) \(callId)"
            if let known = cache.withLockedValue({ $0[key] }) { return known }
            guard let from = BusinessDate("\(String(format: "%04d", year))-01-01"),
                let to = BusinessDate("\(String(format: "%04d", year))-12-31")
            else { throw DomainError(.invalid, "year \(year) is out of range") }
            let figures = fold.figures(I3Query(from: from, to: to, programme: nil, callId: callId))
            cache.withLockedValue { $0[key] = figures }
            return figures
        }
    }

    /// The current time as RFC 3339 in UTC, to the microsecond.
    public static var now: String {
        RecordingTime(date: Date()).rfc3339
    }
}
