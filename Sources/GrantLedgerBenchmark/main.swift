// The event store benchmark: the store beside raw PostgreSQL on the same server, one run.
//
//   deploy/bench.sh            (builds in release mode, starts the local cluster, runs this)
//   grantledger-benchmark --appends   (only the appends, against raw INSERTs)
//
// Prints a Markdown table: appends/s through the store at 1 and 8 writers beside raw
// single-row INSERT transactions/s into a plain table of the same shape, and read-all
// events/s beside a raw COPY TO of the same rows, with the ratios. The targets printed are
// issue #24's where it sets one (appends at 8 writers, rebuild, replay, sealing), else those
// of the issues before it.
import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Projections
import Transparency

let environment = ProcessInfo.processInfo.environment
// `grantledger-benchmark --coders`: only the in-process JSON rows, no database.
if CommandLine.arguments.contains("--coders") {
    for row in try coderRows() { print(row) }
    exit(0)
}
func required(_ key: String) -> String {
    guard let value = environment[key], !value.isEmpty else {
        FileHandle.standardError.write(Data("\(key) is not set; run deploy/bench.sh\n".utf8))
        exit(2)
    }
    return value
}

let seconds = Double(environment["BENCH_SECONDS"] ?? "") ?? 5
let readEvents = Int(environment["BENCH_READ_EVENTS"] ?? "") ?? 1_000_000
let projectionEvents = Int(environment["BENCH_PROJECTION_EVENTS"] ?? "") ?? 1_000_000
let organisationCount = Int(environment["BENCH_ORGANISATIONS"] ?? "") ?? 100_000
let activityCount = Int(environment["BENCH_ACTIVITIES"] ?? "") ?? 200_000
let adminURL = required("GRANTLEDGER_ADMIN_DATABASE_URL")
let ownerURL = required("GRANTLEDGER_MIGRATION_DATABASE_URL")
let appURL = required("GRANTLEDGER_DATABASE_URL")
let database = "grantledger_bench"

func withDatabase(_ url: String, _ name: String) -> String {
    if let range = url.range(of: "/postgres?") { return url.replacingCharacters(in: range, with: "/\(name)?") }
    let slash = url.range(of: "/", options: .backwards)!
    return url[..<slash.lowerBound] + "/" + name
}

func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs `writers` loops of `body` for `seconds` and returns operations per second.
func measure(writers: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
    let start = Date()
    let deadline = start.addingTimeInterval(seconds)
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for writer in 0..<writers {
            group.addTask {
                var count = 0
                while Date() < deadline {
                    try await body(writer)
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    return Double(total) / Date().timeIntervalSince(start)
}

let admin = try await PostgresConnection.connect(adminURL)
try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database)"))
try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database) OWNER grantledger"))
let owner = try await PostgresConnection.connect(withDatabase(ownerURL, database))
_ = try await Migrator(directory: Migrator.defaultDirectory()).migrate(on: owner)
try await owner.executeScript(
    unsafeSQL: """
        CREATE TABLE raw_events (
            position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            stream_id text NOT NULL, stream_version bigint NOT NULL, event_id uuid NOT NULL,
            type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), hash bytea NOT NULL);
        GRANT SELECT, INSERT ON raw_events TO grantledger_app;
        """)

let pool = ConnectionPool(conninfo: withDatabase(appURL, database), maxConnections: 8)
let store = EventStore(pool: pool)
let storeAlone = EventStore(pool: pool, groupCommit: false)
let payload = #"{"grantId": "G-17", "amount": "12500.00", "paidOn": "2025-03-01"}"#
let metadata = #"{"actor": "bench", "commandId": null}"#
let hash = [UInt8](repeating: 7, count: 32)

/// One event appended through `store` to a random stream.
func append(on store: EventStore) async throws {
    let stream = "grant-\(Int.random(in: 0..<100_000))"
    _ = try await store.append([
        NewEvent(streamID: stream, type: "GrantTrancheDisbursed", data: payload, metadata: metadata)
    ])
}
func storeAppend(_ writer: Int) async throws { try await append(on: store) }
func storeAppendAlone(_ writer: Int) async throws { try await append(on: storeAlone) }

func rawInsert(_ writer: Int) async throws {
    let stream = "grant-\(Int.random(in: 0..<100_000))"
    _ = try await pool.withConnection { connection in
        try await connection.query(
            """
            INSERT INTO raw_events (stream_id, stream_version, event_id, type, data, metadata, hash)
            VALUES (\(stream), 1, \(UUID()), 'GrantTrancheDisbursed', \(payload)::jsonb, \(metadata)::jsonb, \(hash))
            """)
    }
}

// `grantledger-benchmark --seals`: only the seals, over the read test's events (no appends,
// reads or realistic log first), each seal timed.
if CommandLine.arguments.contains("--seals") {
    log("loading \(readEvents) events, sealing them, then seals of 1000 ...")
    try await loadEvents(readEvents)
    let start = Date()
    let head = try await store.seal()
    print(
        "| one seal of \(head.position) events, events/s | \(format(Double(head.position) / Date().timeIntervalSince(start))) |"
    )
    print("| seals of 1000 events, events/s | \(format(try await batchSeals())) |")
    pool.close()
    exit(0)
}

// Warm up the pool and caches.
_ = try await measure(writers: 8) { _ in _ = try await pool.withConnection { try await $0.query("SELECT 1") } }

log("appends, 1 writer ...")
let store1 = try await measure(writers: 1, storeAppend)
log("raw inserts, 1 client ...")
let raw1 = try await measure(writers: 1, rawInsert)
log("appends, 8 writers ...")
let store8 = try await measure(writers: 8, storeAppend)
log("appends, 8 writers, a transaction each ...")
let store8Alone = try await measure(writers: 8, storeAppendAlone)
log("raw inserts, 8 clients ...")
let raw8 = try await measure(writers: 8, rawInsert)

func format(_ value: Double) -> String { String(format: "%.0f", value) }
func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f×", a / b) }

func printAppendRows() {
    print("| measure | grantledger | raw PostgreSQL | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    print(
        "| appends/s, 1 writer (1 event per transaction, random streams) | \(format(store1)) | \(format(raw1)) INSERT tx/s | \(ratio(store1, raw1)) | ≥ 0.7× |"
    )
    print(
        "| appends/s, 8 writers (concurrent appends share transactions) | \(format(store8)) | \(format(raw8)) INSERT tx/s | \(ratio(store8, raw8)) | ≥ 0.7× |"
    )
    print(
        "| appends/s at 8 writers, a transaction each (no group commit) | \(format(store8Alone)) | \(format(raw8)) INSERT tx/s | \(ratio(store8Alone, raw8)) | |"
    )
}
// `grantledger-benchmark --appends`: only the appends' rows.
if CommandLine.arguments.contains("--appends") {
    printAppendRows()
    pool.close()
    exit(0)
}

/// `count` events in one transaction of the owner, on `streams` streams named `prefix` and
/// a number, each stream's versions from 1.
func insertEvents(_ count: Int, prefix: String, streams: Int) async throws {
    try await owner.query(
        """
        INSERT INTO events (position, stream_id, stream_version, event_id, type, data, metadata,
                            recorded_at, transaction_id, hash)
        SELECT nextval('events_position_seq'), \(prefix) || (g % \(streams)), g / \(streams) + 1, gen_random_uuid(),
               'GrantTrancheDisbursed', \(payload)::jsonb, \(metadata)::jsonb, clock_timestamp(),
               pg_current_xact_id(), \(hash)
        FROM generate_series(0, \(count) - 1) g
        """)
}

/// `count` events on 50,000 streams in one transaction of the owner, analysed.
func loadEvents(_ count: Int) async throws {
    try await insertEvents(count, prefix: "bulk-", streams: 50_000)
    try await owner.query("VACUUM ANALYZE events")
}

/// Seals what is there, then 20 times appends 1,000 events (one transaction of the owner)
/// and seals them: the seals of 1,000 a second.
func batchSeals() async throws -> Double {
    try await store.seal()
    var batchSealTime = 0.0
    for _ in 0..<20 {
        // A stream of its own for each event: a new prefix per batch, as many streams as events.
        try await insertEvents(1000, prefix: "batch-\(UUID().uuidString)-", streams: 1000)
        let start = Date()
        try await store.seal()
        batchSealTime += Date().timeIntervalSince(start)
    }
    return 20_000 / batchSealTime
}

log("loading \(readEvents) events for the read test ...")
try await owner.query("TRUNCATE raw_events")
let existing = try await store.gapFreeHead()
try await loadEvents(readEvents)

log("read-all through the store ...")
var readStart = Date()
var cursor = existing
var readCount = 0
while true {
    let batch = try await store.readAll(after: cursor, limit: 10_000)
    guard let last = batch.last else { break }
    readCount += batch.count
    cursor = last.position
}
let readRate = Double(readCount) / Date().timeIntervalSince(readStart)

log("raw COPY TO ...")
readStart = Date()
let copied = try await owner.copyOut(
    """
    COPY (SELECT position, stream_id, stream_version, event_id, type, data, metadata, recorded_at, hash
          FROM events WHERE position > \(existing) ORDER BY position) TO STDOUT
    """
) { _ in }
let copyRate = Double(copied) / Date().timeIntervalSince(readStart)

log("sealing the loaded events, then seals of 1000 appended events ...")
let batchSealRate = try await batchSeals()

// --- Projections, I.3 and replay over a realistic programme, in a fresh database. ---------
let projectionDatabase = "grantledger_bench_projections"
try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(projectionDatabase)"))
try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(projectionDatabase) OWNER grantledger"))
let projectionOwner = try await PostgresConnection.connect(withDatabase(ownerURL, projectionDatabase))
_ = try await Migrator(directory: Migrator.defaultDirectory()).migrate(on: projectionOwner)
log(
    "generating a realistic log of \(projectionEvents) events (\(organisationCount) organisations)"
        + " plus \(activityCount) activities ...")
let generated = try await loadRealisticLog(
    target: projectionEvents, organisations: organisationCount, activities: activityCount, owner: projectionOwner)
let projectionPool = ConnectionPool(conninfo: withDatabase(appURL, projectionDatabase), maxConnections: 4)
let projectionStore = EventStore(pool: projectionPool)
log("sealing ...")
var sealStart = Date()
let sealedHead = try await projectionStore.seal()
let sealRate = Double(generated) / Date().timeIntervalSince(sealStart)

log("proofs and checkpoints over \(generated) events ...")
/// p50 and p99 in ms of `samples` runs of `body`.
func latencies(_ samples: Int, _ body: (Int) async throws -> Void) async throws -> (p50: Double, p99: Double) {
    var times: [Double] = []
    for index in 0..<samples {
        let start = Date()
        try await body(index)
        times.append(Date().timeIntervalSince(start) * 1000)
    }
    times.sort()
    return (times[times.count / 2], times[Int(Double(times.count) * 0.99) - 1])
}
let proofConnection = try await PostgresConnection.connect(withDatabase(appURL, projectionDatabase))
let treeSize = try await StoreSession(connection: proofConnection).treeSize()
var proofRandom = SystemRandomNumberGenerator()
let inclusionLatency = try await latencies(1000) { _ in
    let position = Int64.random(in: 1...sealedHead.position, using: &proofRandom)
    _ = try? await StoreSession(connection: proofConnection).inclusionProof(position: position, treeSize: nil)
}
let consistencyLatency = try await latencies(1000) { _ in
    let from = Int64.random(in: 1...treeSize, using: &proofRandom)
    _ = try await StoreSession(connection: proofConnection).consistencyProof(from: from, to: nil)
}
let logKey = try NoteSigner(generatingNamed: "bench.example/log")
let checkpointLatency = try await latencies(200) { _ in
    let size = try await StoreSession(connection: proofConnection).treeSize()
    let root = try await StoreSession(connection: proofConnection).root(size: size)
    _ = try Checkpoint(origin: logKey.name, treeSize: size, rootHash: root).signed(by: logKey)
}
let signStart = Date()
for index in 0..<2000 { _ = try logKey.sign("bench.example/log\n\(index)\nAAAA\n") }
let signaturesPerSecond = 2000 / Date().timeIntervalSince(signStart)

log("projection rebuild ...")
let runner = ProjectionRunner(pool: projectionPool)
let rebuildStart = Date()
try await runner.rebuild()
let rebuildRate = Double(generated) / Date().timeIntervalSince(rebuildStart)

/// Runs `report` for 200 distinct queries and returns the p50 and p99 latency in ms.
func percentiles(_ report: (I3Query) async throws -> Void) async throws -> (p50: Double, p99: Double) {
    var latencies: [Double] = []
    for index in 0..<200 {
        // Distinct queries, so that none is answered from a cache.
        let query = I3Query(
            from: BusinessDate("2024-\(String(format: "%02d", 1 + index % 12))-01")!,
            to: BusinessDate("2025-12-\(String(format: "%02d", 1 + index / 12))")!,
            programme: index % 3 == 0 ? "CSO-LA" : nil)
        let start = Date()
        try await report(query)
        latencies.append(Date().timeIntervalSince(start) * 1000)
    }
    latencies.sort()
    return (latencies[latencies.count / 2], latencies[Int(Double(latencies.count) * 0.99) - 1])
}

log("I.3 report latency, CLI path ...")
let reporter = I3Reporter(pool: projectionPool)
let (p50, p99) = try await percentiles { _ = try await reporter.report($0) }
log("I.3 report latency, server path (in-memory index over the read model) ...")
_ = try await reporter.reportFromReadModel(I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2025-12-31")!))
let (memoryP50, memoryP99) = try await percentiles { _ = try await reporter.reportFromReadModel($0) }
let periodIndexStart = Date()
reporter.memory.buildPeriodIndex()
let periodIndexBuild = Date().timeIntervalSince(periodIndexStart) * 1000

log("as-of replay ...")
let replayStart = Date()
let replayed = try await AuditReplay.replay(pool: projectionPool, cutOff: .position(sealedHead.position))
let replayRate = Double(replayed.eventsReplayed) / Date().timeIntervalSince(replayStart)
projectionPool.close()

printAppendRows()
print(
    "| read-all events/s over \(readCount) events | \(format(readRate)) | \(format(copyRate)) COPY TO rows/s | \(ratio(readRate, copyRate)) | ≥ 0.5× |"
)
print("")
print("| measure over \(generated) events, \(organisationCount) organisations | result | target |")
print("|---|---:|---:|")
print("| projection rebuild (entities + i3), events/s | \(format(rebuildRate)) | ≥ 150000 |")
print("| I.3 report, CLI path (seal, catch-up check, SQL over rm_i3), p50 ms | \(String(format: "%.1f", p50)) | |")
print("| I.3 report, CLI path, p99 ms | \(String(format: "%.1f", p99)) | < 20 |")
print(
    "| I.3 report, server path (in-memory index over rm_i3, no cache hits), p50 ms | \(String(format: "%.1f", memoryP50)) | |"
)
print("| I.3 report, server path, p99 ms | \(String(format: "%.1f", memoryP99)) | < 20 |")
print("| I.3 period index (any period at the head), one build, ms | \(String(format: "%.0f", periodIndexBuild)) | |")
print("| as-of replay (audit replay), events/s | \(format(replayRate)) | ≥ 250000 |")
print("| sealing the chain and the Merkle tree, one seal of all events, events/s | \(format(sealRate)) | ≥ 300000 |")
print("| sealing the chain and the Merkle tree, seals of 1000 events, events/s | \(format(batchSealRate)) | ≥ 300000 |")
print(
    "| inclusion proof at \(treeSize) leaves (random position), p50 / p99 ms | \(String(format: "%.2f", inclusionLatency.p50)) / \(String(format: "%.2f", inclusionLatency.p99)) | p99 < 5 |"
)
print(
    "| consistency proof to \(treeSize) leaves (random size), p50 / p99 ms | \(String(format: "%.2f", consistencyLatency.p50)) / \(String(format: "%.2f", consistencyLatency.p99)) | p99 < 5 |"
)
print(
    "| signed checkpoint (tree head from PostgreSQL + Ed25519), p50 / p99 ms | \(String(format: "%.2f", checkpointLatency.p50)) / \(String(format: "%.2f", checkpointLatency.p99)) | |"
)
print("| Ed25519 note signatures/s, one core | \(format(signaturesPerSecond)) | |")
print("")
for row in try coderRows() { print(row) }
pool.close()
