import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import PostgresClient
import Projections
import ServiceLifecycle

/// Hot standbys (`--read-database-url`) that answer reads: the I.3 figure, lists, shows,
/// events and proofs. Commands, sealing and projection writes always go to the primary.
///
/// A background service looks at each standby every 200 ms: the positions its read models
/// and its gap-free log have reached, its replay lag, and it loads the standby's I.3 rows into
/// that replica's own in-memory index. A read picks a healthy replica that has reached what
/// the request needs (`minPosition`, or the cut-off it asks for), waits up to a bound for one,
/// then falls back to the primary, or answers 503 with `Retry-After` when told not to.
public final class ReadReplicas: Sendable {
    /// How far a standby has replayed, as it was last seen.
    struct Reached: Sendable {
        var healthy = false
        /// The `rm_i3` and `rm_entities` checkpoints, and the last position of the gap-free log.
        var i3: Int64 = 0
        var entities: Int64 = 0
        var events: Int64 = 0
        var lagSeconds = 0.0
    }

    final class Replica: Sendable {
        let name: String
        let pool: ConnectionPool
        let reporter: I3Reporter
        let entities: EntityQueries
        let store: EventStore
        let reached = NIOLockedValueBox(Reached())

        init(name: String, pool: ConnectionPool) {
            self.name = name
            self.pool = pool
            self.reporter = I3Reporter(pool: pool)
            self.entities = EntityQueries(pool: pool)
            self.store = EventStore(pool: pool)
        }
    }

    let replicas: [Replica]
    private let turn = NIOLockedValueBox(0)

    /// The longest a read waits for a standby to reach the position it needs.
    static let patience = Duration.seconds(2)

    init(conninfos: [String], maxConnections: Int, acquireTimeout: Double, logger: Logger) {
        replicas = conninfos.enumerated().map { index, conninfo in
            Replica(
                name: "replica-\(index + 1)",
                pool: ConnectionPool(
                    conninfo: conninfo, maxConnections: maxConnections, acquireTimeout: acquireTimeout, logger: logger))
        }
    }

    var isEmpty: Bool { replicas.isEmpty }

    /// A healthy replica whose `what` has reached `position`, taking turns; nil when none.
    func ready(_ what: KeyPath<Reached, Int64>, reaching position: Int64) -> Replica? {
        let start = turn.withLockedValue { value in
            defer { value &+= 1 }
            return value
        }
        for offset in 0..<replicas.count {
            let replica = replicas[(start &+ offset) % replicas.count]
            let reached = replica.reached.withLockedValue { $0 }
            if reached.healthy && reached[keyPath: what] >= position { return replica }
        }
        return nil
    }

    /// `ready(_:reaching:)`, waiting up to `patience` for a replica to get there.
    func replica(_ what: KeyPath<Reached, Int64>, reaching position: Int64) async -> Replica? {
        let deadline = ContinuousClock.now + Self.patience
        while true {
            if let replica = ready(what, reaching: position) { return replica }
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// One look at every replica.
    func refresh(logger: Logger) async {
        for replica in replicas {
            do {
                let reached = try await replica.pool.withConnection { connection in
                    let i3 = try await ProjectionRunner.checkpoint(ofSchema: "rm_i3", on: connection)
                    let entities = try await ProjectionRunner.checkpoint(ofSchema: "rm_entities", on: connection)
                    let events = try await StoreSession(connection: connection).gapFreeHead()
                    let lag = try await connection.replayLag()
                    try await replica.reporter.memory.refresh(upTo: i3, on: connection)
                    return Reached(healthy: true, i3: i3, entities: entities, events: events, lagSeconds: lag)
                }
                replica.reporter.knownHead.update(reached.i3)
                replica.reached.withLockedValue { $0 = reached }
                ServerMetrics.replica(replica.name, lagSeconds: reached.lagSeconds, healthy: true)
            } catch {
                let wasHealthy = replica.reached.withLockedValue { state in
                    defer { state.healthy = false }
                    return state.healthy
                }
                ServerMetrics.replica(replica.name, lagSeconds: nil, healthy: false)
                if wasHealthy {
                    logger.warning(
                        "read replica unavailable; reads go to the primary",
                        metadata: ["replica": "\(replica.name)", "error.description": "\(error)"])
                }
            }
        }
    }
}

/// Keeps `ReadReplicas` current.
struct ReplicaService: Service {
    let replicas: ReadReplicas
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await replicas.refresh(logger: logger)
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// What a read asks of where it is answered: `minPosition` (query parameter or the
/// `Grantledger-Min-Position` header), and `fallback=false` for a 503 instead of the primary.
struct ReadRequirement {
    var minimum: Int64
    var fallback: Bool

    init(_ request: Request) throws {
        var minimum = try positionParameter(request, "minPosition") ?? 0
        if let name = HTTPField.Name("Grantledger-Min-Position"), let text = request.headers[name] {
            guard case .position(let value)? = CutOff.parse(text) else {
                throw APIError.invalid("Grantledger-Min-Position must be a position ≥ 0")
            }
            minimum = max(minimum, value)
        }
        self.minimum = minimum
        switch request.uri.queryParameters.get("fallback") {
        case nil, "true": fallback = true
        case "false": fallback = false
        default: throw APIError.invalid("fallback must be true or false")
        }
    }

    /// Refuses (404) a `minPosition` beyond the last event recorded: the log has no such
    /// position, so no write of the client's can be there, and waiting for it would only
    /// re-seal the log for nothing. One query.
    func refuseBeyondLog(_ store: EventStore) async throws {
        guard minimum > 0 else { return }
        let last = try await store.lastAppended()
        guard minimum <= last else {
            throw APIError.notFound("minPosition \(minimum) is beyond the last recorded event (position \(last))")
        }
    }

    /// The 503 of a read that may not fall back.
    /// The primary could not read up to `minimum` within the patience.
    func notYetReadable() -> APIError {
        var error = APIError(
            .serviceUnavailable, "unavailable",
            "position \(minimum) is recorded but not yet readable (an earlier command is still committing); retry")
        error.headers[.retryAfter] = "1"
        return error
    }

    func unavailable() -> APIError {
        var error = APIError(
            .serviceUnavailable, "unavailable",
            "no read replica has reached position \(minimum) yet; retry, or allow the primary (fallback=true)")
        error.headers[.retryAfter] = "1"
        return error
    }
}
