import Foundation
import GrantDomain
import Logging
import NIOConcurrencyHelpers
import PostgresClient
import Projections
import ServiceLifecycle

/// What the server knows of the read models' trustworthiness: the events they passed over
/// (quarantined) and the last comparison of every read model with the log. `/readyz` says
/// "degraded" (still 200: the server keeps serving) and `/metrics` counts both.
final class IntegrityWatch: Sendable {
    struct State: Sendable {
        var quarantined = 0
        var checks: [ReadModelCheck] = []
        var checkedAt: Date?
    }
    private let state = NIOLockedValueBox(State())

    var current: State { state.withLockedValue { $0 } }

    var differing: Int { current.checks.map(\.differing).reduce(0, +) }

    /// The number of quarantined events in the entities read model (one query).
    func refreshQuarantine(runner: ProjectionRunner) async throws {
        let count = try await runner.quarantinedCount()
        state.withLockedValue { $0.quarantined = count }
        ServerMetrics.quarantined(count)
    }

    func record(_ checks: [ReadModelCheck]) {
        state.withLockedValue {
            $0.checks = checks
            $0.checkedAt = Date()
        }
        for check in checks { ServerMetrics.readModelDifferences(check.readModel, check.differing) }
    }

    /// The `/readyz` body's extra fields when something is wrong; nil when all is well.
    var degradation: String? {
        let state = current
        guard state.quarantined > 0 || state.checks.contains(where: { !$0.ok }) else { return nil }
        var reasons: [String] = []
        if state.quarantined > 0 {
            reasons.append("\(state.quarantined) quarantined events (GET /v1/audit/quarantine)")
        }
        for check in state.checks where !check.ok {
            reasons.append(
                "read model \(check.readModel) differs from the log in \(check.differing) rows (grantledger audit verify --read-models)"
            )
        }
        return
            #"{"status": "degraded", "quarantinedEvents": \#(state.quarantined), "readModelDifferences": \#(state.checks.map(\.differing).reduce(0, +)), "reasons": \#(ResponseJSON.text(reasons))}"#
    }
}

/// Recomputes every read model from the log every `interval` and records the comparison
/// (`ReadModelCheck`), beginning one interval after start. An interval of zero turns it off.
struct ReadModelCheckService: Service {
    let pool: ConnectionPool
    let watch: IntegrityWatch
    let interval: Duration
    let logger: Logger

    func run() async throws {
        guard interval > .zero else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Ends at once on graceful shutdown (SIGTERM), not after the interval.
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                let checks = try await ReadModelCheck.run(pool: pool)
                watch.record(checks)
                for check in checks where !check.ok {
                    logger.error(
                        "read model differs from the log",
                        metadata: [
                            "read_model": "\(check.readModel)", "rows.differing": "\(check.differing)",
                            "position": "\(check.position)",
                        ])
                }
            } catch {
                logger.warning("read-model check failed; retrying later", metadata: ["error.description": "\(error)"])
            }
        }
    }
}
