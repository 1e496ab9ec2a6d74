import EventStore
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient

/// The indicator fold of the log (`IndicatorLogFold`) kept in the server's memory and
/// brought up to the head as reads ask for it, so that a report at the head folds only the
/// events recorded since the last one instead of the whole log. For each indicator, the
/// activities it admits are kept sorted by `startedOn` for the fold's position, so that a
/// period is a binary search. Reports at a past cut-off replay the log (`IndicatorEngine`).
public actor IndicatorMemory {
    let store: EventStore
    var fold = IndicatorLogFold()
    var position: Int64 = 0
    var refreshing: Task<(IndicatorLogFold, Int64), any Error>?
    /// `admitted(definition)` per indicator code, for `position`.
    var admitted: [String: [(activity: RecordActivity, position: Int64)]] = [:]

    public init(store: EventStore) { self.store = store }

    /// The fold at the sealed head (or later, when another read has already gone further),
    /// with the point of the log it stands on.
    public func atHead() async throws -> (fold: IndicatorLogFold, asOf: LogPoint) {
        let head = try await store.seal().position
        while position < head {
            if let refreshing {
                _ = try await refreshing.value
                continue
            }
            let (start, startFold, store) = (position, fold, store)
            let task = Task {
                var local = startFold
                let reached = try await DecodedLogReader(store: store).forEachBatch(after: start, upTo: head) {
                    for event in $0 { local.apply(event) }
                }
                return (local, reached)
            }
            refreshing = task
            do {
                let (next, reached) = try await task.value
                refreshing = nil
                if reached > position {
                    (fold, position) = (next, reached)
                    admitted = [:]
                }
                if reached < head { break }  // nothing more to read yet
            } catch {
                refreshing = nil
                throw error
            }
        }
        let (point, store) = (position, store)
        let asOf = try await store.withSession { @Sendable in try await I3Reporter.asOf(point, on: $0.connection) }
        return (fold, asOf)
    }

    /// The activities `definition` admits at the fold's position, sorted.
    public func admitted(_ definition: IndicatorDefinition) -> [(activity: RecordActivity, position: Int64)] {
        if let known = admitted[definition.code] { return known }
        let computed = fold.ledger.admitted(definition)
        admitted[definition.code] = computed
        return computed
    }
}
