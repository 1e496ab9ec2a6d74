import CoreMetrics
import Foundation
import Ledger
import NIOConcurrencyHelpers
import Projections
import Prometheus

/// The server's metrics, through swift-metrics onto a Prometheus registry that `GET /metrics`
/// exposes in the Prometheus text format (docs/operations.md lists them with the alerts to
/// set). Requests by route and status with latency histograms come from Hummingbird's
/// `MetricsMiddleware`; the rest is grantledger's own.
public enum ServerMetrics {
    /// The registry `/metrics` exposes; swift-metrics is bootstrapped onto it once per process.
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Command and request latencies: from a millisecond to ten seconds.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2_500), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
    }()

    /// Makes swift-metrics report to `registry` (the first call in the process does it).
    public static func bootstrap() { _ = bootstrapped }

    /// The Prometheus text exposition of every metric.
    public static func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// A command answered: `outcome` accepted, replayed (a resent commandId) or rejected,
    /// with its docs/domain.md §5 code for a rejection.
    static func command(_ outcome: String, code: String) {
        Counter(label: "grantledger_commands_total", dimensions: [("outcome", outcome), ("code", code)]).increment()
    }

    /// How long a command took from the handler's start to its commit (locks, reads, the
    /// append and the commit).
    static func append(_ duration: Duration) {
        Timer(label: "grantledger_command_append_duration_seconds").recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// The I.3 report cache's hits and lookups so far (a reporter's running totals): the
    /// counters move by what is new since the last call, and the ratio is set. Called on each
    /// background round and on each scrape, so a scrape always shows the cache as it is.
    static func reportCache(_ counts: (hits: Int, lookups: Int)) {
        let (hits, misses) = cacheReported.withLockedValue { reported in
            let new = (max(counts.hits - reported.hits, 0), max((counts.lookups - counts.hits) - reported.misses, 0))
            reported = (max(reported.hits, counts.hits), max(reported.misses, counts.lookups - counts.hits))
            return new
        }
        if hits > 0 {
            Counter(label: "grantledger_i3_cache_requests_total", dimensions: [("result", "hit")]).increment(by: hits)
        }
        if misses > 0 {
            Counter(label: "grantledger_i3_cache_requests_total", dimensions: [("result", "miss")])
                .increment(by: misses)
        }
        if counts.lookups > 0 {
            Gauge(label: "grantledger_i3_cache_hit_ratio").record(Double(counts.hits) / Double(counts.lookups))
        }
    }

    private static let cacheReported = NIOLockedValueBox((hits: 0, misses: 0))

    /// What the background service sees on each round.
    static func background(
        projections: [(name: String, events: Int64, seconds: Double)], unsealed: Int64,
        pool: (open: Int, inUse: Int, waiting: Int)
    ) {
        for projection in projections {
            Gauge(label: "grantledger_projection_lag_events", dimensions: [("projection", projection.name)])
                .record(projection.events)
            Gauge(label: "grantledger_projection_lag_seconds", dimensions: [("projection", projection.name)])
                .record(projection.seconds)
        }
        Gauge(label: "grantledger_unsealed_events").record(unsealed)
        Self.pool(pool)
    }

    /// A read replica as last seen: its replay lag (absent while it cannot be reached) and
    /// whether reads may go to it.
    static func replica(_ name: String, lagSeconds: Double?, healthy: Bool) {
        if let lagSeconds {
            Gauge(label: "grantledger_replica_lag_seconds", dimensions: [("replica", name)]).record(lagSeconds)
        }
        Gauge(label: "grantledger_replica_up", dimensions: [("replica", name)]).record(healthy ? 1 : 0)
    }

    /// The connection pool now.
    /// Events the read models passed over because they do not decode as their type.
    static func quarantined(_ count: Int) {
        Gauge(label: "grantledger_quarantined_events").record(count)
    }

    /// Rows of a read model that differ from the log's recomputation at the last check.
    static func readModelDifferences(_ readModel: String, _ count: Int) {
        Gauge(label: "grantledger_read_model_differences", dimensions: [("read_model", readModel)]).record(count)
    }

    /// The commands' memory of the log: where it stands, whether it decides, and how many
    /// commands it decided or handed to the store's locks.
    static func commandMemory(_ memory: CommandMemory) {
        let counts = memory.decisionCounts
        Gauge(label: "grantledger_command_memory_position").record(memory.position)
        Gauge(label: "grantledger_command_memory_ready").record(memory.isReady ? 1 : 0)
        Gauge(label: "grantledger_command_decisions", dimensions: [("path", "memory")]).record(counts.fromMemory)
        Gauge(label: "grantledger_command_decisions", dimensions: [("path", "locks")]).record(counts.underLocks)
    }

    static func pool(_ pool: (open: Int, inUse: Int, waiting: Int)) {
        Gauge(label: "grantledger_pool_connections_open").record(pool.open)
        Gauge(label: "grantledger_pool_connections_in_use").record(pool.inUse)
        Gauge(label: "grantledger_pool_waiting").record(pool.waiting)
    }
}
