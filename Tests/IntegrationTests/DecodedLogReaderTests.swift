import EventStore
import Foundation
import GrantDomain
import NIOConcurrencyHelpers
import PersonalDataKeys
import PostgresClient
import Testing

@testable import Projections
@testable import TestSupport

/// The log read in ranges of positions, two at once: every event once and in order, and a
/// hole in the positions skipped with one query instead of one per range.
@Suite("The log read in ranges of positions")
struct DecodedLogReaderTests {
    @Test("every event once and in order, across a hole of 100,000 positions, in few reads")
    func rangesAndHoles() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let beforeHole = try await db.committedEvents()
        let lastBefore = try #require(beforeHole.last?.position)
        // A hole: positions nobody will use, as after many rolled-back appends.
        _ = try await db.owner().query("SELECT setval('events_position_seq', \(lastBefore + 100_000))")
        let cli = CLI(databaseURL: db.appURL)
        for command in [
            ["close-grant", "--grant-id", "GR-01", "--closed-on", "2026-11-30", "--command-id", "close-after-hole"],
            ["close-grant", "--grant-id", "GR-02", "--closed-on", "2026-11-30", "--command-id", "close-2-after-hole"],
        ] {
            let result = try await cli.run(command)
            #expect(result.status == 0, "\(command[0]): \(result.stderr)")
        }
        let all = try await db.committedEvents()
        #expect(all.count > beforeHole.count)
        #expect(try #require(all.last?.position) > lastBefore + 100_000)
        #expect(try await db.everyEventReadable())
        let head = try await db.store.gapFreeHead()

        for size in [7, 1_000, 20_000] {
            let ranges = NIOLockedValueBox<[(Int64, Int64)]>([])
            var reader = DecodedLogReader(store: db.store, batchSize: size)
            reader.onRead = { after, upTo in ranges.withLockedValue { $0.append((after, upTo)) } }
            var positions: [Int64] = []
            var batches = 0
            let reached = try await reader.forEachBatch(upTo: head) { batch in
                batches += 1
                #expect(batch.count <= size)
                positions += batch.map(\.position)
            }
            #expect(positions == all.map(\.position), "batches of \(size)")
            #expect(reached == head)
            // The ranges before the hole, the one or two into it, a range for the events after it.
            let read = ranges.withLockedValue { $0 }
            let expected = Int((lastBefore + Int64(size) - 1) / Int64(size)) + 4
            #expect(read.count <= expected, "batches of \(size): \(read.count) ranges read")
            // Ranges follow each other without overlapping.
            for (a, b) in zip(read, read.dropFirst()) { #expect(a.1 <= b.0) }
        }

        // Part of the log, from a position inside it.
        let middle = beforeHole[beforeHole.count / 2].position
        var tail: [Int64] = []
        _ = try await DecodedLogReader(store: db.store, batchSize: 5).forEachBatch(after: middle, upTo: head) {
            tail += $0.map(\.position)
        }
        #expect(tail == all.map(\.position).filter { $0 > middle })
        // Nothing after the head.
        var none = 0
        let unmoved = try await DecodedLogReader(store: db.store).forEachBatch(after: head, upTo: head) {
            none += $0.count
        }
        #expect(none == 0 && unmoved == head)
    }

    @Test("a fold's read of five columns gives what the full read gives of them, in the same ranges")
    func entriesMatchTheFullRead() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let head = try #require(try await db.committedEvents().last?.position)
        for (after, limit, cutoff) in [
            (Int64(0), 1_000, Optional<Int64>.none), (17, 40, head - 100), (head - 3, 10, nil),
        ] {
            let full = try await db.store.readAll(after: after, limit: limit, upTo: cutoff)
            let entries = try await db.store.readEntryRows(after: after, limit: limit, upTo: cutoff).entries()
            #expect(!full.isEmpty)
            #expect(
                entries == full.map(LogEntry.init),
                "after \(after), limit \(limit), up to \(cutoff.map(String.init) ?? "-")")
        }
        // The data and the metadata are not the same text anywhere, so a swap of the two fails.
        let entries = try await db.store.readEntryRows(after: 0, limit: 1_000).entries()
        #expect(entries.allSatisfy { $0.data != $0.metadata && $0.metadata.contains("commandId") })
    }

    @Test(
        "events decoded from the result's bytes are those decoded from its texts, passed over and quarantined ones alike"
    )
    func bytesDecodeAsTexts() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        // What the application role could append: known types whose data fits no event, hostile
        // texts, and types this version does not know.
        let hostile = [
            ("grant-X", "GrantAwarded", #"{"grantId": 7, "amount": "lots"}"#),
            ("grant-Y", "GrantClosed", #"{"grantId": "G\u0001\ud83d\ude00\u202e"}"#),
            ("grant-Z", "GrantClosed", "[1, 2]"),
            ("organisation-Q", "OrganisationRegistered", #"{"name": "\u0001"}"#),
            ("noted-1", "Noted", #"{"x": "\u0001"}"#),
            ("noted-2", "GrantAwarded ", "{}"),
            ("noted-3", "grantawarded", "{}"),
        ].map { NewEvent(streamID: $0.0, type: $0.1, data: $0.2, metadata: #"{"actor": "\u202e"}"#) }
        for event in hostile { _ = try await db.store.append([event]) }
        // Readers see an event once no older transaction of the cluster is open.
        #expect(try await db.everyEventReadable())
        let head = try await db.store.gapFreeHead()
        let rows = try await db.store.readEntryRows(after: 0, limit: 100_000, upTo: head)
        let entries = try rows.entries()
        #expect(entries.count == rows.count && rows.count > hostile.count)
        let fromBytes = try ProjectedEvent.decoding(rows, 0..<rows.count)
        let fromTexts = ProjectedEvent.decoding(entries[...])
        #expect(fromBytes.events.count == fromTexts.events.count)
        for (a, b) in zip(fromBytes.events, fromTexts.events) {
            #expect(a.position == b.position && a.recordedAt == b.recordedAt)
            #expect(a.event == b.event && a.metadata == b.metadata)
        }
        #expect(fromBytes.quarantined == fromTexts.quarantined)
        // Three of the hostile events are quarantined; the unknown types are passed over.
        #expect(fromTexts.quarantined.count >= 3)
        #expect(
            fromTexts.events.count + fromTexts.quarantined.count == rows.count - 3,
            "\(fromTexts.events.count) events, \(fromTexts.quarantined.count) quarantined, \(rows.count) rows")
        // With sealed texts opened, as rebuilds and exports read them: the reader, which
        // finds each event's sealed texts in its bytes, against the texts opened and decoded.
        let located = entries.map { PersonalData.locate(type: $0.type, data: $0.data) }
        #expect(located.compactMap { $0 }.count > 10)
        let keys = try await db.store.keys(for: located)
        let openedTexts = ProjectedEvent.decoding(
            PersonalDataCipher.opened(entries[...], located: located[...], keys: keys)[...])
        var openedBytes: [ProjectedEvent] = []
        var quarantined: [QuarantinedEvent] = []
        try await DecodedLogReader(store: db.store, batchSize: 1_500).forEachBatch(
            upTo: head, quarantined: &quarantined
        ) { openedBytes += $0 }
        #expect(openedBytes.count == openedTexts.events.count)
        for (a, b) in zip(openedBytes, openedTexts.events) {
            #expect(a.position == b.position && a.recordedAt == b.recordedAt)
            #expect(a.event == b.event && a.metadata == b.metadata)
        }
        #expect(quarantined == openedTexts.quarantined)
        // Opening changed what the events hold: names, not placeholders.
        #expect(zip(openedBytes, fromBytes.events).contains { $0.event != $1.event })
        // In part of a batch too.
        let part = try ProjectedEvent.decoding(rows, 5..<40)
        #expect(
            part.events.map(\.position)
                == fromTexts.events.map(\.position).filter { (entries[5].position...entries[39].position).contains($0) }
        )
    }

    @Test("the log's reads, prepared, stay index scans under a generic plan")
    func preparedReadsUseTheIndex() async throws {
        let db = try await TestDatabase.make()
        _ = try await db.store.append(
            (1...2_000).map { NewEvent(streamID: "s-\($0)", type: "Noted", data: "{}", metadata: "{}") })
        try await db.owner().query("ANALYZE events")
        #expect(try await db.everyEventReadable())
        /// The scans of `events` and its primary key made by eight reads on one session: a
        /// table's count is of its sequential scans, an index's of the scans through it.
        /// `entries`: the folds' read of five columns (`readEntryRows`), else `readAll`.
        func scans(_ settings: [PostgresQuery], entries: Bool = false) async throws -> (
            table: Int64, index: Int64, read: Int
        ) {
            let app = try await PostgresConnection.connect(db.appURL)
            for setting in settings { try await app.query(setting) }
            let session = StoreSession(connection: app)
            try await app.query("BEGIN")
            var read = 0
            for round in 0..<8 {
                let after = Int64(round * 100)
                read +=
                    entries
                    ? try await session.readEntryRows(after: after, limit: 50).count
                    : try await session.readAll(after: after, limit: 50).count
            }
            let counted = try await app.query(
                "SELECT pg_stat_get_xact_numscans('events'::regclass), pg_stat_get_xact_numscans('events_pkey'::regclass)"
            )[0].decode((Int64, Int64).self)
            try await app.query("COMMIT")
            // The reads went through a statement prepared on the session.
            let prepared = try await app.query(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM events%ORDER BY position LIMIT%'"
            )[0].decode(Int64.self, 0)
            #expect(prepared == 1)
            return (counted.0, counted.1, read)
        }
        for entries in [false, true] {
            let generic = try await scans(["SET plan_cache_mode = force_generic_plan"], entries: entries)
            #expect(generic.read == 8 * 50)
            #expect(generic.table == 0 && generic.index >= 8, "entries: \(entries), \(generic)")
        }
        // The count can fail: with index scans off, the same reads go through the table.
        let whole = try await scans([
            "SET plan_cache_mode = force_generic_plan", "SET enable_indexscan = off", "SET enable_bitmapscan = off",
        ])
        #expect(whole.table >= 8 && whole.read == 8 * 50, "\(whole)")
    }
}
