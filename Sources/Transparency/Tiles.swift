/// The log's Merkle tree as C2SP tlog-tiles publishes it (c2sp.org/tlog-tiles): static,
/// immutable files any HTTP server can serve and any standard client can read.
///
/// - A *hash tile* at level `l`, index `n`, holds up to 256 consecutive Merkle tree hashes
///   of height `8l`: hash `i` is MTH(D[(n·256 + i)·256^l ..< (n·256 + i + 1)·256^l]), so level
///   0 holds leaf hashes. A full tile is 256 hashes (8,192 bytes); the rightmost tile of a
///   level is *partial* (width 1-255) and never hashed into the level above.
/// - An *entry bundle* `n` holds the entries of level 0 tile `n`, each as a big-endian uint16
///   length and its bytes. Here an entry is what the tree's leaf hashes: the event's 32-byte
///   content hash.
/// - Paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, with `<N>` in zero-padded
///   3-digit elements, all but the last prefixed with `x` (`x001/x234/067`).
public enum Tiles {
    /// Hashes in a full tile.
    public static let fullWidth = 256

    /// One tile: its level (`entries` for an entry bundle), index and width (256 when full).
    public struct Tile: Hashable, Sendable, CustomStringConvertible {
        public var level: Int
        public var index: Int64
        public var width: Int
        /// An entry bundle rather than a hash tile (level 0 then).
        public var entries: Bool

        public init(level: Int, index: Int64, width: Int = Tiles.fullWidth, entries: Bool = false) {
            self.level = level
            self.index = index
            self.width = width
            self.entries = entries
        }

        public var isFull: Bool { width == Tiles.fullWidth }

        /// Its path under the log's prefix: `tile/0/x001/234.p/17`, `tile/entries/000`.
        public var path: String {
            "tile/" + (entries ? "entries" : String(level)) + "/" + Tiles.indexPath(index)
                + (isFull ? "" : ".p/\(width)")
        }

        public var description: String { path }

        /// The leaves the tile's hashes cover: [index·256^(level+1), that + width·256^level).
        public var leaves: Range<Int64>? {
            let shift = 8 * level
            guard level >= 0, level < 8, index >= 0, index < (Int64.max >> (shift + 8)) else { return nil }
            let start = index << (shift + 8)
            return start..<(start + Int64(width) << shift)
        }
    }

    /// `n` in zero-padded 3-digit path elements, all but the last prefixed with `x`.
    public static func indexPath(_ n: Int64) -> String {
        var groups: [String] = []
        var rest = n
        repeat {
            let group = String(rest % 1000)
            groups.append(String(repeating: "0", count: 3 - group.count) + group)
            rest /= 1000
        } while rest > 0
        return groups.reversed().enumerated().map { $0.offset == groups.count - 1 ? $0.element : "x" + $0.element }
            .joined(separator: "/")
    }

    /// The tile a path names (after the prefix, starting at `tile/`), or nil when the path is
    /// not exactly the spec's form: `<L>` 0-63 without leading zeros (levels this log can
    /// have: 0-7), `<N>` in 3-digit elements, `<W>` 1-255 without leading zeros.
    public static func parse(_ path: Substring) -> Tile? {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[0] == "tile" else { return nil }
        let entries = parts[1] == "entries"
        var level = 0
        if !entries {
            guard let parsed = canonicalNumber(parts[1]), parsed < 8 else { return nil }
            level = parsed
        }
        parts.removeFirst(2)
        var width = fullWidth
        if parts.count >= 2, parts[parts.count - 1].first != "x", parts[parts.count - 2].hasSuffix(".p") {
            guard let parsed = canonicalNumber(parts[parts.count - 1]), (1..<fullWidth).contains(parsed) else {
                return nil
            }
            width = parsed
            parts.removeLast()
            parts[parts.count - 1] = parts[parts.count - 1].dropLast(2)
        }
        var index: Int64 = 0
        for (offset, part) in parts.enumerated() {
            var digits = part
            if offset < parts.count - 1 {
                guard digits.first == "x" else { return nil }
                digits = digits.dropFirst()
            }
            guard digits.count == 3, digits.utf8.allSatisfy({ (48...57).contains($0) }), let group = Int64(digits),
                index <= (Int64.max - group) / 1000
            else { return nil }
            index = index * 1000 + group
        }
        // One canonical path per tile: no leading all-zero element ("x000/001").
        guard parts.count == 1 || parts[0] != "x000", parts.count <= 7 else { return nil }
        let tile = Tile(level: level, index: index, width: width, entries: entries)
        return tile.leaves == nil ? nil : tile
    }

    /// A decimal number without leading zeros, 0-999.
    private static func canonicalNumber(_ text: Substring) -> Int? {
        guard (1...3).contains(text.count), text.utf8.allSatisfy({ (48...57).contains($0) }),
            text == "0" || text.first != "0"
        else { return nil }
        return Int(text)
    }

    /// The width of level `level`'s partial tile for a tree of `size` leaves:
    /// floor(size / 256^level) mod 256 (0: none).
    public static func partialWidth(level: Int, size: Int64) -> Int {
        Int((size >> (8 * level)) % Int64(fullWidth))
    }

    /// Every hash tile a tree of `size` leaves is published as: the full tiles of each level
    /// and its partial ones.
    public static func tiles(forSize size: Int64) -> [Tile] {
        var tiles: [Tile] = []
        var level = 0
        while level < 8, size >> (8 * level) > 0 {
            let hashes = size >> (8 * level)
            let full = hashes / Int64(fullWidth)
            tiles += (0..<full).map { Tile(level: level, index: $0) }
            let partial = partialWidth(level: level, size: size)
            if partial > 0 { tiles.append(Tile(level: level, index: full, width: partial)) }
            level += 1
        }
        return tiles
    }

    /// The entry bundles of a tree of `size` leaves: one per level 0 tile.
    public static func bundles(forSize size: Int64) -> [Tile] {
        tiles(forSize: size).filter { $0.level == 0 }.map {
            Tile(level: 0, index: $0.index, width: $0.width, entries: true)
        }
    }

    /// The tile of level `node.level / 8` that holds `node` (a complete subtree) in a tree of
    /// `size` leaves, at the width that tree publishes.
    public static func tile(holding node: Merkle.Node, size: Int64) -> Tile {
        let level = node.level / 8
        // The node's first leaf, in units of the tile level's hashes.
        let first = node.index << (node.level % 8)
        let index = first / Int64(fullWidth)
        let hashesAtLevel = size >> (8 * level)
        let width = hashesAtLevel >= (index + 1) * Int64(fullWidth) ? fullWidth : partialWidth(level: level, size: size)
        return Tile(level: level, index: index, width: width)
    }

    /// Every complete subtree a tile's hashes give, hashing up inside the tile: tree level
    /// `8·tile.level + k` for k = 0...7 (as far as the width allows).
    public static func nodes(in tile: Tile, hashes: [Merkle.Hash]) -> [Merkle.Node: Merkle.Hash] {
        var nodes: [Merkle.Node: Merkle.Hash] = [:]
        var row = hashes
        var level = 8 * tile.level
        var first = tile.index * Int64(fullWidth)
        while !row.isEmpty {
            for (offset, hash) in row.enumerated() {
                nodes[Merkle.Node(level: level, index: first + Int64(offset))] = hash
            }
            guard row.count > 1, level < 8 * tile.level + 7 else { break }
            row = stride(from: 0, to: row.count - 1, by: 2).map { Merkle.nodeHash(row[$0], row[$0 + 1]) }
            level += 1
            first /= 2
        }
        return nodes
    }

    /// The hash of `range` (a subtree of RFC 9162's recursion, as every range a root or
    /// proof names is) in the tree of `size` leaves, from tiles alone: what a client that
    /// reads only tiles computes roots and proofs with. nil when a tile is missing or short.
    public static func subtreeHash(_ range: Range<Int64>, size: Int64, fetch: (Tile) throws -> [UInt8]?) rethrows
        -> Merkle.Hash?
    {
        var stored: [Merkle.Node: Merkle.Hash] = [:]
        for node in Merkle.nodes(for: range) where stored[node] == nil {
            let tile = self.tile(holding: node, size: size)
            guard let bytes = try fetch(tile), let hashes = hashes(ofTile: bytes), hashes.count == tile.width else {
                return nil
            }
            stored.merge(nodes(in: tile, hashes: hashes)) { kept, _ in kept }
        }
        return Merkle.subtreeHash(range, from: stored)
    }

    /// An entry bundle: each entry as a big-endian uint16 length and its bytes.
    public static func bundle(_ entries: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + 2 + $1.count })
        for entry in entries {
            precondition(entry.count <= Int(UInt16.max))
            bytes += [UInt8(entry.count >> 8), UInt8(entry.count & 0xff)] + entry
        }
        return bytes
    }

    /// The entries of a bundle; nil when a length runs past its end.
    public static func entries(ofBundle bytes: [UInt8]) -> [[UInt8]]? {
        var entries: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 2 <= bytes.count else { return nil }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
            guard offset + length <= bytes.count else { return nil }
            entries.append(Array(bytes[offset..<(offset + length)]))
            offset += length
        }
        return entries
    }

    /// The hashes of a hash tile, 32 bytes each; nil when the length is not a multiple of 32.
    public static func hashes(ofTile bytes: [UInt8]) -> [Merkle.Hash]? {
        guard bytes.count % 32 == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: 32).map { Array(bytes[$0..<($0 + 32)]) }
    }
}
