import EventStore
import Foundation
import PostgresClient
import Testing

@testable import TestSupport

@Suite("Tamper evidence")
struct TamperTests {
    /// A database with ten sealed events on three streams, and a superuser connection with
    /// the append-only triggers switched off.
    func tamperedSetup() async throws -> (TestDatabase, PostgresConnection) {
        let db = try await TestDatabase.make()
        for index in 1...10 {
            _ = try await db.store.append([event("s-\(index % 3)", "E", #"{"i":\#(index)}"#)])
        }
        let clean = try await db.verify(reaching: 10)
        #expect(clean.ok)
        #expect(clean.head.position == 10)
        let admin = try await db.admin()
        try await admin.query("SET session_replication_role = replica")
        return (db, admin)
    }

    @Test("an altered event is reported at its position")
    func altered() async throws {
        let (db, admin) = try await tamperedSetup()
        try await admin.query(#"UPDATE events SET data = '{"i": 999}' WHERE position = 4"#)
        let report = try await db.store.verify()
        #expect(!report.ok)
        #expect(report.firstBadPosition == 4)
    }

    @Test("an altered event with a recomputed hash is still caught by the chain")
    func alteredWithHash() async throws {
        let (db, admin) = try await tamperedSetup()
        try await admin.query(
            #"""
            UPDATE events SET data = '{"i": 999}' WHERE position = 6;
            """#)
        try await admin.query(
            """
            UPDATE events SET hash = sha256(convert_to(event_canonical(position, stream_id, stream_version,
                event_id, type, data, metadata, recorded_at), 'UTF8')) WHERE position = 6
            """)
        let report = try await db.store.verify()
        #expect(report.firstBadPosition == 6)
    }

    @Test("a deleted event is reported at its position")
    func deleted() async throws {
        let (db, admin) = try await tamperedSetup()
        try await admin.query("DELETE FROM events WHERE position = 7")
        let report = try await db.store.verify()
        #expect(report.firstBadPosition == 7)
        #expect(report.problem?.contains("deleted") == true)
    }

    @Test("the last event deleted is reported too")
    func deletedTail() async throws {
        let (db, admin) = try await tamperedSetup()
        try await admin.query("DELETE FROM events WHERE position = 10")
        let report = try await db.store.verify()
        #expect(report.firstBadPosition == 10)
    }

    @Test("an inserted event is reported at its position")
    func inserted() async throws {
        let db = try await TestDatabase.make()
        for index in 1...4 {
            _ = try await db.store.append([event("s", "E", #"{"i":\#(index)}"#)])
        }
        let admin = try await db.admin()
        // Leave a hole at position 5, as a rolled-back append would.
        try await admin.query("SELECT nextval('events_position_seq')")
        for index in 6...8 {
            _ = try await db.store.append([event("s", "E", #"{"i":\#(index)}"#)])
        }
        #expect(try await db.verify(reaching: 8).ok)
        try await admin.query("SET session_replication_role = replica")
        try await admin.query(
            """
            INSERT INTO events (position, stream_id, stream_version, event_id, type, data, metadata,
                                recorded_at, transaction_id, hash)
            SELECT 5, 'forged', 1, gen_random_uuid(), 'E', '{"i": 5}', '{}', now(), pg_current_xact_id(),
                   sha256(convert_to(event_canonical(5, 'forged', 1, gen_random_uuid(), 'E', '{"i": 5}', '{}', now()), 'UTF8'))
            """)
        let report = try await db.store.verify()
        #expect(report.firstBadPosition == 5)
    }

    @Test("reordered events are reported at the first moved position")
    func reordered() async throws {
        let (db, admin) = try await tamperedSetup()
        try await admin.query(
            """
            UPDATE events SET position = -3 WHERE position = 3;
            """)
        try await admin.query("UPDATE events SET position = 3 WHERE position = 8")
        try await admin.query("UPDATE events SET position = 8 WHERE position = -3")
        let report = try await db.store.verify()
        #expect(report.firstBadPosition == 3)
    }

    @Test("a noted head detects a rewritten history and accepts growth")
    func notedHead() async throws {
        let (db, admin) = try await tamperedSetup()
        let noted = try await db.store.verify().head
        _ = try await db.store.append([event("later")])
        let grown = try await db.verify(reaching: 11, expectedHead: noted)
        #expect(grown.ok)
        #expect(grown.head.position == 11)
        // Rewrite everything consistently: events, hashes, chain and Merkle tree.
        try await admin.query(#"UPDATE events SET data = '{"i": 0}' WHERE position = 2"#)
        try await TestDatabase.makeConsistent(admin)
        let rewritten = try await db.store.verify(expectedHead: noted)
        #expect(!rewritten.ok)
        #expect(rewritten.firstBadPosition == noted.position)
    }
}
