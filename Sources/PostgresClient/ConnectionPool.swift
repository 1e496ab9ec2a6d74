import Foundation
import Logging
import NIOConcurrencyHelpers

/// A bounded pool of `PostgresConnection`s.
///
/// At most `maxConnections` are open at once; a caller that finds none free waits up to
/// `acquireTimeout` seconds and then gets `PostgresError.Kind.poolTimeout` instead of
/// hanging; a waiting task that is cancelled stops waiting at once (`CancellationError`);
/// a closed pool answers `poolClosed`. Broken connections are dropped on release, and a free
/// connection the server has closed meanwhile (a restart, `pg_terminate_backend`) is dropped
/// before it is lent, so the pool recovers by itself once the server is back: the first
/// request after a restart gets a fresh connection, not a dead one.
public final class ConnectionPool: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<PostgresConnection?, any Error>
    }

    private struct State {
        /// Free connections, each with the moment it was returned.
        var idle: [(connection: PostgresConnection, since: ContinuousClock.Instant)] = []
        var open = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())
    /// The libpq connection string or URI this pool connects with.
    public let conninfo: String
    /// The most connections open at once.
    public let maxConnections: Int
    /// How long `withConnection` waits for a free connection, in seconds.
    public let acquireTimeout: Double
    /// The session settings (timeouts, search path) each new connection starts with.
    public let settings: SessionSettings
    /// A free connection idle for longer is closed rather than lent: the database ends
    /// sessions idle for 2 minutes (`idle_session_timeout` of the application role,
    /// deploy/db.sh), so that no forgotten session holds a lock for long.
    public static let maxIdle: Duration = .seconds(60)
    private let logger: Logger

    /// Creates a pool; no connection is opened until one is needed.
    public init(
        conninfo: String, maxConnections: Int = 8, acquireTimeout: Double = 10,
        settings: SessionSettings = .fromEnvironment(),
        logger: Logger = Logger(label: "grantledger.postgres.pool")
    ) {
        self.conninfo = conninfo
        self.maxConnections = max(1, maxConnections)
        self.acquireTimeout = acquireTimeout
        self.settings = settings
        self.logger = logger
    }

    /// Lends a connection to `body` and takes it back afterwards, even when `body` throws.
    ///
    /// A connection comes back clean: after an error, or with a transaction left open, it
    /// is rolled back and its session advisory locks released before anyone else gets it,
    /// or dropped when that fails.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection, afterError: false)
            return value
        } catch {
            await release(connection, afterError: true)
            throw error
        }
    }

    /// Connections open and lent out, and callers waiting for one, now.
    public var statistics: (open: Int, inUse: Int, waiting: Int) {
        state.withLockedValue { ($0.open, $0.open - $0.idle.count, $0.waiters.count) }
    }

    /// Closes idle connections and refuses new work.
    public func close() {
        let waiters = state.withLockedValue { state in
            state.closed = true
            state.idle.removeAll()
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(kind: .poolClosed, message: "pool closed"))
        }
    }

    private enum Decision {
        case reuse(PostgresConnection)
        case open
        case wait
    }

    private func acquire() async throws -> PostgresConnection {
        while true {
            let connection = try await acquireOnce()
            guard let connection else { continue }
            return connection
        }
    }

    /// One attempt: nil when the free connection it took had been closed by the server
    /// (its slot is given up, and the caller tries again).
    private func acquireOnce() async throws -> PostgresConnection? {
        let now = ContinuousClock.now
        let (decision, stale): (Decision?, [PostgresConnection]) = state.withLockedValue { state in
            if state.closed { return (nil, []) }
            // Connections idle too long are closed (the server may have ended them already);
            // their slots are taken over by this caller or freed.
            var stale: [PostgresConnection] = []
            while let oldest = state.idle.first, now - oldest.since > Self.maxIdle {
                stale.append(state.idle.removeFirst().connection)
                state.open -= 1
            }
            if let entry = state.idle.popLast() { return (.reuse(entry.connection), stale) }
            if state.open < maxConnections {
                state.open += 1
                return (.open, stale)
            }
            return (.wait, stale)
        }
        // The stale connections close as they are released at the end of this scope (a
        // PostgresConnection frees its libpq handle in deinit), outside the pool's lock.
        if !stale.isEmpty { logger.debug("closing idle database connections", metadata: ["count": "\(stale.count)"]) }
        guard let decision else {
            throw PostgresError(kind: .poolClosed, message: "pool closed")
        }

        switch decision {
        case .reuse(let connection):
            if await connection.isStillOpen { return connection }
            logger.info("dropping a database connection the server has closed")
            releaseSlot()
            return nil
        case .open:
            return try await openConnection()
        case .wait:
            if let handedOver = try await waitForConnection() {
                return handedOver
            }
            // A slot was freed by a broken connection: open a fresh one in its place.
            return try await openConnection()
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(conninfo, settings: settings, logger: logger)
        } catch {
            releaseSlot()
            throw error
        }
    }

    /// Gives up one open slot and, if someone waits, lets them open a connection in it.
    private func releaseSlot() {
        let waiter: Waiter? = state.withLockedValue { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.open -= 1
            return nil
        }
        waiter?.continuation.resume(returning: nil)
    }

    private func waitForConnection() async throws -> PostgresConnection? {
        let timeout = acquireTimeout
        let id = state.withLockedValue { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Checked under the lock `onCancel` takes: a cancellation either shows here
                // or finds the waiter queued.
                let cancelled = state.withLockedValue { state in
                    if Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                Task { [weak self] in
                    try? await Task.sleep(nanoseconds: UInt64(timeout * 1_000_000_000))
                    self?.expire(waiterID: id)
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLockedValue { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func expire(waiterID: UInt64) {
        let expired: Waiter? = state.withLockedValue { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
            return state.waiters.remove(at: index)
        }
        guard let waiter = expired else { return }
        waiter.continuation.resume(
            throwing: PostgresError(
                kind: .poolTimeout, message: "all \(maxConnections) connections busy for \(acquireTimeout)s"))
    }

    private func release(_ connection: PostgresConnection, afterError: Bool) async {
        // Idle means healthy and outside a transaction; anything else needs a reset.
        var clean = false
        if !afterError { clean = await connection.isIdle }
        if !clean { clean = await connection.reset() }
        guard clean else {
            logger.info("dropping broken database connection")
            releaseSlot()
            return
        }
        let waiter: Waiter? = state.withLockedValue { state in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty {
                return state.waiters.removeFirst()
            }
            state.idle.append((connection, ContinuousClock.now))
            return nil
        }
        waiter?.continuation.resume(returning: connection)
    }
}
