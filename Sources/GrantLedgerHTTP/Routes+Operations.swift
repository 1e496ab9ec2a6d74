import EventStore
import Exports
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Projections
import Transparency

extension RouteRegistry {
    /// Health, readiness, metrics and the OpenAPI document.
    func addOperationRoutes(_ services: ServerServices) {
        let routes = self
        let auditors = group(.auditor)
        routes.get("/healthz") { _, _ in jsonResponse(.ok, #"{"status": "up"}"#) }
        routes.get("/readyz") { _, _ in
            switch await services.readiness.check() {
            case .ready:
                // Degraded (quarantined events, a read model that differs from the log) still
                // serves: the answer says so, with the reasons, and stays 200.
                return jsonResponse(.ok, services.integrity.degradation ?? #"{"status": "ready"}"#)
            case .notMigrated:
                return APIError(.serviceUnavailable, "unavailable", "migrations are not applied").rendered
            case .noMigrationFiles:
                return APIError(
                    .serviceUnavailable, "unavailable",
                    "the migration files were not found at start-up (./sql, or set GRANTLEDGER_MIGRATIONS)"
                ).rendered
            case .unavailable:
                return APIError(.serviceUnavailable, "unavailable", "the database is unavailable").rendered
            }
        }
        auditors.get("/metrics") { _, context in
            return metricsResponse(services)
        }
        routes.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }

    }
}

/// `GET /metrics`: the Prometheus text exposition, the pool's gauges and the I.3 cache's
/// counts read just now.
func metricsResponse(_ services: ServerServices) -> Response {
    ServerMetrics.pool(services.pool.statistics)
    ServerMetrics.reportCache(services.reportCacheCounts)
    if let memory = services.handler.memory { ServerMetrics.commandMemory(memory) }
    return textResponse(ServerMetrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
}

/// `/readyz`: the migration files are read once, at start-up; a check is one query, and a
/// "ready" answer is reused for a second so that polling costs the database next to nothing.
/// Failures are not reused: recovery shows at once.
final class Readiness: Sendable {
    enum State { case ready, notMigrated, noMigrationFiles, unavailable }

    private let lastReady = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let pool: ConnectionPool
    private let migrator: Migrator?

    init(pool: ConnectionPool) {
        self.pool = pool
        let migrator = try? Migrator(directory: Migrator.defaultDirectory())
        self.migrator = migrator?.migrations.isEmpty == false ? migrator : nil
    }

    func check() async -> State {
        let now = ContinuousClock.now
        if let ready = lastReady.withLockedValue({ $0 }), now - ready < .seconds(1) { return .ready }
        let state: State
        if let migrator {
            do {
                let missing = try await pool.withConnection { try await migrator.pendingCount(on: $0) }
                state = missing == 0 ? .ready : .notMigrated
            } catch {
                state = .unavailable
            }
        } else {
            state = .noMigrationFiles
        }
        lastReady.withLockedValue { $0 = state == .ready ? now : nil }
        return state
    }
}
