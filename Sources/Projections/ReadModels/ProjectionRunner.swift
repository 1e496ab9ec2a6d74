import EventStore
import Foundation
import GrantDomain
import Logging
import PersonalDataKeys
import PostgresClient

/// Where a projection stands.
public struct ProjectionStatus: Sendable, Codable {
    public var name: String
    public var checkpoint: Int64
    public var head: Int64
    public var lag: Int64
}

/// Feeds projections from the gap-safe global read, in batches, each batch in one
/// transaction with its checkpoint.
///
/// Several runners (a CLI call and the server, say) may run at once: each batch first takes
/// the projection's advisory lock and re-reads the checkpoint, so no event is projected
/// twice or skipped.
public struct ProjectionRunner: Sendable {
    public let pool: ConnectionPool
    public let projections: [any Projection]
    public var batchSize = 5_000
    let logger: Logger

    public init(
        pool: ConnectionPool, projections: [any Projection] = ProjectionRunner.standard,
        logger: Logger = Logger(label: "grantledger.projections")
    ) {
        self.pool = pool
        self.projections = projections
        self.logger = logger
    }

    /// The read models grantledger keeps.
    public static let standard: [any Projection] = [EntitiesProjection(), I3Projection()]

    static func schema(_ projection: any Projection, building: Bool = false) -> String {
        "rm_" + projection.name + (building ? "_build" : "")
    }

    /// Brings every projection up to `target` (default: as far as the log is readable).
    /// - Parameter progress: called with (projection name, position reached, target).
    /// Seals the log's chain and catches every projection up to the sealed head, which it
    /// returns: what a reader does before answering "at the head".
    /// - Parameters:
    ///   - position: when given, sealing is retried until it reaches this position or
    ///     `patience` runs out. Sealing covers only events older than every transaction still
    ///     open in the cluster (sql/007), so a long transaction elsewhere delays it.
    @discardableResult
    public func sealAndCatchUp(reaching position: Int64? = nil, patience: Duration = .zero) async throws
        -> ChainHead
    {
        let store = EventStore(pool: pool)
        var head = try await store.seal()
        let deadline = ContinuousClock.now + patience
        while let position, head.position < position, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            head = try await store.seal()
        }
        try await catchUp(upTo: head.position)
        return head
    }

    public func catchUp(upTo target: Int64? = nil, progress: @Sendable (String, Int64, Int64) -> Void = { _, _, _ in })
        async throws
    {
        try await pool.withConnection { connection in
            let goal: Int64
            if let target {
                goal = target
            } else {
                goal = try await Self.readableHead(on: connection)
            }
            for projection in projections {
                let schema = Self.schema(projection)
                // Cheap check first: most calls find the projection already caught up.
                if try await Self.checkpoint(ofSchema: schema, on: connection) >= goal { continue }
                try await run(projection, schema: schema, upTo: goal, on: connection, progress: progress)
            }
        }
    }

    /// The checkpoint of one projection (0 when it does not exist yet).
    public func checkpoint(of name: String) async throws -> Int64 {
        try await pool.withConnection { try await Self.checkpointIfExists(ofSchema: "rm_" + name, on: $0) }
    }

    /// The position a read model's schema has projected up to: the one place that reads
    /// `<schema>.checkpoint`. Schema names come from the projections, never from input.
    public static func checkpoint(ofSchema schema: String, on connection: PostgresConnection) async throws -> Int64 {
        try await connection.query(PostgresQuery(unsafeSQL: "SELECT position FROM \(schema).checkpoint"))[0]
            .decode(Int64.self, 0)
    }

    /// `checkpoint(ofSchema:on:)`, or 0 when the schema does not exist (not migrated yet).
    static func checkpointIfExists(ofSchema schema: String, on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query("SELECT count(*) FROM pg_namespace WHERE nspname = \(schema)")
        guard try rows[0].decode(Int.self, 0) > 0 else { return 0 }
        return try await checkpoint(ofSchema: schema, on: connection)
    }

    /// Moves a read model's schema's checkpoint to `position`, in the caller's transaction.
    static func setCheckpoint(_ position: Int64, ofSchema schema: String, on connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            PostgresQuery(unsafeSQL: "UPDATE \(schema).checkpoint SET position = $1", bindings: [String(position)]))
    }

    static func readableHead(on connection: PostgresConnection) async throws -> Int64 {
        try await StoreSession(connection: connection).gapFreeHead()
    }

    private func run(
        _ projection: any Projection, schema: String, upTo goal: Int64, on connection: PostgresConnection,
        progress: @Sendable (String, Int64, Int64) -> Void
    ) async throws {
        while true {
            let reached = try await connection.transaction { connection in
                try await projectBatch(projection, schema: schema, upTo: goal, on: connection)
            }
            guard let reached else { return }
            progress(projection.name, reached, goal)
        }
    }

    /// One batch inside the caller's transaction; nil when nothing was left to project.
    func projectBatch(_ projection: any Projection, schema: String, upTo goal: Int64, on connection: PostgresConnection)
        async throws -> Int64?
    {
        try await AdvisoryLock.projection(schema).lockForTransaction(on: connection)
        let checkpoint = try await Self.checkpoint(ofSchema: schema, on: connection)
        if checkpoint >= goal { return nil }
        let session = StoreSession(connection: connection)
        let rows = try await session.readEntryRows(after: checkpoint, limit: batchSize, upTo: goal)
        guard let last = try rows.last?.position() else { return nil }
        // Decoded from the result's bytes, sealed texts opened, as `DecodedLogReader` does.
        let located = try DecodedLogReader.located(rows)
        let (batch, quarantined) = try await DecodedLogReader.decode(
            rows, located: located, keys: try await session.keys(for: located))
        try await projection.apply(batch, schema: schema, on: connection)
        try await Self.record(quarantined, schema: schema, on: connection)
        try await Self.setCheckpoint(last, ofSchema: schema, on: connection)
        return last
    }

    /// Lists the events a batch passed over because they do not decode as their type, in the
    /// read model's `quarantine` table (sql/019): what `GET /v1/audit/quarantine`, `/readyz`
    /// and the metrics read.
    static func record(_ quarantined: [QuarantinedEvent], schema: String, on connection: PostgresConnection)
        async throws
    {
        guard !quarantined.isEmpty else { return }
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(schema).quarantine (position, type, reason)
                    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                    """,
                bindings: [
                    textArray(quarantined.map { String($0.position) }), textArray(quarantined.map(\.type)),
                    textArray(quarantined.map(\.reason)),
                ]))
    }

    /// The events the entities read model passed over (`record`), in log order: every read
    /// model passes over the same ones.
    public func quarantined() async throws -> [QuarantinedEvent] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT position, type, reason FROM rm_entities.quarantine ORDER BY position")
                .map {
                    let (position, type, reason) = try $0.decode((Int64, String, String).self)
                    return QuarantinedEvent(position: position, type: type, reason: reason)
                }
        }
    }

    /// How many events the entities read model passed over: one query.
    public func quarantinedCount() async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query("SELECT count(*) FROM rm_entities.quarantine")[0].decode(Int.self, 0)
        }
    }

    /// Empties the build twin of a projection's schema (created by the migrations) and sets
    /// its checkpoint back to 0.
    static func emptyBuildSchema(of projection: any Projection, on connection: PostgresConnection) async throws {
        let build = schema(projection, building: true)
        let tables = try await connection.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(build) AND tablename <> 'checkpoint' ORDER BY tablename"
        ).map { try $0.decode(String.self, 0) }
        try await connection.transaction { connection in
            if !tables.isEmpty {
                // Names come from the catalogue of a schema the migrations made; quoted anyway.
                let list = tables.map { build + ".\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                try await connection.query(PostgresQuery(unsafeSQL: "TRUNCATE " + list.joined(separator: ", ")))
            }
            try await Self.setCheckpoint(0, ofSchema: build, on: connection)
        }
    }

    /// For the operator: per projection, the events not yet projected and how long the
    /// oldest of them has waited; and the events appended but not yet sealed.
    public func lag() async throws -> (projections: [(name: String, events: Int64, seconds: Double)], unsealed: Int64) {
        let statuses = try await status()
        return try await pool.withConnection { connection in
            let session = StoreSession(connection: connection)
            var projections: [(name: String, events: Int64, seconds: Double)] = []
            for status in statuses {
                let seconds = status.lag > 0 ? try await session.secondsWaiting(after: status.checkpoint) : 0
                projections.append((status.name, status.lag, seconds))
            }
            return (projections, try await session.unsealedCount())
        }
    }

    /// Checkpoint, head and lag of every projection.
    public func status() async throws -> [ProjectionStatus] {
        try await pool.withConnection { connection in
            let head = try await Self.readableHead(on: connection)
            var result: [ProjectionStatus] = []
            for projection in projections {
                let schema = Self.schema(projection)
                let checkpoint = try await Self.checkpointIfExists(ofSchema: schema, on: connection)
                result.append(
                    ProjectionStatus(name: projection.name, checkpoint: checkpoint, head: head, lag: head - checkpoint))
            }
            return result
        }
    }

    /// Replays the log into fresh tables while the live ones keep answering, then swaps
    /// them in one transaction.
    ///
    /// The bulk of the log is read once, decoded once, projected in memory by every chosen
    /// projection and written in large statements; the events that arrive meanwhile are
    /// then projected incrementally while holding the live lock, just before the swap.
    /// - Parameter names: the projections to rebuild (all when empty).
    public func rebuild(_ names: [String] = [], progress: @Sendable (String, Int64, Int64) -> Void = { _, _, _ in })
        async throws
    {
        let chosen = names.isEmpty ? projections : projections.filter { names.contains($0.name) }
        let goal = try await pool.withConnection { connection in
            for projection in chosen {
                try await Self.emptyBuildSchema(of: projection, on: connection)
            }
            return try await Self.readableHead(on: connection)
        }
        let builders = chosen.map { $0.makeBulkBuilder() }
        let started = Date()
        var projecting: TimeInterval = 0
        var quarantined: [QuarantinedEvent] = []
        let after = try await DecodedLogReader(store: EventStore(pool: pool)).forEachBatch(
            upTo: goal, quarantined: &quarantined
        ) { batch in
            let projectStart = Date()
            for builder in builders { builder.add(batch) }
            projecting += Date().timeIntervalSince(projectStart)
            if let last = batch.last { progress("rebuild", last.position, goal) }
        }
        let read = Date().timeIntervalSince(started)
        logger.info(
            "rebuild read the log",
            metadata: [
                "events.last": "\(after)", "seconds.total": "\(Int(read))", "seconds.projecting": "\(Int(projecting))",
            ])
        // Each projection is written on a connection of its own, all at once.
        let writes = zip(chosen, builders).map { ($0.name, Self.schema($0, building: true), $1.writer()) }
        let passedOver = quarantined
        let (pool, logger) = (self.pool, self.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (name, build, write) in writes {
                group.addTask {
                    try await pool.withConnection { connection in
                        let writeStart = Date()
                        try await connection.transaction { connection in
                            // Loaded without indexes, then indexed (sql/030); a failure rolls
                            // both back.
                            try await connection.query("SELECT read_model_load_begin(\(build))")
                            try await write(build, connection)
                            try await Self.record(passedOver, schema: build, on: connection)
                            try await Self.setCheckpoint(after, ofSchema: build, on: connection)
                            try await connection.query("SELECT read_model_load_end(\(build))")
                        }
                        try await connection.query("SELECT analyze_read_model(\(build))")
                        logger.info(
                            "rebuild wrote projection",
                            metadata: [
                                "projection.name": "\(name)",
                                "seconds": "\(Int(Date().timeIntervalSince(writeStart) * 1000) / 1000)",
                            ])
                    }
                }
            }
            try await group.waitForAll()
        }
        try await pool.withConnection { connection in
            for projection in chosen {
                let live = Self.schema(projection)
                let build = Self.schema(projection, building: true)
                // Swap: hold the live lock, project what arrived meanwhile, rename.
                try await connection.transaction { connection in
                    try await AdvisoryLock.projection(live).lockForTransaction(on: connection)
                    let head = try await Self.readableHead(on: connection)
                    while try await projectBatch(projection, schema: build, upTo: head, on: connection) != nil {}
                    try await connection.query("SELECT swap_read_model(\(projection.name))")
                }
                // The former live tables are the build twin now: free their space.
                try await Self.emptyBuildSchema(of: projection, on: connection)
                logger.info("rebuilt projection", metadata: ["projection.name": "\(projection.name)"])
            }
        }
    }
}
