import EventStore
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient

/// The results framework's fold of the log (`IndicatorLogFold`, without I.3, which the
/// server reads from its own index) kept in the server's memory and brought up to the head
/// as reads ask for it, so that a report at the head folds only the events recorded since
/// the last one instead of the whole log. For each indicator it keeps the activities it
/// admits sorted by `startedOn`, and for activity and people measures their cumulative
/// counts (`IndicatorPeriodIndex`), for the fold's position: a period is then binary
/// searches. Reports at a past cut-off replay the log (`IndicatorEngine`).
public actor IndicatorMemory {
    /// What a report at the head reads: the fold, where it stands, and per indicator code
    /// the sorted admitted activities and (activity and people measures) the period index.
    public struct Snapshot: Sendable {
        public var fold: IndicatorLogFold
        public var asOf: LogPoint
        public var admitted: [String: [(activity: RecordActivity, position: Int64)]]
        public var periodIndexes: [String: IndicatorPeriodIndex]

        /// The figures of `definition` (not I.3) for `query`, from the indexes.
        public func figures(_ definition: IndicatorDefinition, _ query: IndicatorQuery) -> IndicatorFigures {
            if query.programme == nil, query.callId == nil, let index = periodIndexes[definition.code] {
                return index.figures(from: query.from, to: query.to)
            }
            return fold.ledger.figures(definition, query, admitted: admitted[definition.code])
        }
    }

    let store: EventStore
    var fold = IndicatorLogFold(withI3: false)
    var position: Int64 = 0
    var refreshing: Task<(IndicatorLogFold, Int64), any Error>?
    var indexes:
        (
            position: Int64, admitted: [String: [(activity: RecordActivity, position: Int64)]],
            periods: [String: IndicatorPeriodIndex]
        )?

    public init(store: EventStore) { self.store = store }

    /// The fold at the sealed head (or later, when another read has already gone further),
    /// with its indexes.
    public func atHead() async throws -> Snapshot {
        let head = try await store.seal().position
        var waits = 0
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
                if reached > position { (fold, position) = (next, reached) }
                if reached < head {
                    // A transaction older than the newest events is still open, so the gap-free
                    // prefix ends short of the sealed head for a moment: wait for it, bounded.
                    waits += 1
                    if waits > 200 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
            } catch {
                refreshing = nil
                throw error
            }
        }
        if indexes?.position != position {
            var admitted: [String: [(activity: RecordActivity, position: Int64)]] = [:]
            var periods: [String: IndicatorPeriodIndex] = [:]
            for definition in ResultsFramework.indicators where definition.drillDown != nil {
                let sorted = fold.ledger.admitted(definition)
                admitted[definition.code] = sorted
                periods[definition.code] = IndicatorPeriodIndex(definition, admitted: sorted)
            }
            indexes = (position, admitted, periods)
        }
        let (point, store) = (position, store)
        let asOf = try await store.withSession { @Sendable in try await I3Reporter.asOf(point, on: $0.connection) }
        return Snapshot(
            fold: fold, asOf: asOf, admitted: indexes?.admitted ?? [:], periodIndexes: indexes?.periods ?? [:])
    }
}
