import EventStore
import Foundation
import PersonalDataKeys
import PostgresClient
import Testing

@testable import GrantDomain
@testable import Projections
@testable import TestSupport

/// The read models' documents and the drill-down's rows are written by the project's
/// encoder (`CanonicalJSON`); this checks them against Foundation's `JSONEncoder`, the
/// reference, byte for byte, on everything a recorded programme projects to, with hostile
/// names in it.
@Suite("Read-model documents through the project's encoder")
struct ReadModelDocumentTests {
    static func foundation(_ value: any Encodable) throws -> String {
        String(decoding: try ResponseJSON.encoder.encode(value), as: UTF8.self)
    }

    @Test("every entity document, I.3 profile, sign-off, target and drill-down row encodes to Foundation's bytes")
    func sameBytes() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        // Hostile names: registered after the programme, so they are projected like any other.
        var hostile = JSONCodingHostile(state: 5)
        let cli = CLI(databaseURL: db.appURL)
        for index in 0..<12 {
            let result = try await cli.run([
                "register-organisation", "--organisation-id", "HOSTILE-\(index)", "--name", hostile.text(),
                "--country", "KZ", "--region-code", "KZ-43", "--settlement", "rural", "--registration-status",
                "unregistered", "--leadership-gender", "women", "--kind", "informalGroup", "--command-id",
                "hostile-\(index)",
            ])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let count = try await db.committedEvents().count
        let opened = try await db.store.opened(try await db.readAll(after: 0, count: count))
        let (events, quarantined) = ProjectedEvent.decoding(opened.map(LogEntry.init)[...])
        #expect(quarantined.isEmpty)
        #expect(events.count == count)

        let entities = EntitiesProjection.Bulk(projection: EntitiesProjection())
        entities.add(events)
        // A rebuild writes every entity it holds (`allKeys`), without tracking what changed.
        #expect(entities.working.changed.isEmpty)
        let keys = entities.working.allKeys
        // ... which are the entities projecting event by event marks as changed.
        var tracked = EntitiesProjection.Working()
        for projected in events { EntitiesProjection.evolve(&tracked, with: projected.event) }
        #expect(tracked.changed.sorted() == keys)
        let ours = try EntitiesProjection.rows(entities.working, keys: keys)
        let reference = try EntitiesProjection.rows(entities.working, keys: keys, encode: Self.foundation)
        #expect(ours.docs.count == keys.count)
        #expect(Set(ours.kinds.compactMap { $0 }) == Set(EntityKind.allCases.map(\.rawValue)))
        for (index, doc) in ours.docs.enumerated() {
            #expect(doc == reference.docs[index], "\(keys[index])")
        }
        #expect(ours == reference)
        #expect(ours.docs.contains { $0?.contains("HOSTILE-") == true })

        let i3 = I3Projection.Bulk(projection: I3Projection())
        i3.add(events)
        #expect(!i3.working.profiles.isEmpty && !i3.working.signOffs.isEmpty && !i3.working.targets.isEmpty)
        for (id, profile) in i3.working.profiles {
            #expect(try CanonicalJSON.text(profile) == Self.foundation(profile), "\(id)")
        }
        for signOff in i3.working.signOffs { #expect(try CanonicalJSON.text(signOff) == Self.foundation(signOff)) }
        for target in i3.working.targets { #expect(try CanonicalJSON.text(target) == Self.foundation(target)) }

        let log = events.map { (position: $0.position, event: $0.event) }
        let query = I3Query(
            from: try #require(BusinessDate("2000-01-01")), to: try #require(BusinessDate("2100-12-31")))
        let rows = I3Reference.organisations(log, query: query, cutoff: Int64(count)).rows
        #expect(!rows.isEmpty)
        #expect(try CanonicalJSON.text(rows) == Self.foundation(rows))
        let writer = I3OrganisationList(query: query, filter: I3RowFilter(), format: .json)
        let elements = String(try Self.foundation(rows).dropFirst().dropLast())
        #expect(writer.rows(rows[...], index: 0) == elements)
    }

    @Test("COPY's text format carries any text: every hostile field reads back as written, NULL as NULL")
    func copyText() async throws {
        let db = try await TestDatabase.make()
        var hostile = JSONCodingHostile(state: 9)
        var fields: [String?] = ["", "\\N", "\\", "\t", "a\tb\nc\rd", "\\.", "line\n\\.\n", nil]
        for _ in 0..<300 { fields.append(hostile.text()) }
        var rows = CopyTextRows()
        for (index, field) in fields.enumerated() { rows.append([String(index), field, nil]) }
        #expect(rows.count == fields.count)
        // The application role may not create tables, temporary ones included.
        let connection = try await db.admin()
        try await connection.query("CREATE TEMPORARY TABLE copied (n integer, t text, u text)")
        let loaded = try await connection.copy(rows, into: "copied (n, t, u)")
        #expect(loaded == fields.count)
        let read = try await connection.query("SELECT n, t, u IS NULL FROM copied ORDER BY n").map {
            ($0.text(0), $0.text(1), try $0.decode(Bool.self, 2))
        }
        #expect(read.count == fields.count)
        for (index, row) in read.enumerated() {
            #expect(row.0 == String(index))
            #expect(row.1 == fields[index], "field \(index): \(String(describing: fields[index]).debugDescription)")
            #expect(row.2)
        }
    }

    /// Every row of the read models' tables, as text, in a fixed order.
    static func tables(_ db: TestDatabase) async throws -> [String: [String]] {
        try await db.pool.withConnection { connection in
            var out: [String: [String]] = [:]
            for (name, sql) in [
                ("entities", "SELECT e::text FROM rm_entities.entities e ORDER BY kind, id"),
                ("profiles", "SELECT p::text FROM rm_i3.profiles p ORDER BY organisation_id"),
                ("accesses", "SELECT a::text FROM rm_i3.accesses a ORDER BY position, organisation_id, channel"),
                ("calls", "SELECT c::text FROM rm_i3.calls c ORDER BY 1"),
                ("rules", "SELECT r::text FROM rm_i3.rules r ORDER BY 1"),
                ("sign_offs", "SELECT s::text FROM rm_i3.sign_offs s ORDER BY 1"),
                ("targets", "SELECT t::text FROM rm_i3.targets t ORDER BY 1"),
            ] {
                out[name] = try await connection.query(PostgresQuery(unsafeSQL: sql)).map { $0.text(0) ?? "NULL" }
            }
            return out
        }
    }

    @Test("a rebuild (COPY into empty tables) writes exactly the rows projecting event by event wrote")
    func rebuildWritesTheSameRows() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        var hostile = JSONCodingHostile(state: 13)
        let cli = CLI(databaseURL: db.appURL)
        for index in 0..<8 {
            let name = hostile.text() + "\t\\" + hostile.text() + "\n"
            let result = try await cli.run([
                "register-organisation", "--organisation-id", "TAB-\(index)", "--name", name, "--country", "KZ",
                "--region-code", "KZ-43", "--settlement", "rural", "--registration-status", "unregistered",
                "--leadership-gender", "women", "--kind", "informalGroup", "--command-id", "tab-\(index)",
            ])
            #expect(result.status == 0, "\(result.stderr)")
        }
        // Readers see a gap-free prefix of the log: wait until every event is in it (a
        // transaction of another test's database can hold the cluster's oldest snapshot).
        let committed = try await db.committedEvents()
        _ = try await db.readAll(after: 0, count: committed.count)
        let runner = ProjectionRunner(pool: db.pool)
        let head = try await runner.sealAndCatchUp()
        #expect(head.position == committed.last?.position)
        let incremental = try await Self.tables(db)
        #expect(incremental["entities"]?.contains { $0.contains("TAB-7") && $0.contains(#"\\t\\\\"#) } == true)
        #expect((incremental["accesses"]?.count ?? 0) > 10 && (incremental["profiles"]?.count ?? 0) > 10)
        try await runner.rebuild()
        let rebuilt = try await Self.tables(db)
        for name in incremental.keys.sorted() {
            #expect(rebuilt[name] == incremental[name], "\(name)")
        }
    }
}
