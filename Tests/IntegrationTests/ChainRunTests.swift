import Crypto
import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

/// The chain stored in runs of sealed events (sql/033_chain_runs.sql): the same chain
/// hashes as one row per event, about a sixteenth of the rows.
@Suite("The chain in runs")
struct ChainRunTests {
    /// Every event's position and content hash, in log order.
    func events(_ admin: PostgresConnection) async throws -> [(position: Int64, hash: [UInt8])] {
        try await admin.query("SELECT position, hash FROM events ORDER BY position").map {
            (try $0.decode(Int64.self, 0), try $0.decode([UInt8].self, 1))
        }
    }

    /// The stored runs: each one's positions and chain hashes, in log order.
    func runs(_ admin: PostgresConnection) async throws -> [(positions: [Int64], hashes: [[UInt8]])] {
        try await admin.query(
            "SELECT positions::text, hashes FROM chain_runs ORDER BY first_position"
        ).map { row in
            let text = try row.decode(String.self, 0).dropFirst().dropLast()
            let hashes = try row.decode([UInt8].self, 1)
            return (
                text.split(separator: ",").compactMap { Int64($0) },
                stride(from: 0, to: hashes.count, by: 32).map { Array(hashes[$0..<($0 + 32)]) }
            )
        }
    }

    /// chain(p) = SHA-256(chain(previous) || hash(p)), from 32 zero bytes.
    static func chain(_ events: [(position: Int64, hash: [UInt8])]) -> [[UInt8]] {
        var link = [UInt8](repeating: 0, count: 32)
        return events.map { event in
            var hasher = SHA256()
            hasher.update(data: link)
            hasher.update(data: event.hash)
            link = Array(hasher.finalize())
            return link
        }
    }

    @Test(
        "seals of uneven sizes across gaps: every chain hash is the fold of the events' hashes, a run ends with its group or its seal"
    )
    func unevenSeals() async throws {
        let db = try await TestDatabase.make()
        let admin = try await db.admin()
        var appended = 0
        var expectedRuns = 0
        for (seal, size) in [1, 15, 1, 16, 17, 40, 3, 33, 2].enumerated() {
            for k in 0..<size {
                // Holes in the positions, as rolled-back appends leave them.
                if (seal + k) % 7 == 3 { _ = try await admin.query("SELECT nextval('events_position_seq')") }
                _ = try await db.store.append([event("s-\(k % 3)", "E", #"{"seal":\#(seal),"k":\#(k)}"#)])
            }
            let last = try await events(admin).last?.position ?? 0
            // Readers, and so seals, stop below the oldest transaction open in the cluster (other
            // suites' too): wait until the whole batch is readable, so that one seal takes it.
            #expect(try await eventually(timeout: .seconds(120)) { try await db.store.gapFreeHead() >= last })
            let head = try await db.store.seal()
            #expect(head.position == last)
            // The seal's leaves [appended, appended + size) span these groups of 16: one run each.
            expectedRuns += (appended + size - 1) / 16 - appended / 16 + 1
            appended += size

            let log = try await events(admin)
            let chain = Self.chain(log)
            #expect(head.hash == chain.last?.hexString)
            let stored = try await runs(admin)
            #expect(stored.count == expectedRuns, "after seal \(seal)")
            // The runs hold every sealed position once, in order, with its chain hash.
            #expect(stored.flatMap(\.positions) == log.map(\.position))
            #expect(stored.flatMap(\.hashes) == chain)
            // No run crosses a group boundary.
            var leaf = 0
            for run in stored {
                #expect(leaf / 16 == (leaf + run.positions.count - 1) / 16, "run from leaf \(leaf)")
                leaf += run.positions.count
            }
        }
        let log = try await events(admin)
        let chain = Self.chain(log)
        #expect(log.count == appended)
        #expect(try await db.store.treeHead().treeSize == Int64(appended))
        // Each point of the chain as the reports read it; a hole has none.
        for (index, event) in log.enumerated() {
            #expect(try await db.store.chainPoint(at: event.position)?.hash == chain[index].hexString)
        }
        let holes = Set(1...log[log.count - 1].position).subtracting(log.map(\.position))
        #expect(!holes.isEmpty)
        for hole in holes { #expect(try await db.store.chainPoint(at: hole) == nil) }
        #expect(try await db.store.chainPoint(at: log[log.count - 1].position + 1) == nil)
        #expect(try await db.store.verify().ok)
    }

    @Test("a chain hash altered inside a run is reported at its event's position")
    func alteredRun() async throws {
        let db = try await TestDatabase.make()
        for index in 1...20 { _ = try await db.store.append([event("s", "E", #"{"i":\#(index)}"#)]) }
        #expect(try await db.verify(reaching: 20).ok)
        let admin = try await db.admin()
        try await admin.query("SET session_replication_role = replica")
        // Position 7 is the seventh hash of the first run (leaves 0 to 15).
        try await admin.query(
            "UPDATE chain_runs SET hashes = overlay(hashes PLACING sha256('forged') FROM 6 * 32 + 1) WHERE first_position = 1"
        )
        let report = try await db.store.verify()
        #expect(!report.ok)
        #expect(report.firstBadPosition == 7)
    }
}
