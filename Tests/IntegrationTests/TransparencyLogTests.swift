import EventStore
import Foundation
import GrantDomain
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import Projections
import Testing
import Transparency

@testable import TestSupport

@Suite("Transparency log: the Merkle tree in PostgreSQL, checkpoints, proofs, tampering")
struct TransparencyLogTests {
    /// The sealed events' positions and content hashes, in position order.
    func sealedHashes(_ db: TestDatabase) async throws -> [(position: Int64, hash: [UInt8])] {
        try await db.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT e.position, e.hash FROM events e
                JOIN chain_hashes(0, (SELECT position FROM chain_head())) c USING (position) ORDER BY e.position
                """
            ).map { (try $0.decode(Int64.self, 0), try $0.decode([UInt8].self, 1)) }
        }
    }

    /// RFC 9162's root of the first n sealed events, for every n, computed in Swift.
    static func roots(_ sealed: [(position: Int64, hash: [UInt8])]) -> [Merkle.Hash] {
        var builder = MerkleBuilder()
        return sealed.map { event in
            builder.append(leafInput: event.hash)
            return builder.root
        }
    }

    @Test("the stored tree is RFC 9162's tree over the sealed events at every size, across gaps and several seals")
    func storedTree() async throws {
        let db = try await TestDatabase.make()
        let admin = try await db.admin()
        for index in 1...150 {
            // Positions with gaps: the leaf index is the rank, not the position.
            if index % 37 == 0 { try await admin.query("SELECT nextval('events_position_seq')") }
            _ = try await db.store.append([event("s-\(index % 7)", "E", #"{"i":\#(index)}"#)])
            if index % 20 == 0 { try await db.store.seal() }
        }
        _ = try await db.readAll(after: 0, count: 150)
        try await db.store.seal()
        let sealed = try await sealedHashes(db)
        #expect(sealed.count == 150)
        #expect(sealed.last?.position == 154)

        let roots = Self.roots(sealed)
        try await db.pool.withConnection { connection in
            #expect(try await StoreSession(connection: connection).treeSize() == 150)
            for size in 1...150 {
                #expect(
                    try await StoreSession(connection: connection).root(size: Int64(size)) == roots[size - 1],
                    "size \(size)")
            }
            // The tree at a position names the events up to it.
            let atGap = try await StoreSession(connection: connection).treeHead(atOrBefore: sealed[40].position)
            #expect(atGap.treeSize == 41)
            #expect(atGap.rootHash == Data(roots[40]).base64EncodedString())
        }
        var generator = SeededGenerator(state: 7)
        for _ in 0..<200 {
            let size = Int64.random(in: 1...150, using: &generator)
            let index = Int64.random(in: 0..<size, using: &generator)
            let proof = try await db.store.inclusionProof(position: sealed[Int(index)].position, treeSize: size)
            #expect(proof.leafIndex == index)
            #expect(proof.leafInputBytes == sealed[Int(index)].hash)
            #expect(throws: Never.self) { try proof.verify(root: roots[Int(size) - 1]) }
            let from = Int64.random(in: 1...size, using: &generator)
            let consistency = try await db.store.consistencyProof(from: from, to: size)
            #expect(throws: Never.self) {
                try consistency.verify(fromRoot: roots[Int(from) - 1], toRoot: roots[Int(size) - 1])
            }
        }
        // Asking for what does not exist is refused, not answered wrongly.
        await #expect(throws: ProofRequestError.self) { try await db.store.inclusionProof(position: 37) }
        await #expect(throws: ProofRequestError.self) { try await db.store.inclusionProof(position: 1, treeSize: 151) }
        await #expect(throws: ProofRequestError.self) { try await db.store.consistencyProof(from: 10, to: 9) }
        #expect((try await db.store.verify()).tree.rootHash == Data(roots[149]).base64EncodedString())
    }

    /// Seal sizes that make one seal complete the group the tree ended inside, whole groups
    /// after it, and start a group it leaves open (sql/032_merkle_extend_without_sort.sql).
    @Test(
        "seals of uneven sizes: each completes the group the tree ended inside, whole groups and a partial one; every root is RFC 9162's"
    )
    func unevenSeals() async throws {
        let db = try await TestDatabase.make()
        var appended = 0
        for (round, size) in [1, 5, 40, 16, 3, 33, 64, 2].enumerated() {
            let events = (0..<size).map { event("u-\(round)", "E", #"{"i":\#(appended + $0)}"#) }
            _ = try await db.store.append(events)
            appended += size
            _ = try await db.readAll(after: 0, count: appended)
            #expect(try await db.store.seal().position == Int64(appended))
        }
        let sealed = try await sealedHashes(db)
        #expect(sealed.count == appended)
        let roots = Self.roots(sealed)
        try await db.pool.withConnection { connection async throws in
            #expect(try await StoreSession(connection: connection).treeSize() == Int64(appended))
            for size in 1...appended {
                #expect(
                    try await StoreSession(connection: connection).root(size: Int64(size)) == roots[size - 1],
                    "size \(size)")
            }
        }
        // Only the owner extends the tree, and not with fewer hashes than positions.
        let owner = try await db.owner()
        await #expect(throws: PostgresError.self) {
            try await owner.query("SELECT merkle_extend(ARRAY[1000, 1001]::bigint[], ARRAY['\\x00'::bytea])")
        }
        #expect(try await db.store.verify().ok)
    }

    /// Statistics taken while `merkle_nodes` was empty once made each level of a large seal a
    /// nested loop of whole-table scans (sql/032_merkle_extend_without_sort.sql).
    @Test("sealing reads the stored tree by key only, even on statistics taken while it was empty")
    func sealingReadsByKey() async throws {
        let db = try await TestDatabase.make()
        // Statistics of the empty tables, kept (no autovacuum) while the tree grows.
        let owner = try await db.owner()
        try await owner.query("ALTER TABLE merkle_nodes SET (autovacuum_enabled = false)")
        try await owner.query("ALTER TABLE merkle_groups SET (autovacuum_enabled = false)")
        try await owner.query("ANALYZE merkle_nodes, merkle_groups")
        let relations = ["merkle_nodes", "merkle_groups", "merkle_nodes_pkey"]
        var appended = 0
        func seal(_ size: Int, _ settings: [PostgresQuery]) async throws -> [String: Int64] {
            _ = try await db.store.append((0..<size).map { event("k-\(appended + $0 % 3)", "E", #"{"i":\#($0)}"#) })
            appended += size
            _ = try await db.readAll(after: 0, count: appended)
            return try await AppendRunTests.scans(
                db, settings, of: relations, running: "SELECT position FROM seal_events()")
        }
        // The first seal starts the tree; the next ones start at odd nodes, whose left
        // siblings are read back by key.
        for size in [1_000, 1_040, 272] {
            let counted = try await seal(size, [])
            #expect(counted.count == relations.count, "\(counted)")
            for table in ["merkle_nodes", "merkle_groups"] {
                #expect(counted[table] == 0, "\(table) read whole: \(counted)")
            }
        }
        // On the same statistics, the self-join sql/017 computed each level with reads the
        // table whole.
        let joined = try await AppendRunTests.scans(
            db, [], of: relations,
            running: """
                SELECT count(*) FROM merkle_nodes l
                JOIN merkle_nodes r ON r.level = 4 AND r.node_index = l.node_index + 1
                WHERE l.level = 4 AND l.node_index % 2 = 0
                """)
        #expect((joined["merkle_nodes"] ?? 0) > 0, "\(joined)")
        try await db.pool.withConnection { connection async throws in
            #expect(try await StoreSession(connection: connection).treeSize() == Int64(appended))
        }
        #expect(try await db.store.verify().ok)
    }

    @Test(
        "every exported line gives its stored hash offline, Kazakh text and encrypted names included; an altered line does not"
    )
    func exportedHashes() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        // Names are ciphertext in the log (docs/domain.md §15); Kazakh text in clear, too.
        let note = try await db.store.append([
            NewEvent(
                streamID: "note-1", type: "NoteRecorded", data: #"{"text": "Қазақстан: әйелдер ұйымы, ы"}"#,
                metadata: "{}")
        ])
        // Visible to readers once no older transaction of the cluster is open.
        _ = try await db.readAll(after: (note.events.first?.position ?? 1) - 1, count: 1)
        let lines = NIOLockedLines()
        try await db.store.export(write: { lines.append($0) })
        let all = lines.all
        #expect(all.count > 300)
        #expect(all.contains { $0.contains("Қ") && $0.contains("ә") })
        #expect(all.filter { $0.contains("\"encrypted\"") }.count > 100)
        for line in all {
            let exported = try ExportedEvent(line: line)
            #expect(exported.recomputedHash == exported.statedHash, "position \(exported.position)")
        }
        let altered = try ExportedEvent(
            line: all[10].replacingOccurrences(of: "\"streamVersion\":", with: "\"streamVersion\":1"))
        #expect(altered.recomputedHash != altered.statedHash)
    }

    /// The three rewrites of the issue, each made consistent (hashes, chain and tree rebuilt)
    /// by a superuser with the append-only triggers off.
    enum Rewrite: String, CaseIterable, Sendable {
        case alterEvent, deleteNewest, insertInMiddle
    }

    @Test(
        "a consistent rewrite passes a check of the rows alone, but not a held checkpoint", arguments: Rewrite.allCases)
    func tampering(_ rewrite: Rewrite) async throws {
        let db = try await TestDatabase.make()
        for index in 1...30 {
            _ = try await db.store.append([event("s-\(index % 4)", "E", #"{"i":\#(index)}"#)])
        }
        _ = try await db.readAll(after: 0, count: 30)
        let signer = try NoteSigner(generatingNamed: "tamper.example/log")
        let head = try await db.store.treeHead()
        let heldNote = try Checkpoint(
            origin: signer.name, treeSize: head.treeSize, rootHash: Array(Data(base64Encoded: head.rootHash) ?? Data())
        ).signed(by: signer)
        let held = try Checkpoint.open(heldNote, verifier: signer.verifier)
        #expect(held.treeSize == 30)
        // What a grantee holds: the event's position and hash (its receipt), and its proof then.
        let original = try await db.store.inclusionProof(position: rewrite == .deleteNewest ? 28 : 12)
        #expect(throws: Never.self) { try original.verify(root: held.rootHash) }

        let admin = try await db.admin()
        try await admin.query("SET session_replication_role = replica")
        switch rewrite {
        case .alterEvent:
            try await admin.query(#"UPDATE events SET data = '{"i": 999}' WHERE position = 12"#)
        case .deleteNewest:
            try await admin.query("DELETE FROM events WHERE position > 25")
        case .insertInMiddle:
            try await admin.query("UPDATE events SET position = -position WHERE position > 10")
            try await admin.query("UPDATE events SET position = 1 - position WHERE position < 0")
            try await admin.query(
                """
                INSERT INTO events (position, stream_id, stream_version, event_id, type, data, metadata,
                                    recorded_at, transaction_id, hash)
                SELECT 11, 's-new', 1, gen_random_uuid(), 'E', '{"i": 0}', '{}', recorded_at, transaction_id, hash
                FROM events WHERE position = 10
                """)
        }
        // Make everything consistent again: hashes, chain and tree from the rewritten rows.
        try await TestDatabase.makeConsistent(admin)

        // The rows alone look fine: the rewrite is consistent.
        let rows = try await db.store.verify()
        #expect(rows.ok, "\(rows.problem ?? "")")
        // A held checkpoint is not: the log did not only grow.
        let against = try await db.store.extends(held, verified: rows)
        #expect(!against.ok)
        #expect(against.problem?.contains("held checkpoint") == true)
        // Offline, with a consistency proof the rewritten database makes: it does not join.
        let now = try await db.store.treeHead()
        if now.treeSize >= held.treeSize {
            let proof = try await db.store.consistencyProof(from: held.treeSize, to: now.treeSize)
            #expect(throws: TransparencyError.self) {
                try proof.verify(fromRoot: held.rootHash, toRoot: Array(Data(base64Encoded: now.rootHash) ?? Data()))
            }
        } else {
            await #expect(throws: ProofRequestError.self) {
                try await db.store.consistencyProof(from: held.treeSize, to: now.treeSize)
            }
        }
        // The original event can no longer be proved in the rewritten log.
        let newRoot = Array(Data(base64Encoded: now.rootHash) ?? Data())
        guard let input = original.leafInputBytes else { throw TestSetupError(message: "no leaf input") }
        do {
            let proof = try await db.store.inclusionProof(position: original.position)
            let path = proof.proof.compactMap { Data(base64Encoded: $0).map(Array.init) }
            #expect(
                !Merkle.verifyInclusion(
                    leafHash: Merkle.leafHash(input), index: original.leafIndex, size: proof.treeSize, proof: path,
                    root: newRoot))
        } catch let error as ProofRequestError {
            #expect(rewrite == .deleteNewest, "\(error)")
        }
    }

    @Test("an export imported elsewhere has the same tree: its checkpoints have the same root")
    func importKeepsTheTree() async throws {
        let source = try await TestDatabase.make()
        try await source.importSample()
        let lines = NIOLockedLines()
        try await source.store.export(write: { lines.append($0) })
        let target = try await TestDatabase.make()
        _ = try await StoreSession(connection: try await target.owner()).importArchive(lines.all.map { Substring($0) })
        let (a, b) = (try await source.store.treeHead(), try await target.store.treeHead())
        #expect(a == b)
        #expect(a.treeSize == Int64(lines.all.count))
        #expect((try await target.store.verify()).ok)
    }
}

/// Lines collected from a `@Sendable` writer.
final class NIOLockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite("Transparency log over HTTP and the CLI")
struct TransparencyLogInterfaceTests {
    @Test("the published checkpoint, receipts in command answers, and proofs that check against both")
    func overHTTP() async throws {
        let signer = try NoteSigner(generatingNamed: "http.example/log")
        let base = try await HTTPFixture.make()
        let fixture = HTTPFixture(db: base.db, tokens: base.tokens, signer: signer)
        let app = fixture.application
        try await app.test(.router) { client in
            // Anyone may read the checkpoint; it opens with the verifier key.
            let first = try await client.execute(uri: "/v1/audit/checkpoint", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                return try Checkpoint.open(String(buffer: response.body), verifier: signer.verifier)
            }
            #expect(first.treeSize == Int64(TestDatabase.sampleCommands.count))
            let sealed = try await fixture.db.store.treeHead()
            #expect(first.treeSize == sealed.treeSize)
            #expect(Data(first.rootHash).base64EncodedString() == sealed.rootHash)

            // An accepted command carries a receipt per event, signed by the log.
            let command =
                #"{"command":"closeCall","callId":"CSOLA-2025-LA","closedOn":"2026-12-31","commandId":"receipt-1"}"#
            let answer = try await client.execute(
                uri: "/v1/commands", method: .post,
                headers: fixture.headers(.manager, [.contentType: "application/json"]),
                body: ByteBuffer(string: command)
            ) { response in
                #expect(response.status == .created, "\(String(buffer: response.body))")
                return json(response.body)
            }
            let event = try #require((answer["events"] as? [[String: Any]])?.first)
            let receipt = try Receipt.open(try #require(event["receipt"] as? String), verifier: signer.verifier)
            #expect(receipt.position == event["position"] as? Int64 ?? Int64(event["position"] as? Int ?? 0))
            #expect(Hex.encode(receipt.hash) == event["hash"] as? String)
            #expect(receipt.recordedAt == event["recordedAt"] as? String)

            // Later: the proof of that event, against a tree that holds it.
            _ = try await fixture.db.readAll(after: receipt.position - 1, count: 1)
            let proof = try await client.execute(
                uri: "/v1/audit/proof/inclusion?position=\(receipt.position)", method: .get,
                headers: fixture.headers(.auditor)
            ) { response in
                #expect(response.status == .ok)
                return try JSONDecoder().decode(InclusionProof.self, from: Data(String(buffer: response.body).utf8))
            }
            #expect(proof.leafInputBytes == receipt.hash)
            let root = try await fixture.db.pool.withConnection {
                try await StoreSession(connection: $0).root(size: proof.treeSize)
            }
            #expect(throws: Never.self) { try proof.verify(root: root) }
            // ... and the tree that holds it extends the first checkpoint.
            let consistency = try await client.execute(
                uri: "/v1/audit/proof/consistency?from=\(first.treeSize)&to=\(proof.treeSize)", method: .get,
                headers: fixture.headers(.auditor)
            ) { response in
                #expect(response.status == .ok)
                return try JSONDecoder().decode(ConsistencyProof.self, from: Data(String(buffer: response.body).utf8))
            }
            #expect(throws: Never.self) { try consistency.verify(fromRoot: first.rootHash, toRoot: root) }

            // Refusals: roles, and what cannot be proved.
            for (uri, role, status) in [
                ("/v1/audit/proof/inclusion?position=1", Role.viewer, HTTPResponse.Status.forbidden),
                ("/v1/audit/proof/inclusion?position=1", nil, .unauthorized),
                ("/v1/audit/proof/inclusion", .auditor, .badRequest),
                ("/v1/audit/proof/inclusion?position=0", .auditor, .badRequest),
                ("/v1/audit/proof/inclusion?position=1e3", .auditor, .badRequest),
                ("/v1/audit/proof/inclusion?position=99999", .auditor, .notFound),
                // Trees that do not exist (yet): 404, since the document allows the sizes.
                ("/v1/audit/proof/inclusion?position=5&treeSize=4", .auditor, .notFound),
                ("/v1/audit/proof/inclusion?position=5&treeSize=9223372036854775807", .auditor, .notFound),
                ("/v1/audit/proof/inclusion?position=99999999999999999999", .auditor, .badRequest),
                ("/v1/audit/proof/consistency?from=5&to=4", .auditor, .notFound),
                ("/v1/audit/proof/consistency", .auditor, .badRequest),
                ("/v1/audit/proof/consistency?from=1", .manager, .forbidden),
                ("/v1/grants/GR-02/history", .manager, .forbidden),
                ("/v1/grants/NOPE/history", .auditor, .notFound),
                ("/v1/grants/GR-02/history?related=yes", .auditor, .badRequest),
            ] {
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(role)) {
                    #expect($0.status == status, "\(uri) as \(role?.rawValue ?? "anonymous")")
                }
            }

            // A grant's history with its sub-grants, every event provable.
            let history = try await client.execute(
                uri: "/v1/grants/GR-02/history?related=true", method: .get, headers: fixture.headers(.auditor)
            ) { response in
                #expect(response.status == .ok)
                return json(response.body)
            }
            let events = try #require(history["events"] as? [[String: Any]])
            #expect(events.contains { $0["type"] as? String == "GrantAwarded" && $0["related"] as? Bool == false })
            #expect(events.contains { $0["type"] as? String == "SubGrantAwarded" && $0["related"] as? Bool == true })
            let asOf = try #require(history["asOf"] as? [String: Any])
            #expect(asOf["treeSize"] as? Int == Int(proof.treeSize))
            #expect(asOf["rootHash"] as? String == Data(root).base64EncodedString())
            // In pages of 2, the same events, and `next` null on the last page.
            var paged: [Int] = []
            var after = 0
            for _ in 0..<100 {
                let page = try await client.execute(
                    uri: "/v1/grants/GR-02/history?related=true&limit=2&after=\(after)", method: .get,
                    headers: fixture.headers(.auditor)
                ) { json($0.body) }
                let positions = (page["events"] as? [[String: Any]] ?? []).compactMap { $0["position"] as? Int }
                #expect(positions.count <= 2)
                paged += positions
                guard let next = page["next"] as? Int else { break }
                #expect(next == positions.last)
                after = next
            }
            #expect(paged == events.compactMap { $0["position"] as? Int })
            // Every listed event is provable at the leaf the history names.
            for entry in events.prefix(5) {
                let position = try #require(entry["position"] as? Int)
                let proved = try await fixture.db.store.inclusionProof(position: Int64(position))
                #expect(entry["leafIndex"] as? Int == Int(proved.leafIndex))
            }

            // Published figures name their tree head: the I.3 report at a past position, and
            // the sample's sign-off, recorded with the tree at its position.
            let report = try await client.execute(
                uri: "/v1/indicators/i3?from=2024-01-01&to=2026-12-31&asOf=300", method: .get,
                headers: fixture.headers(.viewer)
            ) { json($0.body) }
            let signOff = try await client.execute(
                uri: "/v1/indicators/i3/sign-offs/I3-2025-ANNUAL", method: .get, headers: fixture.headers(.viewer)
            ) { json($0.body) }
            for (answer, position) in [(report, 300), (signOff, 367)] {
                let asOf = try #require(answer["asOf"] as? [String: Any], "\(answer)")
                let head = try await fixture.db.pool.withConnection {
                    try await StoreSession(connection: $0).treeHead(atOrBefore: Int64(position))
                }
                #expect(asOf["position"] as? Int == position)
                #expect(asOf["treeSize"] as? Int == position)
                #expect(asOf["treeSize"] as? Int == Int(head.treeSize))
                #expect(asOf["rootHash"] as? String == head.rootHash)
            }
        }
        // Without a key there is no checkpoint and no receipt.
        let unsigned = HTTPFixture(db: fixture.db, tokens: fixture.tokens)
        try await unsigned.application.test(.router) { client in
            try await client.execute(uri: "/v1/audit/checkpoint", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("keygen, checkpoint, prove, consistency and check from the CLI; a tampered proof, event or key exits 21")
    func overCLI() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let cli = CLI(databaseURL: db.appURL)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-tlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        }

        let keygen = try await cli.run(["audit", "keygen", "--name", "cli.example/log", "--out", path("log.key")])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let verifierKey = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try NoteVerifier(verifierKey).name == "cli.example/log")
        let mode = try FileManager.default.attributesOfItem(atPath: path("log.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // An existing key is never overwritten.
        let again = try await cli.run(["audit", "keygen", "--name", "cli.example/log", "--out", path("log.key")])
        #expect(again.status == 12)
        // A key others can read is refused.
        try write("open.key", try String(contentsOfFile: path("log.key"), encoding: .utf8))
        chmod(path("open.key"), 0o644)
        let loose = try await cli.run(["audit", "checkpoint", "--log-key", path("open.key")])
        #expect(loose.status != 0)
        #expect(loose.stderr.contains("chmod 600"))

        let checkpoint = try await cli.run(["audit", "checkpoint", "--log-key", path("log.key")])
        #expect(checkpoint.status == 0, "\(checkpoint.stderr)")
        try write("old.checkpoint", checkpoint.stdout)
        let sample = TestDatabase.sampleCommands.count  // one event each
        #expect(checkpoint.stdout.hasPrefix("cli.example/log\n\(sample)\n"))

        // A command recorded with the key answers with a receipt.
        let recorded = try await cli.run([
            "close-call", "--call-id", "CSOLA-2025-LA", "--closed-on", "2026-12-31", "--format", "json", "--log-key",
            path("log.key"),
        ])
        #expect(recorded.status == 0, "\(recorded.stderr)")
        let event = try #require((try cli.json(recorded)["events"] as? [[String: Any]])?.first)
        let position = try #require(event["position"] as? Int)
        try write("receipt", try #require(event["receipt"] as? String))
        _ = try await db.readAll(after: Int64(position) - 1, count: 1)

        let newer = try await cli.run(["audit", "checkpoint", "--log-key", path("log.key")])
        try write("new.checkpoint", newer.stdout)
        let size = try Checkpoint(body: String(newer.stdout.prefix { $0 != "\u{2014}" }.dropLast())).treeSize
        #expect(size == Int64(sample + 1))
        let prove = try await cli.run(["audit", "prove", "--position", "\(position)", "--tree-size", "\(size)"])
        #expect(prove.status == 0, "\(prove.stderr)")
        try write("inclusion.json", prove.stdout)
        let consistency = try await cli.run(["audit", "consistency", "--from", "\(sample)"])
        #expect(consistency.status == 0, "\(consistency.stderr)")
        try write("consistency.json", consistency.stdout)
        let export = try await cli.run(["audit", "export"])
        let line = try #require(
            export.stdout.split(separator: "\n").first { $0.hasPrefix("{\"position\":\(position),") })
        try write("event.json", String(line))

        let check = [
            "audit", "check", "--verifier-key", verifierKey, "--checkpoint", path("new.checkpoint"), "--inclusion",
            path("inclusion.json"), "--event", path("event.json"), "--receipt", path("receipt"), "--consistency",
            path("consistency.json"), "--old-checkpoint", path("old.checkpoint"),
        ]
        // No database is needed: the URL points nowhere.
        let offline = CLI(databaseURL: "postgresql://nobody@127.0.0.1:1/none")
        let passed = try await offline.run(check)
        #expect(passed.status == 0, "\(passed.stdout)\(passed.stderr)")
        #expect(passed.stdout.contains("only grew from \(sample) to \(sample + 1)"))

        // Each altered input fails, naming what.
        let otherKey = try NoteSigner(generatingNamed: "cli.example/log").verifier.text
        try write("bad-event.json", String(line).replacingOccurrences(of: "CSOLA-2025-LA", with: "EIDHR-2024"))
        let proofJSON = try String(contentsOfFile: path("inclusion.json"), encoding: .utf8)
        try write(
            "bad-inclusion.json",
            proofJSON.replacingOccurrences(of: "\"leafIndex\":\(position - 1)", with: "\"leafIndex\":3"))
        try write(
            "bad-checkpoint", newer.stdout.replacingOccurrences(of: "\n\(sample + 1)\n", with: "\n\(sample + 2)\n"))
        for (index, value, what) in [
            (2, otherKey, "checkpoint"),
            (4, path("bad-checkpoint"), "checkpoint"),
            (6, path("bad-inclusion.json"), "inclusion"),
            (8, path("bad-event.json"), "inclusion"),
            (10, path("old.checkpoint"), "inclusion"),  // a receipt that is no receipt
            (14, path("new.checkpoint"), "consistency"),  // the wrong old checkpoint
        ] {
            var arguments = check
            arguments[index + 1] = value
            let failed = try await offline.run(arguments)
            #expect(failed.status == 21, "\(arguments[index]) \(value): \(failed.stdout)")
            #expect(failed.stdout.contains("FAILED: \(what)"), "\(failed.stdout)")
        }

        // audit verify against the held checkpoint: passes, then fails once history is rewritten.
        let verify = try await cli.run([
            "audit", "verify", "--checkpoint", path("old.checkpoint"), "--verifier-key", verifierKey,
        ])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("extends the held checkpoint of \(sample) leaves"))
        let admin = try await db.admin()
        try await admin.query("SET session_replication_role = replica")
        try await admin.query(#"UPDATE events SET metadata = '{"actor": "someone else"}' WHERE position = 100"#)
        try await TestDatabase.makeConsistent(admin)
        let rewritten = try await cli.run([
            "audit", "verify", "--checkpoint", path("old.checkpoint"), "--verifier-key", verifierKey,
        ])
        #expect(rewritten.status == 21, "\(rewritten.stdout)")
        #expect(rewritten.stdout.contains("not an extension of the held checkpoint"))
        let plain = try await cli.run(["audit", "verify"])
        #expect(plain.status == 0, "the rows alone are consistent: \(plain.stdout)")
    }

    @Test(
        "the history of every entity of a random history lists exactly its stream; --related matches a scan of the log")
    func histories() async throws {
        let (_, db, _) = try await HistoryGenerator.recorded(seed: 11, steps: 160)
        let all = try await db.pool.withConnection { connection in
            try await connection.query("SELECT position, stream_id, data::text FROM events ORDER BY position").map {
                (
                    position: try $0.decode(Int64.self, 0), stream: try $0.decode(String.self, 1),
                    data: (try? JSONSerialization.jsonObject(with: Data(try $0.decode(String.self, 2).utf8)))
                        as? [String: Any] ?? [:]
                )
            }
        }
        let queries = EntityQueries(pool: db.pool)
        let prefixes: [(EntityKind, String)] = [
            (.organisation, "organisation-"), (.call, "call-"), (.consortium, "consortium-"),
            (.application, "application-"), (.grant, "grant-"), (.subGrant, "subgrant-"),
        ]
        var checked = 0
        for (kind, prefix) in prefixes {
            let ids = Set(all.map(\.stream).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) })
            for id in ids.sorted() {
                let own = all.filter { $0.stream == prefix + id }.map(\.position)
                let history = try await queries.history(kind, id, related: false)
                #expect(history.events.map(\.position) == own, "\(kind) \(id)")
                #expect(history.events.allSatisfy { !$0.related })
                // Related, by a direct scan: streams with an event naming the id in the
                // entity's pointer field (or, for organisations, in a members list).
                let pointing = Set(
                    all.filter { row in
                        guard row.stream != prefix + id else { return false }
                        if row.data[kind.pointer] as? String == id { return true }
                        guard kind == .organisation, let members = row.data["members"] as? [[String: Any]] else {
                            return false
                        }
                        return members.contains { $0["organisationId"] as? String == id }
                    }.map(\.stream))
                let expected = all.filter { $0.stream == prefix + id || pointing.contains($0.stream) }.map(\.position)
                let related = try await queries.history(kind, id, related: true)
                #expect(related.events.map(\.position) == expected, "\(kind) \(id) related")
                #expect(related.events.filter { !$0.related }.map(\.position) == own)
                checked += 1
            }
        }
        #expect(checked > 40)
        // A past cut-off lists only what was recorded by then.
        let middle = all[all.count / 2].position
        let someGrant = try #require(all.first { $0.stream.hasPrefix("grant-") })
        let early = try await queries.history(
            .grant, String(someGrant.stream.dropFirst("grant-".count)), related: true, cutOff: .position(middle))
        #expect(early.events.allSatisfy { $0.position <= middle })
        #expect(early.asOf.position <= middle)
    }
}

@Suite("Archives prove their origin")
struct ArchiveOriginTests {
    @Test(
        "audit import --checkpoint refuses a forged archive whose hashes were recomputed; recordedAt is read strictly")
    func forgedArchive() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let cli = CLI(databaseURL: db.appURL)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-archive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        let keygen = try await cli.run(["audit", "keygen", "--name", "archive.example/log", "--out", path("log.key")])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let verifierKey = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await db.verify(reaching: try await db.committedEvents().last?.position ?? 1)
        let checkpoint = try await cli.run(["audit", "checkpoint", "--log-key", path("log.key")])
        try checkpoint.stdout.write(toFile: path("held.checkpoint"), atomically: true, encoding: .utf8)
        let genuine = try await cli.run(["audit", "export"])
        #expect(genuine.status == 0)
        let head = try await db.store.verify().head

        // The forger edits one event and recomputes every hash, the chain and the tree.
        let admin = try await db.admin()
        try await admin.query("SET session_replication_role = replica")
        try await admin.query(
            #"UPDATE events SET data = jsonb_set(data, '{name}', '"Forged name"') WHERE position = (SELECT min(position) FROM events WHERE type = 'OrganisationRegistered')"#
        )
        try await TestDatabase.makeConsistent(admin)
        _ = try await db.store.seal()
        let forged = try await cli.run(["audit", "export"])
        #expect(forged.status == 0)
        #expect(forged.stdout != genuine.stdout)
        try genuine.stdout.write(toFile: path("genuine.jsonl"), atomically: true, encoding: .utf8)
        try forged.stdout.write(toFile: path("forged.jsonl"), atomically: true, encoding: .utf8)

        func importInto(_ file: String, _ extra: [String]) async throws -> CLI.Result {
            let target = try await TestDatabase.make()
            return try await CLI(databaseURL: target.appURL, migrationURL: target.ownerURL).run(
                ["audit", "import", path(file)] + extra)
        }
        let withCheckpoint = ["--checkpoint", path("held.checkpoint"), "--verifier-key", verifierKey]
        let genuineImport = try await importInto("genuine.jsonl", withCheckpoint)
        #expect(genuineImport.status == 0, "\(genuineImport.stderr)")
        #expect(genuineImport.stdout.contains("extends the held checkpoint"))
        let forgedImport = try await importInto("forged.jsonl", withCheckpoint)
        #expect(forgedImport.status == 21, "\(forgedImport.stdout)")
        #expect(forgedImport.stderr.contains("not an extension of the held checkpoint"))
        let forgedByHead = try await importInto("forged.jsonl", ["--expect-head", "\(head.position):\(head.hash)"])
        #expect(forgedByHead.status == 21)
        #expect(forgedByHead.stderr.contains("does not pass through the expected head"))
        let unchecked = try await importInto("forged.jsonl", [])
        #expect(unchecked.status == 0)
        #expect(unchecked.stdout.contains("consistency checked only, not authenticity"))

        // recordedAt is RFC 3339 UTC, or the line is refused before PostgreSQL reads it.
        let lines = genuine.stdout.split(separator: "\n").map(String.init)
        let first = try #require(lines.first)
        let recordedAt = try #require(
            (try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])?["recordedAt"] as? String)
        for hostile in [
            "infinity", "-infinity", "epoch", "now", "2025-01-01T00:00:00", "2025-01-01 00:00:00+00",
            "2025-02-30T00:00:00Z", "2025-01-01T00:00:00+05:00", "0000-01-01T00:00:00Z", "2025-01-01T24:00:00Z",
        ] {
            let edited = ([first.replacingOccurrences(of: recordedAt, with: hostile)] + lines.dropFirst())
                .joined(separator: "\n")
            try edited.write(toFile: path("hostile.jsonl"), atomically: true, encoding: .utf8)
            let refused = try await importInto("hostile.jsonl", [])
            #expect(refused.status == 21, "\(hostile): \(refused.stdout)")
            #expect(refused.stderr.contains("line 1: recordedAt"), "\(hostile): \(refused.stderr)")
        }
    }
}
