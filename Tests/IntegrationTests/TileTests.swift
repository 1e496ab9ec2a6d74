import EventStore
import Foundation
import GrantLedgerHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresClient
import Testing
import Transparency

@testable import TestSupport

/// The log as C2SP tlog-tiles over HTTP, against the sample programme's sealed events: every
/// tile equals the one the tree's own builder gives (itself held to the specification's
/// formula in TilesTests), and a client that reads only the checkpoint and tiles gets the
/// root and proofs.
@Suite("The log as C2SP tlog-tiles")
struct TileRouteTests {
    @Test("checkpoint, tiles and entry bundles without a token; a client of tiles alone gets the root and proofs")
    func overHTTP() async throws {
        let signer = try NoteSigner(generatingNamed: "tiles.example/log")
        let base = try await HTTPFixture.make()
        let fixture = HTTPFixture(db: base.db, tokens: base.tokens, signer: signer)
        // Every event of the sample sealed (the gap-free horizon is the cluster's, so wait).
        let events = try await fixture.db.committedEvents().count
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try await fixture.db.store.treeHead().treeSize == Int64(events)
            })
        let inputs = try await fixture.db.pool.withConnection { connection in
            try await connection.query(
                """
                SELECT e.hash FROM events e
                JOIN chain_hashes(0, (SELECT position FROM chain_head())) c USING (position) ORDER BY e.position
                """
            ).map { try $0.decode([UInt8].self, 0) }
        }
        var builder = MerkleBuilder()
        var built: [Merkle.Node: Merkle.Hash] = [:]
        for input in inputs { for (node, hash) in builder.append(leafInput: input) { built[node] = hash } }
        let nodes = built
        let root = builder.root
        try await fixture.application.test(.router) { client in
            let checkpoint = try await client.execute(uri: "/log/checkpoint", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=5")
                return try Checkpoint.open(String(buffer: response.body), verifier: signer.verifier)
            }
            let size = checkpoint.treeSize
            #expect(size == Int64(inputs.count) && size > 256, "the sample spans a full tile and a partial one")
            #expect(checkpoint.rootHash == root)
            var fetched: [Tiles.Tile: [UInt8]] = [:]
            for tile in Tiles.tiles(forSize: size) {
                let bytes = try await client.execute(uri: "/log/" + tile.path, method: .get) { response in
                    #expect(response.status == .ok, "\(tile.path)")
                    #expect(response.headers[.contentType] == "application/octet-stream")
                    #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                    return Array(response.body.readableBytesView)
                }
                let first = tile.index * Int64(Tiles.fullWidth)
                let expected = (0..<Int64(tile.width)).flatMap {
                    nodes[Merkle.Node(level: 8 * tile.level, index: first + $0)] ?? []
                }
                #expect(bytes == expected, "\(tile.path)")
                fetched[tile] = bytes
            }
            // The second read of a full tile is the same bytes (from memory).
            let again = try await client.execute(uri: "/log/tile/0/000", method: .get) {
                Array($0.body.readableBytesView)
            }
            #expect(again == fetched[Tiles.Tile(level: 0, index: 0)])
            for bundle in Tiles.bundles(forSize: size) {
                let entries = try await client.execute(uri: "/log/" + bundle.path, method: .get) { response in
                    #expect(response.status == .ok, "\(bundle.path)")
                    return Tiles.entries(ofBundle: Array(response.body.readableBytesView))
                }
                let leaves = try #require(bundle.leaves)
                #expect(entries == Array(inputs[Int(leaves.lowerBound)..<Int(leaves.upperBound)]), "\(bundle.path)")
            }
            // A client with the checkpoint and the tiles only.
            let fetch = { (tile: Tiles.Tile) in fetched[tile] }
            #expect(Tiles.subtreeHash(0..<size, size: size, fetch: fetch) == checkpoint.rootHash)
            for index in [Int64(0), 255, 256, size - 1] {
                let proof = Merkle.inclusionRanges(index: index, size: size).compactMap {
                    Tiles.subtreeHash($0, size: size, fetch: fetch)
                }
                #expect(
                    Merkle.verifyInclusion(
                        leafHash: Merkle.leafHash(inputs[Int(index)]), index: index, size: size, proof: proof,
                        root: checkpoint.rootHash), "inclusion of \(index)")
            }
            // What the tree does not hold, and what is not a tile path: 404.
            let partial = Tiles.partialWidth(level: 0, size: size)
            for path in [
                "/log/tile/0/001", "/log/tile/0/005", "/log/tile/1/000", "/log/tile/0/001.p/\(partial + 1)",
                "/log/tile/entries/009", "/log/tile/0/1", "/log/tile/x", "/log/tile/0/000.p/0",
            ] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .notFound, "\(path)") }
            }
        }
    }

    @Test(
        "audit publish --out DIR writes every tile, bundle and the checkpoint as files; a second run keeps full tiles")
    func publish() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let cli = CLI(databaseURL: db.appURL)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-tiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = folder.appendingPathComponent("log.key").path
        let keygen = try await cli.run(["audit", "keygen", "--name", "files.example/log", "--out", key])
        let verifier = try NoteVerifier(keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let out = folder.appendingPathComponent("public")
        let first = try await cli.run(["audit", "publish", "--out", out.path, "--log-key", key])
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoint = try Checkpoint.open(
            try String(contentsOf: out.appendingPathComponent("checkpoint"), encoding: .utf8), verifier: verifier)
        let size = checkpoint.treeSize
        let tiles = Tiles.tiles(forSize: size) + Tiles.bundles(forSize: size)
        #expect(first.stdout.contains("\(tiles.count) tiles and bundles written (0 kept)"), "\(first.stdout)")
        func file(_ tile: Tiles.Tile) -> [UInt8]? {
            (try? Data(contentsOf: out.appendingPathComponent(tile.path))).map { Array($0) }
        }
        for tile in tiles {
            let stored = try await db.store.tile(tile)
            #expect(file(tile) != nil && file(tile) == stored, "\(tile.path)")
        }
        // A client that reads only the files gets the checkpoint's root.
        #expect(Tiles.subtreeHash(0..<size, size: size, fetch: file) == checkpoint.rootHash)
        // Again after the log grew: the full tiles are kept, the rest follows the new size.
        _ = try await db.store.append([event("tiles-more", "Happened")])
        // Sealing waits for the gap-free horizon, which is the cluster's: another test
        // database's long transaction can hold it back for a while.
        #expect(try await eventually(timeout: .seconds(60)) { try await db.store.treeHead().treeSize == size + 1 })
        let second = try await cli.run(["audit", "publish", "--out", out.path, "--log-key", key])
        #expect(second.status == 0, "\(second.stderr)")
        let grown = try Checkpoint.open(
            try String(contentsOf: out.appendingPathComponent("checkpoint"), encoding: .utf8), verifier: verifier)
        #expect(grown.treeSize == size + 1)
        let full = tiles.filter(\.isFull).count
        #expect(second.stdout.contains("(\(full) kept)"), "\(second.stdout)")
        #expect(Tiles.subtreeHash(0..<grown.treeSize, size: grown.treeSize, fetch: file) == grown.rootHash)
        #expect(try await cli.run(["audit", "publish", "--out", out.path]).status == 64)
    }
}
