import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Projections
import Testing

@testable import TestSupport

@Suite("Audit: export, import, replay")
struct AuditTests {
    /// A database holding the sample programme.
    func sampleDatabase() async throws -> TestDatabase {
        let db = try await TestDatabase.make()
        let result = try await CLI(databaseURL: db.appURL).run(
            ["import", CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl").path])
        #expect(result.status == 0)
        // Wait until the readers' horizon covers the whole import (see TestDatabase.readAll).
        let last = try await db.committedEvents().last?.position ?? 0
        _ = try await db.readAll(after: last - 1, count: 1)
        return db
    }

    func export(_ db: TestDatabase) async throws -> [String] {
        let lines = LinesBox()
        try await db.store.export(write: { lines.append($0) })
        return lines.values
    }

    @Test("an export holds every event committed before it started, even one behind another's open transaction")
    func exportWaitsForCommitted() async throws {
        let db = try await TestDatabase.make()
        _ = try await db.store.append([event("before")])
        // An open transaction with an id, taken before the next append: readers stop below it.
        let holder = try await db.admin()
        try await holder.query("BEGIN")
        _ = try await holder.query("SELECT pg_current_xact_id()")
        _ = try await db.store.append([event("behind-the-holder")])
        let release = Task {
            try await Task.sleep(for: .milliseconds(500))
            try await holder.query("COMMIT")
        }
        let lines = try await export(db)
        try await release.value
        #expect(lines.count == 2, "\(lines.count) lines")
        #expect(lines.last?.contains("behind-the-holder") == true)
    }

    @Test("export, import into an empty database and verify: the same I.3 figures at every cut-off")
    func roundTrip() async throws {
        let source = try await sampleDatabase()
        let lines = try await export(source)
        #expect(lines.count >= 300)
        let target = try await TestDatabase.make()
        let head = try await StoreSession(connection: try await target.owner()).importArchive(
            lines.map { Substring($0) })
        // Readers see the imported events once no older transaction of the cluster is open.
        _ = try await target.readAll(after: 0, count: lines.count)
        let sourceHead = try await source.store.verify().head
        #expect(head == sourceHead)
        let verified = try await target.store.verify()
        #expect(verified.ok)
        #expect(verified.head == sourceHead)

        let query = I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!)
        let original = I3Reporter(pool: source.pool)
        let copy = I3Reporter(pool: target.pool)
        for cutoff in stride(from: Int64(1), through: head.position, by: 23) + [head.position] {
            let a = try await original.report(query, cutOff: .position(cutoff))
            let b = try await copy.report(query, cutOff: .position(cutoff))
            #expect(a == b, "cut-off \(cutoff)")
        }
        // New appends continue the imported chain.
        _ = try await target.store.append([event("after-import")])
        #expect(try await target.verify(reaching: head.position + 1).ok)
    }

    @Test(
        "audit export --keys and import --keys: a copy with the keys reads the names, one without reads them unavailable; both verify"
    )
    func keysTravelApart() async throws {
        let source = try await sampleDatabase()
        let cli = CLI(databaseURL: source.appURL)
        let erased = try await cli.run([
            "erase-personal-data", "--organisation-id", "INGO-NL-HIVOS", "--erased-on", "2026-12-01", "--reason",
            "asked",
            "--command-id", "erase-1",
        ])
        #expect(erased.status == 0, "\(erased.stderr)")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (archive, keys) = (
            folder.appendingPathComponent("log.jsonl").path, folder.appendingPathComponent("keys").path
        )
        let exported = try await cli.run(["audit", "export", "--to", archive, "--keys", keys])
        #expect(exported.status == 0, "\(exported.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: keys)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let archiveText = try String(contentsOfFile: archive, encoding: .utf8)
        let keysText = try String(contentsOfFile: keys, encoding: .utf8)
        #expect(!archiveText.contains("Friedrich-Ebert-Stiftung") && archiveText.contains("\"encrypted\""))
        #expect(
            keysText.contains("INGO-DE-FES") && !keysText.contains("INGO-NL-HIVOS"), "an erased key is not exported")
        // A keys file is never overwritten.
        #expect(try await cli.run(["audit", "export", "--to", archive + "2", "--keys", keys]).status != 0)

        for withKeys in [true, false] {
            let target = try await TestDatabase.make()
            let copy = CLI(databaseURL: target.appURL, migrationURL: target.ownerURL)
            let imported = try await copy.run(["audit", "import", archive] + (withKeys ? ["--keys", keys] : []))
            #expect(imported.status == 0, "\(imported.stderr)")
            let verified = try await copy.run(["audit", "verify"])
            #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
            // Readers see the imported events once every transaction older than them in the
            // cluster has ended (the gap-free horizon, docs/architecture.md): another test's
            // long transaction can hold that back, so both reads wait for it.
            let expected = withKeys ? "Friedrich-Ebert-Stiftung Central Asia" : "unavailable"
            var shown: [String: Any] = [:]
            let named = try await eventually(timeout: .seconds(120)) {
                shown = try copy.json(try await copy.run(["show", "organisation", "INGO-DE-FES"]))
                return shown["name"] as? String == expected
            }
            let heldBefore = named ? "" : await target.oldestTransactions()
            #expect(
                named,
                "INGO-DE-FES reads \(shown["name"] ?? "nothing"), not \(expected); oldest transactions: \(heldBefore)")
            var gone: [String: Any] = [:]
            let erasedShown = try await eventually(timeout: .seconds(120)) {
                gone = try copy.json(try await copy.run(["show", "organisation", "INGO-NL-HIVOS"]))
                return gone["name"] as? String == "erased"
            }
            let heldAfter = erasedShown ? "" : await target.oldestTransactions()
            #expect(
                erasedShown,
                "the erased organisation reads \(gone["name"] ?? "nothing") in the copy (withKeys: \(withKeys)), not erased; oldest transactions: \(heldAfter)"
            )
        }
        // A keys file others may read is refused.
        chmod(keys, 0o644)
        let target = try await TestDatabase.make()
        let refused = try await CLI(databaseURL: target.appURL, migrationURL: target.ownerURL).run([
            "audit", "import", archive, "--keys", keys,
        ])
        #expect(refused.status != 0 && refused.stderr.contains("chmod 600"), "\(refused.stderr)")
    }

    @Test("a tampered export is refused whole, naming the line")
    func tamperedImport() async throws {
        let source = try await sampleDatabase()
        var lines = try await export(source)
        let index = try #require(lines.firstIndex { $0.contains("SubGrantDisbursed") })
        lines[index] = lines[index].replacingOccurrences(of: "\"amount\": \"", with: "\"amount\": \"9")
        let target = try await TestDatabase.make()
        do {
            _ = try await StoreSession(connection: try await target.owner()).importArchive(lines.map { Substring($0) })
            Issue.record("a tampered archive was imported")
        } catch let error as ArchiveError {
            #expect(error.line == index + 1)
        }
        #expect(try await target.committedEvents().isEmpty)

        // A dropped line breaks the chain at the next one.
        var shorter = try await export(source)
        shorter.remove(at: 10)
        do {
            _ = try await StoreSession(connection: try await target.owner()).importArchive(
                shorter.map { Substring($0) })
            Issue.record("an archive with a missing event was imported")
        } catch let error as ArchiveError {
            #expect(error.line == 11)
        }
    }

    @Test("replay shows grants and sub-grants as they stood at a past position")
    func replay() async throws {
        let db = try await sampleDatabase()
        let events = try await db.committedEvents()
        let firstSubGrant = try #require(events.first { $0.type == "SubGrantAwarded" })
        let before = try await AuditReplay.replay(pool: db.pool, cutOff: .position(firstSubGrant.position - 1))
        let at = try await AuditReplay.replay(pool: db.pool, cutOff: .position(firstSubGrant.position))
        #expect(before.subGrants.isEmpty)
        #expect(at.subGrants.count == 1)
        #expect(at.asOf.position == firstSubGrant.position)
        let head = try await AuditReplay.replay(pool: db.pool, cutOff: .head)
        // The replay agrees with the read model on every grant.
        _ = try await I3Reporter(pool: db.pool).report(
            I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2024-01-02")!))
        let rows = try await db.pool.withConnection {
            try await $0.query(
                "SELECT id, doc->>'disbursed', doc->>'envelopeUsed' FROM rm_entities.entities WHERE kind = 'grant'")
        }
        let projected = Dictionary(
            uniqueKeysWithValues: try rows.map {
                (try $0.decode(String.self, 0), (try $0.decode(String.self, 1), try $0.decode(String.self, 2)))
            })
        for grant in head.grants {
            #expect(projected[grant.grantId]?.0 == grant.disbursed.description)
            #expect(projected[grant.grantId]?.1 == grant.envelopeUsed.description)
        }
        #expect(head.subGrants.contains { $0.status == "cancelled" })
        // And on every sub-grant, each listed once, in the order of their awards.
        let subGrantRows = try await db.pool.withConnection {
            try await $0.query(
                """
                SELECT id, doc->>'status', doc->>'disbursed', doc->'award'->>'grantId',
                       doc->'award'->>'organisationId', doc->'award'->>'amount'
                FROM rm_entities.entities WHERE kind = 'subGrant'
                """)
        }
        let subGrants = Dictionary(
            uniqueKeysWithValues: try subGrantRows.map {
                row in (try row.decode(String.self, 0), try (1...5).map { try row.decode(String.self, $0) })
            })
        #expect(head.subGrants.count == subGrants.count && subGrants.count > 10)
        for line in head.subGrants {
            let expected = [
                line.status, line.disbursed.description, line.grantId, line.organisationId, line.amount.description,
            ]
            #expect(subGrants[line.subGrantId] == expected, "\(line.subGrantId)")
        }
        let awards = events.filter { $0.type == "SubGrantAwarded" }.map(\.streamID)
        #expect(head.subGrants.map { Streams.subGrant($0.subGrantId) } == awards)
    }
    @Test("replay leaves organisations' sealed texts closed and replays every event a replay that opens them does")
    func replayWithTextsClosed() async throws {
        let db = try await sampleDatabase()
        /// Every event replayed, with the texts it carries, opened or not.
        func texts(opening: Bool) async throws -> (count: Int, purposes: [String], names: [String]) {
            var count = 0
            var purposes: [String] = []
            var names: [String] = []
            _ = try await LogReplay.replay(pool: db.pool, cutOff: .head, opensTexts: opening) { projected in
                count += 1
                switch projected.event {
                case .subGrantAwarded(let e): purposes.append(e.purpose)
                case .organisationRegistered(let e): names.append(e.name)
                default: break
                }
            }
            return (count, purposes, names)
        }
        let opened = try await texts(opening: true)
        let closed = try await texts(opening: false)
        let events = try await db.committedEvents()
        // No event is lost for want of its texts: a sealed text decodes as the placeholder.
        #expect(closed.count == events.count)
        #expect(opened.count == events.count)
        #expect(closed.purposes.count == events.filter { $0.type == "SubGrantAwarded" }.count)
        #expect(!closed.purposes.isEmpty && !closed.names.isEmpty)
        #expect(closed.purposes.allSatisfy { $0 == PersonalData.sealedPlaceholder })
        #expect(closed.names.allSatisfy { $0 == PersonalData.sealedPlaceholder })
        // The sample's texts are sealed in the log, and open with the database's keys.
        let sealedPurposes = try await db.pool.withConnection {
            try await $0.query(
                "SELECT count(*) FROM events WHERE type = 'SubGrantAwarded' AND data->'purpose' ? 'encrypted'"
            )[0].decode(Int64.self, 0)
        }
        #expect(sealedPurposes == Int64(closed.purposes.count))
        #expect(opened.purposes.allSatisfy { $0 != PersonalData.sealedPlaceholder && !$0.isEmpty })
        #expect(opened.names.count == closed.names.count)

        // The audit replay, which reads no text, has every grant and sub-grant of the log.
        let head = try await AuditReplay.replay(pool: db.pool, cutOff: .head)
        #expect(head.eventsReplayed == events.count)
        #expect(head.subGrants.count == closed.purposes.count)
        #expect(head.grants.count == events.filter { $0.type == "GrantAwarded" }.count)

        // `audit replay --format json` writes the replay in chunks: the same bytes as one encoding.
        let whole = ResponseJSON.text(head)
        for chunk in [1, 2, 3, head.subGrants.count, 20_000] {
            var pieces: [String] = []
            await head.writeJSON(chunk: chunk) { pieces.append($0) }
            #expect(pieces.joined() == whole, "chunks of \(chunk)")
        }
        let empty = try await AuditReplay.replay(pool: db.pool, cutOff: .position(1))
        var pieces: [String] = []
        await empty.writeJSON(chunk: 2) { pieces.append($0) }
        #expect(empty.grants.isEmpty && pieces.joined() == ResponseJSON.text(empty))
        // The lines' own writers give Foundation's bytes, for the log's lines and hostile ones.
        #expect(whole == String(decoding: try ResponseJSON.encoder.encode(head), as: UTF8.self))
        try Self.linesWrittenAsEncoded(head)
    }

    /// Each line of `replay`, and lines with hostile texts and extreme amounts, written by its
    /// writer (`CanonicalObject`), as `Encodable` writes it and as Foundation does.
    static func linesWrittenAsEncoded(_ replay: AuditReplay) throws {
        let texts = [
            "", "\"", "\\", "/", "a\u{0}b", "\u{1}\u{1f}\u{7f}", "\n\r\t", "\u{2028}\u{2029}", "é", "e\u{301}",
            "🇰🇿", String(repeating: "Қ", count: 5_000), "{\"grantId\":1}",
        ]
        let amounts = [Money.zero, Money(cents: 1), Money(cents: 1_234_567_890), Money(cents: 999_999_999_999_999)]
        var grants = replay.grants
        var subGrants = replay.subGrants
        // Built through `Decodable` (the lines have no public initialiser).
        func line<Line: Decodable>(_ fields: [String: JSONValue]) throws -> Line {
            try JSONDecoder().decode(Line.self, from: try ResponseJSON.encoder.encode(JSONValue.object(fields)))
        }
        for (index, text) in texts.enumerated() {
            let amount = JSONValue.string(amounts[index % amounts.count].description)
            grants.append(
                try line([
                    "grantId": .string(text), "callId": .string(text), "contractNumber": .string(text),
                    "amount": amount, "disbursed": amount, "envelope": amount, "envelopeUsed": amount,
                    "closed": .bool(index % 2 == 0),
                ]))
            subGrants.append(
                try line([
                    "subGrantId": .string(text), "grantId": .string(text), "organisationId": .string(text),
                    "amount": amount, "disbursed": amount, "status": .string(text),
                ]))
        }
        #expect(grants.count == replay.grants.count + texts.count)
        func check<Line: Encodable>(_ line: Line) throws {
            #expect(line is any CanonicalObject)
            let written = try CanonicalJSON.bytes(line)
            #expect(written == (try CanonicalJSON.treeBytes(line)))
            #expect(written == Array(try ResponseJSON.encoder.encode(line)))
        }
        for line in grants { try check(line) }
        for line in subGrants { try check(line) }
        #expect(try CanonicalJSON.bytes(subGrants) == Array(try ResponseJSON.encoder.encode(subGrants)))
    }
}

/// Collects exported lines from the export callback.
final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ line: String) { lock.withLock { storage.append(line) } }
    var values: [String] { lock.withLock { storage } }
}
