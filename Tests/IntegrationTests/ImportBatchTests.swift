import EventStore
import Foundation
import GrantDomain
import Ledger
import PersonalDataKeys
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// `grantledger import` applies commands in batches (one transaction, a savepoint per
/// command). These tests hold it to what applying the same lines one by one answers.
@Suite("Import in batches")
struct ImportBatchTests {
    /// The sample programme with hostile lines mixed in at seeded places: replays, a reused
    /// command id with another payload, rule violations, unknown references, broken JSON.
    static func mixedLines(seed: UInt64) throws -> [String] {
        let sample = try String(
            contentsOf: CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl"), encoding: .utf8
        ).split(separator: "\n").map(String.init)
        var generator = SeededGenerator(state: seed)
        var lines = sample
        let hostile = [
            sample[1],  // a replay of an earlier line
            #"{"command": "registerOrganisation", "commandId": "sample-0002", "organisationId": "X-1", "name": "Other", "country": "KZ", "regionCode": "KZ-43", "settlement": "rural", "registrationStatus": "unregistered", "leadershipGender": "women", "kind": "informalGroup"}"#,
            #"{"command": "disburseGrant", "commandId": "over-1", "grantId": "GR-01", "amount": "999999999", "paidOn": "2025-07-01"}"#,
            #"{"command": "disburseGrant", "commandId": "ghost-1", "grantId": "GR-404", "amount": "1", "paidOn": "2025-07-01"}"#,
            #"{"command": "disburseGrant", "grantId": "GR-01", "amount": "1", "paidOn": "2025-07-01""#,
            "",
            #"{"command": "closeCall", "commandId": "close-early", "callId": "CSOLA-2025-LA", "closedOn": "2025-01-01"}"#,
        ]
        for line in hostile {
            lines.insert(line, at: Int.random(in: 1...lines.count, using: &generator))
        }
        return lines
    }

    /// The log's content in order, without what differs between two databases (event ids,
    /// recording times, hashes, and the integrity fields a sign-off records).
    /// Each event as text, its encrypted texts opened (each database encrypts with keys and
    /// nonces of its own, docs/domain.md §15).
    static func content(_ db: TestDatabase) async throws -> [String] {
        try await db.pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT position, stream_id, stream_version, type, (data - 'asOf')::text, metadata::text
                FROM events ORDER BY position
                """
            ).map { row in (0..<6).map { row.text($0) ?? "" } }
            let opened = try await StoreSession(connection: connection).openedData(rows.map { ($0[3], $0[4]) })
            return zip(rows, opened).map { row, data in
                var row = row
                row[4] = data
                return row.joined(separator: "|")
            }
        }
    }

    @Test(
        "the same counts, rejections and log as one command at a time, for hostile lines anywhere",
        arguments: [1, 2, 3])
    func sameAsOneByOne(seed: UInt64) async throws {
        let lines = try Self.mixedLines(seed: seed)
        // One at a time, through the handler.
        let reference = try await TestDatabase.make()
        let handler = CommandHandler(
            pool: reference.pool, signOffFigures: LogFigures.signOffProvider(pool: reference.pool))
        var expected: (accepted: Int, replayed: Int, rejected: [[String: String]]) = (0, 0, [])
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                let outcome = try await handler.handle(try CommandRequest.parse(line), actor: "cli-test")
                if outcome.replayed { expected.replayed += 1 } else { expected.accepted += 1 }
            } catch let error as DomainError {
                expected.rejected.append([
                    "line": String(index + 1), "code": error.code.rawValue, "message": error.message,
                ])
            }
        }
        // In batches, through the CLI.
        let batched = try await TestDatabase.make()
        let cli = CLI(databaseURL: batched.appURL)
        let result = try await cli.run(["import", "-", "--format", "json"], stdin: lines.joined(separator: "\n"))
        #expect(result.status != 0, "hostile lines are rejected")
        let summary = try cli.json(result)
        #expect(summary["accepted"] as? Int == expected.accepted)
        #expect(summary["alreadyApplied"] as? Int == expected.replayed)
        let rejections = (summary["rejections"] as? [[String: Any]] ?? []).map { entry -> [String: String] in
            let error = entry["error"] as? [String: Any] ?? [:]
            return [
                "line": String(entry["line"] as? Int ?? 0), "code": error["code"] as? String ?? "",
                "message": error["message"] as? String ?? "",
            ]
        }
        #expect(rejections == expected.rejected)
        #expect(expected.rejected.count >= 5)
        let (got, want) = (try await Self.content(batched), try await Self.content(reference))
        #expect(got.count == want.count)
        let firstDifference = zip(got, want).first { $0.0 != $0.1 }
        #expect(firstDifference == nil, "\(String(describing: firstDifference))")
        // Running it again records nothing new: every accepted line is a replay now, except
        // the one without a commandId.
        let again = try await cli.run(["import", "-", "--format", "json"], stdin: lines.joined(separator: "\n"))
        #expect(try cli.json(again)["accepted"] as? Int ?? -1 <= 1)
    }

    @Test("--stop-on-error stops at the first rejection; the lines before it are recorded, none after")
    func stopOnError() async throws {
        let sample = try String(
            contentsOf: CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl"), encoding: .utf8
        ).split(separator: "\n").map(String.init)
        var lines = Array(sample.prefix(150))
        lines.insert(
            #"{"command": "disburseGrant", "commandId": "ghost-1", "grantId": "GR-404", "amount": "1", "paidOn": "2025-07-01"}"#,
            at: 130)
        let db = try await TestDatabase.make()
        let cli = CLI(databaseURL: db.appURL)
        let result = try await cli.run(
            ["import", "-", "--stop-on-error", "--format", "json"], stdin: lines.joined(separator: "\n"))
        #expect(result.status == 11)
        let summary = try cli.json(result)
        #expect(summary["accepted"] as? Int == 130)
        #expect(summary["rejected"] as? Int == 1)
        let events = try await db.committedEvents()
        let metadata = try await db.pool.withConnection { connection in
            try await connection.query("SELECT max(metadata->>'commandId') FROM events")[0].text(0)
        }
        #expect(!events.isEmpty)
        #expect(metadata == "sample-0130")
    }

    @Test("while a batch holds the positions lock, no other writer takes a position; after it, they all follow")
    func otherWritersWaitForTheBatch() async throws {
        let db = try await TestDatabase.make()
        let batch = try await PostgresConnection.connect(db.appURL)
        try await batch.query("BEGIN")
        try await StoreSession(connection: batch).beginBatch()
        let first = try await StoreSession(connection: batch).append(
            [event("batch-a")], expected: [:], commandID: nil, payloadDigest: nil)
        // Another writer now waits for the lock rather than take a position in between.
        let other = try await PostgresConnection.connect(db.appURL)
        try await other.query("SET lock_timeout = '300ms'")
        await #expect(throws: (any Error).self) {
            _ = try await StoreSession(connection: other).append(
                [event("other")], expected: [:], commandID: nil, payloadDigest: nil)
        }
        let second = try await StoreSession(connection: batch).append(
            [event("batch-b")], expected: [:], commandID: nil, payloadDigest: nil)
        try await batch.query("COMMIT")
        let after = try await db.store.append([event("other")])
        let batchPositions = (first.events + second.events).map(\.position)
        #expect(batchPositions == batchPositions.sorted())
        #expect(after.events.allSatisfy { position in batchPositions.allSatisfy { $0 < position.position } })
    }
}

@Suite("Import in batches: a lost race")
struct ImportBatchRaceTests {
    @Test("a deadlock with a writer waiting for the positions lock ends the batch early, never wrongly")
    func deadlockEndsTheBatch() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let handler = CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
        let register = try CommandRequest.parse(
            #"{"command": "registerOrganisation", "commandId": "race-1", "organisationId": "RACE-1", "name": "Race group", "country": "KZ", "regionCode": "KZ-43", "settlement": "rural", "registrationStatus": "unregistered", "leadershipGender": "women", "kind": "informalGroup"}"#
        )
        let disburse = try CommandRequest.parse(
            #"{"command": "disburseGrant", "commandId": "race-2", "grantId": "GR-01", "amount": "1000", "paidOn": "2025-07-01"}"#
        )
        // Another writer holds the grant's lock and will append: it waits for the positions
        // lock the batch holds, while the batch waits for the grant's lock.
        let other = try await PostgresConnection.connect(db.appURL)
        try await other.query("BEGIN")
        try await other.query("SELECT pg_advisory_xact_lock(hashtextextended('grant-GR-01', 0))")
        let batch = Task { try await handler.handleBatch([register, disburse], actor: "race") }
        // The batch holds the positions lock once it waits for the grant's lock: wait for that.
        let waiting = try await eventually {
            try await db.pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT count(*) FROM pg_locks
                    WHERE locktype = 'advisory' AND NOT granted
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """)[0].decode(Int.self, 0) == 1
            }
        }
        #expect(waiting, "the batch never waited for the grant's lock")
        // Now the other writer's append waits for the positions lock: a deadlock, for certain.
        var otherWasVictim = false
        do {
            _ = try await StoreSession(connection: other).append(
                [event("race-other")], expected: [:], commandID: nil, payloadDigest: nil)
        } catch EventStoreError.database(let error) where error.sqlState == SQLState.deadlockDetected {
            otherWasVictim = true
        }
        try await other.query(otherWasVictim ? "ROLLBACK" : "COMMIT")
        let results = try await batch.value
        // PostgreSQL broke the deadlock on one side: the other writer (the batch then went on
        // with both commands), or the batch (it ended after the first, and the other appended).
        #expect(results.count == (otherWasVictim ? 2 : 1), "otherWasVictim \(otherWasVictim), \(results.count)")
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "no command is rejected for a lost race")
        if results.count == 1 {
            _ = try await handler.handle(disburse, actor: "race")
        }
        let events = try await db.committedEvents()
        #expect(events.filter { $0.streamID == "organisation-RACE-1" }.count == 1)
        let tranches = try await db.pool.withConnection { connection in
            try await connection.query("SELECT count(*) FROM events WHERE metadata->>'commandId' = 'race-2'")[0]
                .decode(Int.self, 0)
        }
        #expect(tranches == 1)
    }
}
