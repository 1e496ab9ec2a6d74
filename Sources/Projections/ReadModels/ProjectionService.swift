import EventStore
import Logging
import PostgresClient
import ServiceLifecycle

/// Keeps the read models caught up: woken by NOTIFY from appends, polling every second as
/// a fallback, reconnecting when the database comes back. Each round reports the lag that
/// piled up (`observe`, for the metrics), seals and catches up, then hands the sealed head
/// to `caughtUp` (what the server keeps warm beside the read models: the in-memory I.3
/// index, the published checkpoint, the quarantine list). Ends on graceful shutdown.
public struct ProjectionService: Service {
    public typealias Lag = (projections: [(name: String, events: Int64, seconds: Double)], unsealed: Int64)

    let conninfo: String
    let runner: ProjectionRunner
    let observe: @Sendable (Lag) -> Void
    let caughtUp: @Sendable (ChainHead) async throws -> Void
    let logger: Logger

    public init(
        conninfo: String, runner: ProjectionRunner, logger: Logger,
        observe: @escaping @Sendable (Lag) -> Void = { _ in },
        caughtUp: @escaping @Sendable (ChainHead) async throws -> Void = { _ in }
    ) {
        self.conninfo = conninfo
        self.runner = runner
        self.observe = observe
        self.caughtUp = caughtUp
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let listener = try await PostgresConnection.connect(conninfo, logger: logger)
                try await listener.listen(EventStore.notificationChannel)
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    observe(try await runner.lag())
                    // Seal first, so every projected position has its chain hash for asOf.
                    try await caughtUp(try await runner.sealAndCatchUp())
                    _ = try await listener.waitForNotifications(timeout: 1)
                    // The listening session must not look idle to idle_session_timeout.
                    try await listener.query("SELECT 1")
                }
            } catch {
                logger.warning("projection catch-up failed; retrying", metadata: ["error.description": "\(error)"])
                try? await Task.sleep(nanoseconds: 1_000_000_000)
            }
        }
    }
}
