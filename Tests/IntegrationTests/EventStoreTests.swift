import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

func event(_ stream: String, _ type: String = "Happened", _ data: String = "{}") -> NewEvent {
    NewEvent(streamID: stream, type: type, data: data, metadata: #"{"actor":"test"}"#)
}

@Suite("Event store")
struct EventStoreTests {
    @Test("append and read a stream with expected versions")
    func appendAndRead() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let first = try await store.append([event("s-1"), event("s-1")], expected: ["s-1": .noStream])
        #expect(first.events.map(\.streamVersion) == [1, 2])
        #expect(first.events[1].position == first.events[0].position + 1)
        #expect(!first.replayed)
        await #expect(throws: EventStoreError.self) {
            try await store.append([event("s-1")], expected: ["s-1": .noStream])
        }
        await #expect(throws: EventStoreError.self) {
            try await store.append([event("s-1")], expected: ["s-1": .exact(1)])
        }
        _ = try await store.append([event("s-1", "Third", #"{"n":3}"#)], expected: ["s-1": .exact(2)])
        let stream = try await store.readStream("s-1")
        #expect(stream.map(\.streamVersion) == [1, 2, 3])
        #expect(stream[2].type == "Third")
        #expect(stream[2].data == #"{"n": 3}"#)
    }

    @Test("a guard stream named in the expectations is checked without being written")
    func guardStream() async throws {
        let db = try await TestDatabase.make()
        _ = try await db.store.append([event("guard")])
        await #expect(throws: EventStoreError.self) {
            try await db.store.append([event("other")], expected: ["guard": .exact(0)])
        }
        let ok = try await db.store.append([event("other")], expected: ["guard": .exact(1)])
        #expect(ok.events.count == 1)
        #expect(try await db.store.readStream("guard").count == 1)
    }

    @Test("concurrent writers to one stream: one winner per version, no gaps, no duplicates")
    func concurrentAppends() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let winners = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var won = 0
                    for _ in 0..<15 {
                        let version = Int64(try await store.readStream("hot").count)
                        do {
                            _ = try await store.append(
                                [event("hot", "W\(writer)")], expected: ["hot": .exact(version)])
                            won += 1
                        } catch EventStoreError.wrongExpectedVersion {
                            // lost the race for this version
                        }
                    }
                    return won
                }
            }
            return try await group.reduce(0, +)
        }
        let stream = try await store.readStream("hot")
        #expect(stream.count == winners)
        #expect(stream.map(\.streamVersion) == Array(1...Int64(winners)))
        #expect(winners >= 15)
    }

    @Test("appends that accept any version all land, with contiguous versions")
    func anyVersionAppends() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<10 { _ = try await store.append([event("shared")]) }
                }
            }
            try await group.waitForAll()
        }
        let stream = try await store.readStream("shared")
        #expect(stream.map(\.streamVersion) == Array(1...80))
    }

    @Test("re-appending with a used command id returns the first result and writes nothing")
    func idempotentAppend() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let first = try await store.append(
            [event("a"), event("b")], commandID: "cmd-1", payloadDigest: "digest-1")
        let again = try await store.append(
            [event("a"), event("b")], commandID: "cmd-1", payloadDigest: "digest-1")
        #expect(again.replayed)
        #expect(again.events.map(\.position) == first.events.map(\.position))
        #expect(again.events.map(\.eventID) == first.events.map(\.eventID))
        #expect(try await db.committedEvents().map(\.position) == first.events.map(\.position))
        await #expect(throws: EventStoreError.self) {
            try await store.append([event("a")], commandID: "cmd-1", payloadDigest: "other")
        }
        #expect(try await store.readStream("a").count == 1)
    }

    @Test("concurrent appends with the same command id record it once")
    func concurrentIdempotentAppend() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await store.append([event("once")], commandID: "same", payloadDigest: "d")
                }
            }
            return try await group.reduce(into: [AppendResult]()) { $0.append($1) }
        }
        #expect(Set(results.map { $0.events[0].position }).count == 1)
        #expect(results.filter { !$0.replayed }.count == 1)
        #expect(try await store.readStream("once").count == 1)
    }

    @Test("a reader never skips an event that commits after a later one")
    func reorderedCommit() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        _ = try await store.append([event("warmup")])
        #expect(try await db.readAll(after: 0, count: 1).count == 1)
        let early = try await PostgresConnection.connect(db.appURL)
        try await early.query("BEGIN")
        let held = try await early.query(
            """
            SELECT position FROM append_events(NULL, '', '{}'::jsonb,
              '[{"streamId":"slow","eventId":"\(unescaped: UUID().uuidString.lowercased())","type":"Slow","data":{},"metadata":{}}]'::jsonb)
            """)
        let slowPosition = try held[0].decode(Int64.self, 0)
        let fast = try await store.append([event("fast")])
        #expect(fast.events[0].position == slowPosition + 1)

        // The fast event is committed, but the reader must not move past the open one.
        let whileOpen = try await store.readAll(after: 0)
        #expect(!whileOpen.contains { $0.streamID == "fast" || $0.streamID == "slow" })
        let checkpoint = whileOpen.last?.position ?? 0

        try await early.query("COMMIT")
        let afterCommit = try await db.readAll(after: checkpoint, count: 2)
        #expect(afterCommit.map(\.position) == [slowPosition, slowPosition + 1])
        #expect(afterCommit.map(\.streamID) == ["slow", "fast"])
    }

    @Test("an append wakes listeners; only the notification's own transaction skips the wait for its flush")
    func notificationAfterCommit() async throws {
        let db = try await TestDatabase.make()
        let listener = try await PostgresConnection.connect(db.appURL)
        try await listener.listen(EventStore.notificationChannel)
        _ = try await db.store.append([event("woken")])
        #expect(try await listener.waitForNotifications(timeout: 10).count >= 1)

        // The setting holds for the notifying transaction and ends with it: the session, and
        // so every append after it on this connection, still waits for its flush.
        let app = try await PostgresConnection.connect(db.appURL)
        let results = try await app.pipeline([EventStore.notifyQuery, "SHOW synchronous_commit"])
        #expect(try results[0].get()[0].decode(String.self, 1) == "off")
        #expect(try results[1].get()[0].decode(String.self, 0) == "on")
        #expect(try await listener.waitForNotifications(timeout: 10).count >= 1)
        _ = try await db.store.append([event("woken")])
        #expect(try await app.query("SHOW synchronous_commit")[0].decode(String.self, 0) == "on")
    }

    @Test("the log refuses UPDATE, DELETE and TRUNCATE")
    func appendOnly() async throws {
        let db = try await TestDatabase.make()
        _ = try await db.store.append([event("x")], commandID: "c-x", payloadDigest: "d")
        _ = try await db.verify(reaching: 1)
        let app = try await PostgresConnection.connect(db.appURL)
        let owner = try await db.owner()
        for statement in [
            "UPDATE events SET type = 'Y'", "DELETE FROM events", "TRUNCATE events",
            // The chain's rows are in chain_runs since sql/033; event_chain keeps older ones.
            "UPDATE chain_runs SET hashes = ''", "DELETE FROM chain_runs", "TRUNCATE chain_runs",
            "TRUNCATE event_chain", "DELETE FROM commands",
        ] {
            // The application role lacks the privilege altogether.
            await #expect(throws: PostgresError.self) { try await app.query(PostgresQuery(unsafeSQL: statement)) }
            // The owner has it, and the triggers refuse.
            do {
                try await owner.query(PostgresQuery(unsafeSQL: statement))
                Issue.record("\(statement) was not refused")
            } catch let error as PostgresError {
                #expect(error.sqlState == "GL005", "\(statement): \(error)")
            }
        }
        await #expect(throws: PostgresError.self) {
            try await app.query(
                "INSERT INTO events SELECT * FROM events")
        }
        #expect(try await db.store.readStream("x").count == 1)
    }
}
