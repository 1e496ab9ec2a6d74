import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

/// Group commit of concurrent `EventStore.append` calls (`AppendGroup`): each caller gets the
/// answer a serial append would, and concurrent appends share transactions.
@Suite("Appends in groups")
struct AppendGroupTests {
    /// Distinct writing transactions among the events of `streams` (prefix match).
    func transactions(_ db: TestDatabase, streamsLike pattern: String) async throws -> Int {
        let admin = try await db.admin()
        let rows = try await admin.query(
            "SELECT count(DISTINCT transaction_id)::bigint FROM events WHERE stream_id LIKE \(pattern)")
        return Int(try rows[0].decode(Int64.self, 0))
    }

    /// 8 writers, 40 appends of two events each, on `store`; checks every answer and returns
    /// the number of appends.
    func appendConcurrently(_ store: EventStore, prefix: String) async throws -> Int {
        let results = try await withThrowingTaskGroup(of: [(String, AppendResult)].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var mine: [(String, AppendResult)] = []
                    for index in 0..<40 {
                        let stream = "\(prefix)-\(writer)-\(index)"
                        mine.append(
                            (
                                stream,
                                try await store.append(
                                    [event(stream, "First", #"{"n":1}"#), event(stream, "Second", #"{"n":2}"#)],
                                    expected: [stream: .noStream])
                            ))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        for (stream, result) in results {
            #expect(result.events.map(\.streamID) == [stream, stream])
            #expect(result.events.map(\.streamVersion) == [1, 2])
            #expect(result.events.map(\.type) == ["First", "Second"])
            #expect(result.events[1].position == result.events[0].position + 1)
            #expect(result.events.allSatisfy { $0.hash?.count == 32 })
            #expect(!result.replayed)
        }
        // What each caller was told is what was stored.
        for (stream, result) in results {
            let stored = try await store.readStream(stream)
            #expect(stored.map(\.position) == result.events.map(\.position))
            #expect(stored.map(\.hash) == result.events.map(\.hash))
            #expect(stored.map(\.recordedAt) == result.events.map(\.recordedAt))
        }
        let positions = results.flatMap { $0.1.events.map(\.position) }
        #expect(Set(positions).count == positions.count)
        return results.count
    }

    @Test("concurrent appends share transactions, and each caller gets its own events")
    func shareTransactions() async throws {
        let db = try await TestDatabase.make()
        let appends = try await appendConcurrently(db.store, prefix: "grouped")
        #expect(appends == 320)
        let stored = try await db.committedEvents().filter { $0.streamID.hasPrefix("grouped-") }
        #expect(stored.count == 640)
        let grouped = try await transactions(db, streamsLike: "grouped-%")
        #expect(grouped < appends, "groups of several appends: \(grouped) transactions for \(appends) appends")

        // Without group commit, each append is a transaction of its own.
        let alone = try await appendConcurrently(EventStore(pool: db.pool, groupCommit: false), prefix: "alone")
        #expect(try await transactions(db, streamsLike: "alone-%") == alone)

        // Every stored hash is the one its event's contents give.
        #expect(try await db.store.verify().ok)
    }

    @Test("a refused append leaves the others of its group recorded and gets its own refusal")
    func refusalInAGroup() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        enum Outcome: Sendable {
            case recorded(String)
            case refused(String)
            case failed(String)
        }
        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    // Half race for the first version of one stream; half write their own.
                    let stream = writer.isMultiple(of: 2) ? "contested" : "own-\(writer)"
                    do {
                        _ = try await store.append([event(stream, "W\(writer)")], expected: [stream: .noStream])
                        return .recorded(stream)
                    } catch EventStoreError.wrongExpectedVersion(let message) {
                        return .refused(message)
                    } catch {
                        return .failed("\(error)")
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var recorded: [String] = []
        var refusals: [String] = []
        for outcome in outcomes {
            switch outcome {
            case .recorded(let stream): recorded.append(stream)
            case .refused(let message): refusals.append(message)
            case .failed(let error): Issue.record("unexpected error: \(error)")
            }
        }
        #expect(recorded.filter { $0 == "contested" }.count == 1)
        #expect(recorded.filter { $0.hasPrefix("own-") }.count == 8)
        #expect(refusals.count == 7)
        #expect(try await store.readStream("contested").count == 1)
    }

    @Test("one command id in concurrent appends: recorded once, the others replay it")
    func commandIDsInAGroup() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await store.append([event("once")], commandID: "command-1", payloadDigest: "digest-1")
                }
            }
            for writer in 0..<6 {
                group.addTask { try await store.append([event("other-\(writer)")]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let once = results.filter { $0.events.first?.streamID == "once" }
        #expect(once.count == 6)
        #expect(once.filter { !$0.replayed }.count == 1)
        #expect(Set(once.map { $0.events.map(\.position) }).count == 1)
        #expect(try await store.readStream("once").count == 1)
        #expect(results.filter { $0.events.first?.streamID.hasPrefix("other-") == true }.count == 6)

        await #expect(throws: EventStoreError.self) {
            try await store.append([event("once")], commandID: "command-1", payloadDigest: "digest-2")
        }
        #expect(try await store.readStream("once").count == 1)
    }

    @Test("backends ended while grouped appends wait: each caller's answer matches the log, nothing twice")
    func backendsEnded() async throws {
        let db = try await TestDatabase.make()
        let store = db.store
        let admin = try await db.admin()
        // Every append waits for the positions lock while the admin holds it.
        try await admin.query("SELECT pg_advisory_lock(7263541)")
        let appends = Task {
            try await withThrowingTaskGroup(of: (String, PostgresError.Kind?).self) { group in
                for writer in 0..<6 {
                    group.addTask {
                        let stream = "ended-\(writer)"
                        do {
                            _ = try await store.append([event(stream)], expected: [stream: .noStream])
                            return (stream, nil)
                        } catch EventStoreError.database(let error) {
                            return (stream, error.kind)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        let waiting: PostgresQuery = """
            SELECT pid, query LIKE '%append_run(%' FROM pg_stat_activity
            WHERE datname = \(db.name) AND wait_event_type = 'Lock' AND query LIKE '%append_%'
            """
        // End the waiting backends, pass after pass (appends alone, then a group formed behind
        // them), until none waits; then let whatever is left through. The first appends may
        // take long to reach PostgreSQL on a loaded machine; the ones after them follow at once.
        var ended = 0
        var endedRuns = 0
        for pass in 0..<4 {
            let patience: Duration = pass == 0 ? .seconds(60) : .seconds(3)
            guard try await eventually(timeout: patience, { try await !admin.query(waiting).isEmpty }) else { break }
            try await Task.sleep(for: .milliseconds(200))
            for row in try await admin.query(waiting) {
                let pid = try row.decode(Int.self, 0)
                if try await admin.query("SELECT pg_terminate_backend(\(pid), 5000)")[0].decode(Bool.self, 0) {
                    ended += 1
                    if try row.decode(Bool.self, 1) { endedRuns += 1 }
                }
            }
        }
        try await admin.query("SELECT pg_advisory_unlock(7263541)")
        let outcomes = try await appends.value
        // Two committers send at most two appends alone and then one group of the rest: an
        // append told its outcome is unknown is not sent again.
        #expect((1...3).contains(ended), "\(ended) statements ended")
        #expect(endedRuns >= 1, "a group was ended in the middle of its run")
        // An append alone whose connection broke cannot know whether it was recorded: it says
        // so. A group's statement ended before its COMMIT recorded nothing, and its appends
        // go again alone (which the next pass may end in turn).
        #expect(
            outcomes.filter { $0.1 != nil }.count >= ended - endedRuns,
            "\(ended - endedRuns) appends alone were ended")
        #expect(outcomes.allSatisfy { $0.1 == nil || $0.1 == .commitOutcomeUnknown || $0.1 == .connectionLost })
        let stored = try await db.committedEvents().filter { $0.streamID.hasPrefix("ended-") }
        for (stream, failure) in outcomes {
            #expect(stored.filter { $0.streamID == stream }.count == (failure == nil ? 1 : 0), "\(stream)")
        }
        // The store still appends once the lock is free.
        #expect(try await store.append([event("after")]).events.count == 1)
    }
}
