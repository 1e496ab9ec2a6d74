import EventStore
import Foundation
import PersonalDataKeys
import PostgresClient
import Testing

@testable import TestSupport

/// `append_run()` (sql/025) as the application role can call it, hostile caller included:
/// it appends a run in the order and with the conditions each command was decided under,
/// taking its transaction's id with its positions, and otherwise records nothing.
@Suite("A run of commands appended in one call")
struct AppendRunTests {
    static func command(
        _ id: String?, stream: String, events: Int = 1, expected: Int64?, keys: Set<String> = []
    ) -> StoreSession.RunAppend {
        StoreSession.RunAppend(
            events: (0..<events).map { index in
                NewEvent(
                    streamID: stream, type: "Noted", data: #"{"n": \#(index), "text": "«\u2028\"»"}"#,
                    metadata: #"{"actor": "run"}"#)
            },
            expected: expected.map { [stream: .exact($0)] } ?? [:], commandID: id,
            payloadDigest: EventStore.digest(id ?? stream), keys: keys.union([stream]))
    }

    /// Runs `body` with a session of the application role.
    static func session<T>(_ db: TestDatabase, _ body: (StoreSession) async throws -> T) async throws -> T {
        try await db.pool.withConnection { try await body(StoreSession(connection: $0)) }
    }

    @Test("a run numbers each stream's versions after the commands before it, and records ids and guards")
    func appends() async throws {
        let db = try await TestDatabase.make()
        let results = try await Self.session(db) { session in
            try await session.appendRun(
                [
                    Self.command("a", stream: "s-1", events: 2, expected: 0),
                    Self.command("b", stream: "s-2", expected: 0, keys: ["shared"]),
                    Self.command("c", stream: "s-1", expected: 2, keys: ["shared"]),
                ], decidedAt: 0)
        }
        #expect(results.map { $0.events.map(\.streamVersion) } == [[1, 2], [1], [3]])
        #expect(results.flatMap(\.events).map(\.position) == [1, 2, 3, 4])
        let owner = try await db.owner()
        let commands = try await owner.query(
            "SELECT command_id, first_position, last_position FROM commands ORDER BY command_id"
        ).map { try $0.decode((String, Int64, Int64).self) }
        #expect(commands.map(\.0) == ["a", "b", "c"])
        #expect(commands.map(\.1) == [1, 3, 4])
        #expect(commands.map(\.2) == [2, 3, 4])
        let guards = try await owner.query("SELECT key, position FROM command_guards ORDER BY key")
            .map { try $0.decode((String, Int64).self) }
        #expect(guards.map(\.0) == ["s-1", "s-2", "shared"])
        #expect(guards.map(\.1) == [4, 3, 4])
        // The hashes are those of the events' canonical form, as for any append.
        let verified = try await db.store.verify()
        #expect(verified.problem == nil, "\(String(describing: verified.problem))")
    }

    @Test("a run is refused whole, and nothing recorded, for every condition a command was decided under")
    func refusals() async throws {
        let db = try await TestDatabase.make()
        _ = try await Self.session(db) { session in
            try await session.appendRun([Self.command("first", stream: "s-1", expected: 0)], decidedAt: 0)
        }
        // Another transaction records the key `held` after position 1.
        _ = try await Self.session(db) { session in
            try await session.appendRun(
                [Self.command("other", stream: "s-9", expected: 0, keys: ["held"])], decidedAt: 1)
        }
        func refused(_ run: [StoreSession.RunAppend], decidedAt: Int64) async -> (any Error)? {
            do {
                _ = try await Self.session(db) { try await $0.appendRun(run, decidedAt: decidedAt) }
                return nil
            } catch {
                return error
            }
        }
        let fresh = Self.command("fresh", stream: "s-2", expected: 0)
        // An expected version the run does not reach.
        let version = await refused([fresh, Self.command("late", stream: "s-1", expected: 0)], decidedAt: 2)
        if case EventStoreError.wrongExpectedVersion? = version {
        } else {
            Issue.record("\(String(describing: version))")
        }
        // An id accepted before, with the same payload and with another; an id twice.
        let again = await refused([fresh, Self.command("first", stream: "s-1", expected: 1)], decidedAt: 2)
        if case EventStoreError.commandAccepted? = again {} else { Issue.record("\(String(describing: again))") }
        var reused = Self.command("first", stream: "s-3", expected: 0)
        reused.payloadDigest = EventStore.digest("another payload")
        let other = await refused([reused], decidedAt: 2)
        if case EventStoreError.commandIDReused? = other {} else { Issue.record("\(String(describing: other))") }
        let twice = await refused([fresh, Self.command("fresh", stream: "s-3", expected: 0)], decidedAt: 2)
        if case EventStoreError.commandAccepted? = twice {} else { Issue.record("\(String(describing: twice))") }
        // A key another transaction recorded after the run's position.
        let stale = await refused(
            [fresh, Self.command("stale", stream: "s-4", expected: 0, keys: ["held"])], decidedAt: 1)
        if case EventStoreError.database(let error)? = stale {
            #expect(error.sqlState == "40001")
        } else {
            Issue.record("\(String(describing: stale))")
        }
        // A key another transaction holds.
        let holder = try await db.admin()
        try await holder.query("BEGIN")
        _ = try await holder.query("SELECT pg_advisory_xact_lock(hashtextextended('busy', 0))")
        let busy = await refused([Self.command("busy", stream: "s-5", expected: 0, keys: ["busy"])], decidedAt: 2)
        try await holder.query("ROLLBACK")
        if case EventStoreError.database(let error)? = busy {
            #expect(error.sqlState == "40001")
        } else {
            Issue.record("\(String(describing: busy))")
        }
        // Nothing of the refused runs: the two runs before them, and no gap after.
        let log = try await db.committedEvents()
        #expect(log.map(\.streamID) == ["s-1", "s-9"])
        let ids = try await db.owner().query("SELECT command_id FROM commands ORDER BY 1").map {
            try $0.decode(String.self)
        }
        #expect(ids == ["first", "other"])
        _ = try await Self.session(db) { try await $0.appendRun([fresh], decidedAt: 2) }
        #expect(try await db.committedEvents().map(\.position) == [1, 2, 3])
    }

    /// The scans PostgreSQL counted for the transaction that ran `statement` on a new session
    /// with `settings`, by relation: a table's count is of its sequential scans, an index's of
    /// the scans through it.
    static func scans(
        _ db: TestDatabase, _ settings: [PostgresQuery], of relations: [String], running statement: PostgresQuery
    ) async throws -> [String: Int64] {
        let app = try await PostgresConnection.connect(db.appURL)
        for setting in settings { try await app.query(setting) }
        try await app.query("BEGIN")
        _ = try await app.query(statement)
        let counted = try await app.query(
            "SELECT c.relname::text, pg_stat_get_xact_numscans(c.oid) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY (\(textArray(relations))::text[])"
        ).map { try $0.decode((String, Int64).self) }
        try await app.query("COMMIT")
        return Dictionary(uniqueKeysWithValues: counted)
    }

    @Test("append_run()'s look-ups go through their indexes: its generic plans read no table whole")
    func lookUpsUseIndexes() async throws {
        let db = try await TestDatabase.make()
        // A thousand commands, each with a stream, a key and an id of its own, then statistics.
        _ = try await Self.session(db) { session in
            try await session.appendRun(
                (1...1000).map { Self.command("c-\($0)", stream: "s-\($0)", expected: 0, keys: ["k-\($0)"]) },
                decidedAt: 0)
        }
        try await db.owner().query("ANALYZE events, commands, command_guards")
        // A run that reads a guard, an id, a stream with events and one without.
        let relations = [
            "events", "commands", "command_guards", "events_stream_version_key", "commands_pkey",
            "command_guards_pkey",
        ]
        func scans(_ settings: [PostgresQuery], id: String) async throws -> [String: Int64] {
            let run =
                #"[{"commandId": "\#(id)", "digest": "d", "expected": {"s-7": 1, "n-\#(id)": 0}, "keys": ["k-7"], "#
                + #""events": [{"streamId": "n-\#(id)", "eventId": "\#(UUID().uuidString)", "type": "Noted", "#
                + #""data": {}, "metadata": {}}]}]"#
            return try await Self.scans(
                db, settings, of: relations, running: "SELECT count(*) FROM append_run(2000, \(run)::jsonb)")
        }
        let counted = try await scans([], id: "x-1")
        #expect(counted.count == relations.count, "\(counted)")
        for table in ["events", "commands", "command_guards"] {
            #expect(counted[table] == 0, "\(table) read whole: \(counted)")
        }
        for index in ["events_stream_version_key", "commands_pkey", "command_guards_pkey"] {
            #expect((counted[index] ?? 0) >= 1, "\(index) unused: \(counted)")
        }
        // The count can fail: with index scans turned off, the same look-ups read the tables.
        let whole = try await scans(["SET enable_indexscan = off", "SET enable_bitmapscan = off"], id: "x-2")
        #expect((whole["commands"] ?? 0) >= 1 && (whole["command_guards"] ?? 0) >= 1, "\(whole)")
    }

    @Test("append_events() keeps one generic plan per statement, and its look-ups go through their indexes")
    func appendEventsUsesIndexes() async throws {
        let db = try await TestDatabase.make()
        _ = try await Self.session(db) { session in
            try await session.appendRun(
                (1...1000).map { Self.command("c-\($0)", stream: "s-\($0)", expected: 0, keys: []) }, decidedAt: 0)
        }
        try await db.owner().query("ANALYZE events, commands")
        let settings = try await db.owner().query(
            "SELECT coalesce(proconfig, '{}')::text FROM pg_proc WHERE oid = 'public.append_events(text, text, jsonb, jsonb)'::regprocedure"
        )
        #expect(try settings[0].decode(String.self, 0).contains("plan_cache_mode=force_generic_plan"))
        // An append with a new command id, checking a stream with events and writing a new one.
        let relations = ["events", "commands", "events_stream_version_key", "commands_pkey"]
        func scans(_ settings: [PostgresQuery], id: String) async throws -> [String: Int64] {
            let events =
                #"[{"streamId": "n-\#(id)", "eventId": "\#(UUID().uuidString)", "type": "Noted", "data": {}, "metadata": {}}]"#
            return try await Self.scans(
                db, settings, of: relations,
                running: "SELECT count(*) FROM append_events(\(id), 'd', '{\"s-7\": 1}'::jsonb, \(events)::jsonb)")
        }
        let counted = try await scans([], id: "x-1")
        #expect(counted["events"] == 0 && counted["commands"] == 0, "a table read whole: \(counted)")
        #expect((counted["events_stream_version_key"] ?? 0) >= 2 && (counted["commands_pkey"] ?? 0) >= 1, "\(counted)")
        // The count can fail: with index scans turned off, the same look-ups read the tables.
        let whole = try await scans(["SET enable_indexscan = off", "SET enable_bitmapscan = off"], id: "x-2")
        #expect((whole["events"] ?? 0) >= 1 && (whole["commands"] ?? 0) >= 1, "\(whole)")
    }

    @Test("the application role cannot call append_run after its transaction took an id, nor with a malformed run")
    func hostileCalls() async throws {
        let db = try await TestDatabase.make()
        let app = try await PostgresConnection.connect(db.appURL)
        let valid =
            #"[{"commandId": "x", "digest": "d", "expected": {}, "keys": ["k"], "events": [{"streamId": "s", "eventId": "5b1e7a40-3c1d-4f7a-9c59-3f1f2f0c9a11", "type": "Noted", "data": {}, "metadata": {}}]}]"#
        func call(_ run: String, tookId: Bool = false) async -> String? {
            do {
                try await app.query("BEGIN")
                if tookId { _ = try await app.query("SELECT pg_current_xact_id()") }
                _ = try await app.query("SELECT * FROM append_run(0, \(run)::jsonb)")
                try await app.query("ROLLBACK")
                return nil
            } catch let error as PostgresError {
                _ = try? await app.query("ROLLBACK")
                return error.sqlState
            } catch {
                _ = try? await app.query("ROLLBACK")
                return "\(error)"
            }
        }
        // An id taken before the run would be older than its positions (sql/018).
        #expect(await call(valid, tookId: true) == "GL006")
        #expect(await call(valid) == nil)
        let manyKeys = "[" + (0..<257).map { "\"k\($0)\"" }.joined(separator: ",") + "]"
        for run in [
            "[]", "{}", "null", #""text""#, "[1]",
            #"[{"commandId": "x", "digest": "d", "expected": {}, "keys": [], "events": []}]"#,
            #"[{"commandId": "x", "digest": "d", "expected": {}, "events": [{"streamId": "s"}]}]"#,
            valid.replacingOccurrences(of: #"["k"]"#, with: manyKeys),
        ] {
            #expect(await call(run) == "22023", "\(run.prefix(80))")
        }
        #expect(try await db.committedEvents().isEmpty)
    }

    @Test("a run's new keys go in one statement, all or none; malformed and repeated keys are refused")
    func keysTogether() async throws {
        let db = try await TestDatabase.make()
        let app = try await PostgresConnection.connect(db.appURL)
        func key(_ organisation: String) -> PersonalDataKey {
            .random(for: organisation)
        }
        func add(_ query: PostgresQuery) async -> String? {
            do {
                _ = try await app.query(query)
                return nil
            } catch let error as PostgresError {
                return error.sqlState
            } catch {
                return "\(error)"
            }
        }
        func living() async throws -> Int64 {
            try await db.admin().query("SELECT count(*) FROM personal_data_keys WHERE key IS NOT NULL")[0]
                .decode(Int64.self, 0)
        }
        let three = [key("organisation-a"), key("organisation-b"), key("organisation-c")]
        let first = await add(StoreSession.addPersonalDataKeysQuery(three))
        #expect(first == nil)
        #expect(try await living() == 3)
        // Each key reads back as added.
        let read = try await StoreSession(connection: app).personalDataKeys(Set(three.map(\.id)))
        #expect(read.count == 3)
        for added in three {
            guard case .living(let bytes)? = read[added.id] else {
                Issue.record("\(added.id): \(String(describing: read[added.id]))")
                continue
            }
            #expect(bytes == added.bytes)
        }
        // All or none: a known id, an organisation with a living key, an organisation twice.
        let fresh = key("organisation-d")
        #expect(await add(StoreSession.addPersonalDataKeysQuery([fresh, three[0]])) == "23505")
        #expect(await add(StoreSession.addPersonalDataKeysQuery([fresh, key("organisation-a")])) == "23505")
        #expect(await add(StoreSession.addPersonalDataKeysQuery([fresh, key("organisation-d")])) == "23505")
        #expect(try await living() == 3)
        // Malformed: lengths that differ, a NULL, none, more than 1,000.
        let hex = "\\x" + fresh.bytes.hexString
        for query: PostgresQuery in [
            "SELECT personal_data_keys_add(\(textArray([fresh.id]))::uuid[], '{a,b}'::text[], \(textArray([hex]))::bytea[])",
            "SELECT personal_data_keys_add(\(textArray([fresh.id]))::uuid[], '{a}'::text[], '{NULL}'::bytea[])",
            "SELECT personal_data_keys_add('{}'::uuid[], '{}'::text[], '{}'::bytea[])",
            "SELECT personal_data_keys_add(NULL, NULL, NULL)",
        ] {
            #expect(await add(query) == "22023")
        }
        let many = (0...1000).map { key("organisation-m\($0)") }
        #expect(await add(StoreSession.addPersonalDataKeysQuery(many)) == "22023")
        // A key of the wrong length is refused by the table's check.
        #expect(
            await add(
                "SELECT personal_data_keys_add(\(textArray([fresh.id]))::uuid[], '{organisation-d}'::text[], '{\"\\\\x00\"}'::bytea[])"
            ) == "23514")
        #expect(try await living() == 3)
    }
}
