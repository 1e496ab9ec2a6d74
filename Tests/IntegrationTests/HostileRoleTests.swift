import EventStore
import Foundation
import GrantLedgerHTTP
import PostgresClient
import Testing

@testable import TestSupport

/// The application role, `grantledger_app`, treated as compromised: each attack that once
/// rewrote history or escalated a token is tried again, in the role's own sessions, and
/// must fail while `audit verify` stays clean and the sealed head unchanged.
@Suite("Hostile application role")
struct HostileRoleTests {
    /// A log of twelve sealed events and the head noted before any attack.
    func setup() async throws -> (TestDatabase, ChainHead) {
        let db = try await TestDatabase.make()
        for index in 1...12 {
            _ = try await db.store.append([event("s-\(index % 4)", "E", #"{"i":\#(index)}"#)])
        }
        let report = try await db.verify(reaching: 12)
        #expect(report.ok)
        return (db, report.head)
    }

    func expectIntact(_ db: TestDatabase, head: ChainHead, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        let report = try await db.store.verify(expectedHead: head)
        #expect(report.ok, "\(report.problem ?? "")", sourceLocation: sourceLocation)
        #expect(report.head.position >= head.position, sourceLocation: sourceLocation)
        let chainAtHead = try await db.store.chainPoint(at: head.position)
        #expect(chainAtHead?.hash == head.hash, sourceLocation: sourceLocation)
    }

    @Test("no schema, table, function or temporary object can be created; nothing can be altered")
    func createsNothing() async throws {
        let (db, head) = try await setup()
        let app = try await PostgresConnection.connect(db.appURL)
        for statement in [
            // The owner takeover: a schema named after the owner, searched first by
            // definer functions that pinned "$user", public.
            "CREATE SCHEMA grantledger",
            "CREATE SCHEMA rm_evil",
            "CREATE TABLE public.shadow (x int)",
            """
            CREATE FUNCTION public.event_canonical(bigint, text, bigint, uuid, text, jsonb, jsonb, timestamptz, int)
            RETURNS text LANGUAGE sql AS 'SELECT 1::text'
            """,
            "CREATE OR REPLACE FUNCTION public.seal_events() RETURNS TABLE (position bigint, chain_hash bytea) LANGUAGE sql AS 'SELECT 0::bigint, ''''::bytea'",
            // Temporary objects that once shadowed the log inside the definer functions.
            "CREATE TEMP SEQUENCE events_position_seq START 1000000000000",
            "CREATE TEMP TABLE events (position bigint)",
            "CREATE TEMP TABLE commands (command_id text)",
            "CREATE TABLE rm_i3.evil (x int)",
            // Direct writes, trigger switches, the sequence, the owner.
            "INSERT INTO events SELECT * FROM events WHERE position = 1",
            "UPDATE events SET data = '{}' WHERE position = 3",
            "DELETE FROM event_chain",
            "DELETE FROM chain_runs",
            "INSERT INTO chain_runs VALUES (1000000, '{1000000}', sha256(''))",
            "ALTER TABLE events DISABLE TRIGGER events_append_only",
            "SELECT nextval('events_position_seq')",
            "SELECT setval('events_position_seq', 1000000000000)",
            "SET ROLE grantledger",
            "DROP SCHEMA rm_i3 CASCADE",
            "ALTER SCHEMA rm_i3 RENAME TO rm_x",
            // Token escalation.
            "UPDATE api_tokens SET role = 'manager'",
            "INSERT INTO api_tokens (name, role, token_hash) VALUES ('x', 'manager', '\\x00')",
            "DELETE FROM api_tokens",
        ] {
            await expectRefused(statement, on: app)
        }
        // The definer helpers take only the names they know.
        await expectRefused("SELECT swap_read_model('i3_build')", on: app)
        await expectRefused("SELECT analyze_read_model('public')", on: app)
        try await expectIntact(db, head: head)
    }

    @Test("the Merkle tree can be neither written, nor extended, nor switched off by the application role")
    func merkleTree() async throws {
        let (db, head) = try await setup()
        let tree = try await db.store.treeHead()
        #expect(tree.treeSize == 12)
        let app = try await PostgresConnection.connect(db.appURL)
        for statement in [
            "INSERT INTO merkle_nodes (level, node_index, hash) VALUES (4, 99, '\\x00')",
            "UPDATE merkle_nodes SET hash = '\\x00'",
            "DELETE FROM merkle_nodes",
            "TRUNCATE merkle_nodes",
            "INSERT INTO merkle_groups (group_index, first_position) VALUES (7, 1000)",
            "UPDATE merkle_groups SET first_position = first_position + 1",
            "DELETE FROM merkle_groups",
            "TRUNCATE merkle_groups",
            "ALTER TABLE merkle_nodes DISABLE TRIGGER merkle_nodes_append_only",
            // Only seal_events() extends the tree, with the events it seals itself.
            "SELECT merkle_extend(ARRAY[1000]::bigint[], ARRAY['\\x00'::bytea])",
            "SELECT merkle_root16(ARRAY['\\x00'::bytea])",
            "CREATE OR REPLACE FUNCTION public.merkle_leaves_before(p bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'",
        ] {
            await expectRefused(statement, on: app)
        }
        try await expectIntact(db, head: head)
        #expect(try await db.store.treeHead() == tree)
        #expect(try await db.store.verify().tree == tree)
    }

    @Test("the definer functions ignore a schema named after the owner and temporary look-alikes")
    func pinnedSearchPath() async throws {
        let (db, head) = try await setup()
        // The superuser can still create what the application role no longer can; the
        // functions must not pick any of it up.
        let admin = try await db.admin()
        try await admin.query(
            """
            CREATE SCHEMA grantledger AUTHORIZATION grantledger
            """)
        try await admin.query(
            """
            CREATE FUNCTION grantledger.event_canonical(
                bigint, text, bigint, uuid, text, jsonb, jsonb, timestamptz) RETURNS text
            LANGUAGE sql AS 'SELECT ''forged''::text'
            """)
        try await admin.query("GRANT USAGE ON SCHEMA grantledger TO PUBLIC")
        try await admin.query("CREATE TEMP SEQUENCE events_position_seq START 1000000000000")
        try await admin.query("CREATE TEMP TABLE events (position bigint, hash bytea, transaction_id xid8)")
        try await admin.query(
            "INSERT INTO events VALUES (5000000000000, '\\x00', '1'::xid8)")
        try await admin.query(
            """
            CREATE TEMP TABLE commands (command_id text, payload_digest text, first_position bigint,
                last_position bigint, recorded_at timestamptz)
            """)
        try await admin.query("INSERT INTO commands VALUES ('close-g1', 'digest', 1, 1, now())")

        // In that same session, a real command through the definer function.
        let appended = try await admin.query(
            """
            SELECT position, replayed FROM append_events('close-g1', 'digest', '{}'::jsonb,
                '[{"streamId": "grant-G1", "eventId": "6f1c1b9e-7a37-4f54-9f0b-3a4d5b6c7d8e",
                   "type": "GrantClosed", "data": {"grantId": "G1"}, "metadata": {}}]'::jsonb)
            """)
        #expect(try appended[0].decode(Int64.self, 0) == 13)
        #expect(try appended[0].decode(Bool.self, 1) == false)
        let sealed = try await admin.query("SELECT position FROM seal_events()")
        #expect(try sealed[0].decode(Int64.self, 0) <= 13)

        let recorded = try await db.committedEvents()
        #expect(recorded.count == 13)
        #expect(recorded.last?.type == "GrantClosed")
        #expect(recorded.last?.position == 13)
        _ = try await db.readAll(after: 12, count: 1)
        try await expectIntact(db, head: head)
        let after = try await db.store.verify()
        #expect(after.ok)
        #expect(after.head.position == 13)
    }

    @Test("an append in a transaction that took its id first is refused, so sealing never passes an accepted event")
    func appendOrder() async throws {
        let (db, head) = try await setup()
        // The attack: two sessions take transaction ids, a manager's command appends and
        // commits, then the first session appends with its old id and commits while the
        // second stays open. Sealing would then take the attacker's later position and pass
        // the manager's for good.
        let attacker = try await PostgresConnection.connect(db.appURL)
        let holder = try await PostgresConnection.connect(db.appURL)
        try await attacker.query("BEGIN")
        try await attacker.query("SELECT pg_current_xact_id()")
        try await holder.query("BEGIN")
        try await holder.query("SELECT pg_current_xact_id()")
        let managers = try await db.store.append([event("organisation-M-1", "E", #"{"m":1}"#)])
        await #expect(throws: EventStoreError.self) {
            _ = try await StoreSession(connection: attacker).append(
                [event("s-evil", "E")], expected: [:], commandID: nil, payloadDigest: nil)
        }
        try await attacker.query("ROLLBACK")
        // A write to a read model gives a transaction its id as well.
        try await attacker.query("BEGIN")
        try await attacker.query("INSERT INTO rm_i3.calls (call_id, programme) VALUES ('EVIL', 'EVIL')")
        do {
            _ = try await StoreSession(connection: attacker).append(
                [event("s-evil", "E")], expected: [:], commandID: nil, payloadDigest: nil)
            Issue.record("an append after a write was accepted")
        } catch EventStoreError.appendOutOfOrder {
        }
        try await attacker.query("ROLLBACK")
        // A batch must begin before the transaction's first write.
        try await attacker.query("BEGIN")
        try await attacker.query("SELECT pg_current_xact_id()")
        await #expect(throws: EventStoreError.self) { try await StoreSession(connection: attacker).beginBatch() }
        try await attacker.query("ROLLBACK")
        // Twice in one transaction without a batch: the second append is refused.
        try await attacker.query("BEGIN")
        _ = try await StoreSession(connection: attacker).append(
            [event("s-twice", "E")], expected: [:], commandID: nil, payloadDigest: nil)
        await #expect(throws: EventStoreError.self) {
            _ = try await StoreSession(connection: attacker).append(
                [event("s-twice", "E")], expected: [:], commandID: nil, payloadDigest: nil)
        }
        try await attacker.query("ROLLBACK")
        try await holder.query("COMMIT")

        let position = managers.events[0].position
        let report = try await db.verify(reaching: position)
        #expect(report.ok, "\(report.problem ?? "")")
        #expect(report.head.position >= position)
        let proof = try await db.store.inclusionProof(position: position)
        #expect(proof.leafIndex == 12)
        let recorded = try await db.committedEvents()
        #expect(!recorded.contains { $0.streamID == "s-evil" || $0.streamID == "s-twice" })
        try await expectIntact(db, head: head)
    }

    @Test("an idle session of the application role is ended after 2 minutes, releasing any lock it holds")
    func idleSessions() async throws {
        let db = try await TestDatabase.make()
        let app = try await PostgresConnection.connect(db.appURL)
        #expect(try await app.query("SHOW idle_session_timeout")[0].decode(String.self, 0) == "2min")
        // The pool gives up its idle connections before the database would end them.
        #expect(ConnectionPool.maxIdle < .seconds(120))
    }

    @Test("a viewer token cannot be turned into a manager token by the application role")
    func tokenRoles() async throws {
        let db = try await TestDatabase.make()
        let owner = try await db.owner()
        let secret = try await TokenStore.create(name: "viewer-1", role: .viewer, on: owner)
        let app = try await PostgresConnection.connect(db.appURL)
        await expectRefused("UPDATE api_tokens SET role = 'manager' WHERE name = 'viewer-1'", on: app)
        #expect(try await TokenStore(pool: db.pool).identify(secret: secret)?.role == .viewer)
    }
}
