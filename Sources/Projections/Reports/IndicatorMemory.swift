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
        public var firstSupports: [String: FirstSupportIndex]

        /// The figures of `definition` (not I.3) for `query`, from the indexes.
        public func figures(_ definition: IndicatorDefinition, _ query: IndicatorQuery) -> IndicatorFigures {
            if query.programme == nil, query.callId == nil {
                if let index = periodIndexes[definition.code] { return index.figures(from: query.from, to: query.to) }
                if let index = firstSupports[definition.code] { return index.figures(from: query.from, to: query.to) }
            }
            return fold.ledger.figures(definition, query, admitted: admitted[definition.code])
        }
    }

    let store: EventStore
    /// The head the server's background service has sealed and projected to, when there is
    /// one: reads at the head stand there, as the I.3 report's do, without a round trip.
    let knownHead: KnownHead?
    var fold = IndicatorLogFold(withI3: false)
    /// The point of the log at `position`, once read.
    var point: LogPoint?
    var position: Int64 = 0
    var refreshing: Task<(IndicatorLogFold, Int64), any Error>?
    var indexes:
        (
            activityChanges: Int, admitted: [String: [(activity: RecordActivity, position: Int64)]],
            periods: [String: IndicatorPeriodIndex], firstSupports: [String: FirstSupportIndex]
        )?

    public init(store: EventStore, knownHead: KnownHead? = nil) {
        self.store = store
        self.knownHead = knownHead
    }

    /// The fold at the head (or later, when another read has already gone further), with
    /// its indexes.
    /// - Parameter fresh: seal and read up to the last committed event even when the server's
    ///   known head is behind it (what a viewer's redaction needs: a profile just made
    ///   confidential must not be shown by name for a moment).
    /// - Parameter indexed: build the indexes if the activities changed (what a reader of
    ///   the profiles alone does not need).
    public func atHead(fresh: Bool = false, indexed: Bool = true) async throws -> Snapshot {
        let head: Int64
        if !fresh, let known = knownHead?.value {
            head = known
        } else {
            head = try await store.seal().position
        }
        var waits = 0
        while position < head {
            // One refresh at a time: a reader that finds one running waits for it, and every
            // reader that sees its result applies it (the actor may resume them in any order).
            let task: Task<(IndicatorLogFold, Int64), any Error>
            if let running = refreshing {
                task = running
            } else {
                let (start, startFold, store) = (position, fold, store)
                task = Task {
                    var local = startFold
                    let reached = try await DecodedLogReader(store: store).forEachBatch(after: start, upTo: head) {
                        for event in $0 { local.apply(event) }
                    }
                    return (local, reached)
                }
                refreshing = task
            }
            let result: (fold: IndicatorLogFold, reached: Int64)
            do {
                result = try await task.value
            } catch {
                if refreshing == task { refreshing = nil }
                throw error
            }
            if refreshing == task { refreshing = nil }
            if result.reached > position { (fold, position) = (result.fold, result.reached) }
            if position < head {
                // A transaction older than the newest events is still open somewhere in the
                // cluster, so the gap-free prefix ends short of the sealed head for a moment
                // (or the refresh waited for was another reader's, to an older head): wait a
                // little (half a second in all), then answer as of where it reached.
                waits += 1
                if waits > 50 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        // The indexes stand on the activities alone: rebuilt only when one was recorded or
        // retracted since (a rebuild sorts every activity again: about 2 s at 200,000).
        if indexed, indexes?.activityChanges != fold.ledger.activityChanges {
            var admitted: [String: [(activity: RecordActivity, position: Int64)]] = [:]
            var periods: [String: IndicatorPeriodIndex] = [:]
            var firstSupports: [String: FirstSupportIndex] = [:]
            for definition in ResultsFramework.indicators where definition.drillDown != nil {
                let sorted = fold.ledger.admitted(definition)
                admitted[definition.code] = sorted
                periods[definition.code] = IndicatorPeriodIndex(definition, admitted: sorted)
                firstSupports[definition.code] = FirstSupportIndex(definition, admitted: sorted, ledger: fold.ledger)
            }
            indexes = (fold.ledger.activityChanges, admitted, periods, firstSupports)
        }
        let asOf: LogPoint
        if let point, point.position == position {
            asOf = point
        } else {
            let (reached, store) = (position, store)
            asOf = try await store.withSession { @Sendable in try await I3Reporter.asOf(reached, on: $0.connection) }
            if asOf.position == position { point = asOf }
        }
        // Indexes of other activities than the fold's are not handed out (`indexed: false`).
        let current = indexes?.activityChanges == fold.ledger.activityChanges ? indexes : nil
        return Snapshot(
            fold: fold, asOf: asOf, admitted: current?.admitted ?? [:], periodIndexes: current?.periods ?? [:],
            firstSupports: current?.firstSupports ?? [:])
    }

    /// The position the fold stands at.
    public var standsAt: Int64 { position }

    /// Brings the fold and its indexes to the known head in the background, once, so that
    /// the first report or drill-down after the server starts does not fold the whole log
    /// itself (about 16 s at 1.2 million events). Later reads bring it forward as before.
    public nonisolated func warm() {
        let first = warming.withLockedValue { started in
            defer { started = true }
            return !started
        }
        if first { Task { _ = try? await self.atHead() } }
    }

    private nonisolated let warming = NIOLockedValueBox(false)
}
