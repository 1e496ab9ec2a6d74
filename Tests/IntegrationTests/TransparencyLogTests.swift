import EventStore
import Foundation
import PostgresClient
import Testing
import Transparency

@Suite("Transparency log: the Merkle tree in PostgreSQL, checkpoints, proofs, tampering")
struct TransparencyLogTests {
    /// The sealed events' positions and content hashes, in position order.
    func sealedHashes(_ db: TestDatabase) async throws -> [(position: Int64, hash: [UInt8])] {
        try await db.pool.withConnection { connection in
            try await connection.query(
                "SELECT e.position, e.hash FROM events e JOIN event_chain c USING (position) ORDER BY e.position"
            ).map { (try $0.decode(Int64.self, 0), try $0.decode([UInt8].self, 1)) }
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

        var builder = MerkleBuilder()
        var roots: [Merkle.Hash] = []
        for (_, hash) in sealed {
            builder.append(leafInput: hash)
            roots.append(builder.root)
        }
        try await db.pool.withConnection { connection in
            #expect(try await EventStore.treeSize(on: connection) == 150)
            for size in 1...150 {
                #expect(try await EventStore.root(size: Int64(size), on: connection) == roots[size - 1], "size \(size)")
            }
            // The tree at a position names the events up to it.
            let atGap = try await EventStore.treeHead(atOrBefore: sealed[40].position, on: connection)
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

    @Test(
        "every exported line gives its stored hash offline, Cyrillic and Kazakh names included; an altered line does not"
    )
    func exportedHashes() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let lines = NIOLockedLines()
        try await db.store.export(write: { lines.append($0) })
        let all = lines.all
        #expect(all.count > 300)
        #expect(all.contains { $0.contains("Қ") || $0.contains("ә") || $0.contains("ы") })
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
        try await admin.query(
            """
            UPDATE events SET hash = sha256(convert_to(event_canonical(position, stream_id, stream_version,
                event_id, type, data, metadata, recorded_at), 'UTF8'))
            """)
        try await admin.query("DELETE FROM merkle_nodes")
        try await admin.query("DELETE FROM merkle_leaves")
        try await admin.query("DELETE FROM event_chain")

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
        _ = try await EventStore.importArchive(lines.all.map { Substring($0) }, on: try await target.owner())
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
