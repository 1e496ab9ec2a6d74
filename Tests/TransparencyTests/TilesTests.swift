import Crypto
import Foundation
import Testing

@testable import Transparency

/// C2SP tlog-tiles against a transcription of the specification written here: the tile
/// content formula MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]), its partial widths
/// floor(s / 256^l) mod 256, its path form and its entry bundles.
struct TilesTests {
    // MARK: - The specification, transcribed

    /// RFC 6962's MTH over leaf inputs, by its recursive definition.
    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return Array(SHA256.hash(data: [0] + leaves[leaves.startIndex]))
        default:
            var k = 1
            while k * 2 < leaves.count { k *= 2 }
            let start = leaves.startIndex
            return Array(
                SHA256.hash(data: [1] + mth(leaves[start..<(start + k)]) + mth(leaves[(start + k)..<leaves.endIndex])))
        }
    }

    /// The tile (l, n) of a tree of `leaves`, as the specification defines it, with the
    /// width a tree of that size publishes; nil when the tree does not reach it.
    static func specTile(level l: Int, index n: Int, leaves: [[UInt8]]) -> [UInt8]? {
        let span = 1 << (8 * l)
        let available = leaves.count / span - n * 256
        guard available > 0 else { return nil }
        return (0..<min(256, available)).flatMap { i in
            mth(leaves[((n * 256 + i) * span)..<((n * 256 + i + 1) * span)])
        }
    }

    static func leaves(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var generator = SplitMix(seed: seed)
        return (0..<count).map { _ in (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) } }
    }

    // MARK: - Paths

    @Test("paths: the spec's x001/x234/067, partial widths, and only canonical forms parse")
    func paths() {
        #expect(Tiles.indexPath(1_234_067) == "x001/x234/067")
        #expect(Tiles.indexPath(0) == "000")
        #expect(Tiles.indexPath(999) == "999")
        #expect(Tiles.indexPath(1000) == "x001/000")
        #expect(Tiles.Tile(level: 0, index: 1_234_067, width: 17).path == "tile/0/x001/x234/067.p/17")
        #expect(Tiles.Tile(level: 2, index: 5).path == "tile/2/005")
        #expect(Tiles.Tile(level: 0, index: 3, width: 1, entries: true).path == "tile/entries/003.p/1")
        var generator = SplitMix(seed: 7)
        for _ in 0..<500 {
            let tile = Tiles.Tile(
                level: Int.random(in: 0...2, using: &generator),
                index: Int64.random(in: 0...99_999_999, using: &generator),
                width: Int.random(in: 1...256, using: &generator), entries: Bool.random(using: &generator))
            let canonical =
                tile.entries ? Tiles.Tile(level: 0, index: tile.index, width: tile.width, entries: true) : tile
            #expect(Tiles.parse(Substring(canonical.path)) == canonical, "\(canonical.path)")
        }
        for bad in [
            "tile/00/000", "tile/0/1234", "tile/0/x001", "tile/0/01", "tile/0/000.p/0", "tile/0/000.p/256",
            "tile/0/000.p/07", "tile/8/000", "tile/0/x000/001", "tile/entries/000.p/", "tile/0/001.p", "tile/0/",
            "tile/-1/000", "tile/0/000/", "tiles/0/000", "tile/0/x1/000", "tile/0/00a", "tile/0/x001/x002",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
        ] {
            #expect(Tiles.parse(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("the spec's example: a tree of 70,000 leaves, and one of 256")
    func example() {
        let tiles = Tiles.tiles(forSize: 70_000)
        #expect(tiles.filter { $0.level == 0 && $0.isFull }.count == 273)
        #expect(tiles.filter { $0.level == 0 && !$0.isFull }.map(\.width) == [112])
        #expect(tiles.filter { $0.level == 1 && $0.isFull }.count == 1)
        #expect(tiles.filter { $0.level == 1 && !$0.isFull }.map(\.width) == [17])
        #expect(tiles.filter { $0.level == 2 }.map(\.width) == [1])
        #expect(tiles.count == 273 + 1 + 1 + 1 + 1)
        #expect(
            Tiles.tiles(forSize: 256) == [Tiles.Tile(level: 0, index: 0), Tiles.Tile(level: 1, index: 0, width: 1)])
        #expect(Tiles.tiles(forSize: 0).isEmpty)
        #expect(Tiles.bundles(forSize: 70_000).count == 274)
    }

    // MARK: - Content and clients

    /// The tiles a builder's complete subtrees give (what the database stores), for sizes
    /// from 1 to 70,000, equal the transcription's; a client reading only tiles gets every
    /// root, and proofs that verify against it.
    @Test("tiles from stored subtrees equal the spec's; a client of tiles alone reproduces roots and proofs")
    func content() throws {
        var generator = SplitMix(seed: 11)
        let sizes =
            [1, 2, 255, 256, 257, 511, 65_535, 65_536, 70_000]
            + (0..<4).map { _ in Int.random(in: 3...9_000, using: &generator) }
        let all = Self.leaves(70_000, seed: 3)
        var builder = MerkleBuilder()
        var stored: [Merkle.Node: Merkle.Hash] = [:]
        var roots: [Int: Merkle.Hash] = [:]
        for (offset, leaf) in all.enumerated() {
            for (node, hash) in builder.append(leafInput: leaf) { stored[node] = hash }
            if sizes.contains(offset + 1) { roots[offset + 1] = builder.root }
        }
        /// A tile as the server reads it: the stored subtrees of height 8l, `width` of them.
        func served(_ tile: Tiles.Tile, size: Int) -> [UInt8]? {
            guard let leaves = tile.leaves, leaves.upperBound <= Int64(size) else { return nil }
            let first = tile.index * 256
            return (0..<Int64(tile.width)).flatMap {
                stored[Merkle.Node(level: 8 * tile.level, index: first + $0)] ?? []
            }
        }
        for size in sizes {
            let leaves = Array(all.prefix(size))
            for tile in Tiles.tiles(forSize: Int64(size)) {
                #expect(
                    served(tile, size: size)
                        == Self.specTile(level: tile.level, index: Int(tile.index), leaves: leaves),
                    "size \(size), \(tile.path)")
            }
            let fetch = { (tile: Tiles.Tile) in served(tile, size: size) }
            let root = try #require(roots[size])
            #expect(Tiles.subtreeHash(0..<Int64(size), size: Int64(size), fetch: fetch) == root, "root of \(size)")
            #expect(root == Self.mth(leaves[...]))
            for index in [0, size / 3, size - 1] {
                let proof = Merkle.inclusionRanges(index: Int64(index), size: Int64(size)).compactMap {
                    Tiles.subtreeHash($0, size: Int64(size), fetch: fetch)
                }
                #expect(
                    Merkle.verifyInclusion(
                        leafHash: Merkle.leafHash(leaves[index]), index: Int64(index), size: Int64(size), proof: proof,
                        root: root), "inclusion of \(index) in \(size)")
            }
            for older in sizes where older < size {
                let proof = Merkle.consistencyRanges(from: Int64(older), to: Int64(size)).compactMap {
                    Tiles.subtreeHash($0, size: Int64(size), fetch: fetch)
                }
                let olderRoot = try #require(roots[older])
                #expect(
                    Merkle.verifyConsistency(
                        fromSize: Int64(older), fromRoot: olderRoot, toSize: Int64(size), toRoot: root, proof: proof),
                    "consistency \(older) → \(size)")
            }
        }
        // A partial tile of a later, larger tree does not stand in for the full one.
        #expect(Tiles.subtreeHash(0..<300, size: 300, fetch: { _ in nil }) == nil)
    }

    @Test("entry bundles: big-endian uint16 lengths, read back exactly; a cut bundle is refused")
    func bundles() {
        let entries = Self.leaves(5, seed: 5) + [[], [7]]
        let bytes = Tiles.bundle(entries)
        #expect(bytes.count == 5 * 34 + 2 + 3)
        #expect(Array(bytes.prefix(2)) == [0, 32])
        #expect(Tiles.entries(ofBundle: bytes) == entries)
        #expect(Tiles.entries(ofBundle: Array(bytes.dropLast())) == nil)
        #expect(Tiles.entries(ofBundle: [0]) == nil)
        #expect(Tiles.entries(ofBundle: []) == [])
    }
}
