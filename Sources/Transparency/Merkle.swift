import Crypto

/// The Merkle tree hash of RFC 9162 §2.1 over the log, its proofs and their verification.
///
/// Leaves are the sealed events in position order; a leaf's input is the event's 32-byte
/// content hash. Stored trees keep every complete subtree (``Merkle/Node``); every subtree a
/// proof names follows from O(log n) of them (``Merkle/nodes(for:)``).
public enum Merkle {
    /// A 32-byte SHA-256 value.
    public typealias Hash = [UInt8]

    /// SHA-256(0x00 ‖ input).
    public static func leafHash(_ input: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: input)
        return Array(hasher.finalize())
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The hash of an empty tree: SHA-256 of nothing.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two smaller than `n` (n > 1): RFC 9162's split point.
    public static func split(_ n: Int64) -> Int64 {
        precondition(n > 1)
        return Int64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// A complete subtree: the leaves [index · 2^level, (index + 1) · 2^level).
    public struct Node: Hashable, Sendable {
        public var level: Int
        public var index: Int64

        public init(level: Int, index: Int64) {
            self.level = level
            self.index = index
        }

        /// The leaves it covers.
        public var leaves: Range<Int64> { (index << level)..<((index + 1) << level) }
    }

    /// The ranges of leaves whose subtree hashes form the inclusion proof of leaf `index` in
    /// the tree of `size` leaves, leaf side first (RFC 9162 §2.1.3.1, PATH).
    public static func inclusionRanges(index: Int64, size: Int64) -> [Range<Int64>] {
        precondition(index >= 0 && index < size)
        var ranges: [Range<Int64>] = []
        func path(_ m: Int64, _ range: Range<Int64>) {
            let n = Int64(range.count)
            guard n > 1 else { return }
            let k = split(n)
            if m < k {
                path(m, range.lowerBound..<(range.lowerBound + k))
                ranges.append((range.lowerBound + k)..<range.upperBound)
            } else {
                path(m - k, (range.lowerBound + k)..<range.upperBound)
                ranges.append(range.lowerBound..<(range.lowerBound + k))
            }
        }
        path(index, 0..<size)
        return ranges
    }

    /// The ranges of leaves whose subtree hashes form the consistency proof from the tree of
    /// `from` leaves to the tree of `to` leaves (RFC 9162 §2.1.4.1, PROOF); empty when the
    /// sizes are equal.
    public static func consistencyRanges(from m: Int64, to n: Int64) -> [Range<Int64>] {
        precondition(m > 0 && m <= n)
        var ranges: [Range<Int64>] = []
        func subproof(_ m: Int64, _ range: Range<Int64>, _ complete: Bool) {
            let n = Int64(range.count)
            if m == n {
                if !complete { ranges.append(range) }
                return
            }
            let k = split(n)
            if m <= k {
                subproof(m, range.lowerBound..<(range.lowerBound + k), complete)
                ranges.append((range.lowerBound + k)..<range.upperBound)
            } else {
                subproof(m - k, (range.lowerBound + k)..<range.upperBound, false)
                ranges.append(range.lowerBound..<(range.lowerBound + k))
            }
        }
        subproof(m, 0..<n, true)
        return ranges
    }

    /// The complete subtrees whose hashes give the hash of `range`: the range itself when it
    /// is one, else its left part (a power of two) and the parts of the rest.
    ///
    /// `range` must be a subtree of RFC 9162's recursion (every range the proofs above name
    /// is), so that each left part is aligned.
    public static func nodes(for range: Range<Int64>) -> [Node] {
        var nodes: [Node] = []
        var start = range.lowerBound
        while start < range.upperBound {
            let n = range.upperBound - start
            let size = n & (n - 1) == 0 ? n : split(n)
            let level = size.trailingZeroBitCount
            nodes.append(Node(level: level, index: start >> level))
            start += size
        }
        return nodes
    }

    /// The hash of `range` from the stored complete subtrees; nil if one is missing.
    public static func subtreeHash(_ range: Range<Int64>, from stored: [Node: Hash]) -> Hash? {
        var hashes: [Hash] = []
        for node in nodes(for: range) {
            guard let hash = stored[node] else { return nil }
            hashes.append(hash)
        }
        guard var hash = hashes.popLast() else { return nil }
        while let left = hashes.popLast() { hash = nodeHash(left, hash) }
        return hash
    }

    /// RFC 9162 §2.1.3.2: does `proof` show that `leafHash` is leaf `index` of the tree of
    /// `size` leaves whose root is `root`?
    public static func verifyInclusion(leafHash: Hash, index: Int64, size: Int64, proof: [Hash], root: Hash)
        -> Bool
    {
        guard index >= 0, index < size else { return false }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: does `proof` show that the tree of `fromSize` leaves with root
    /// `fromRoot` is a prefix of the tree of `toSize` leaves with root `toRoot`?
    public static func verifyConsistency(
        fromSize: Int64, fromRoot: Hash, toSize: Int64, toRoot: Hash, proof: [Hash]
    ) -> Bool {
        guard fromSize > 0, fromSize <= toSize else { return false }
        if fromSize == toSize { return proof.isEmpty && fromRoot == toRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if fromSize & (fromSize - 1) == 0 { path.insert(fromRoot, at: 0) }
        var fn = fromSize - 1
        var sn = toSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == fromRoot && sr == toRoot && sn == 0
    }
}

/// The right edge of a Merkle tree being built leaf by leaf (a compact range starting at 0):
/// one hash per complete subtree, so memory is O(log n).
public struct MerkleBuilder: Sendable {
    /// The complete subtrees of the tree so far, largest (leftmost) first.
    private var stack: [(level: Int, hash: Merkle.Hash)] = []
    /// The leaves added so far.
    public private(set) var size: Int64 = 0

    public init() {}

    /// Adds the next leaf, given its input (the event hash); returns every complete subtree
    /// this closes, the leaf itself first.
    @discardableResult
    public mutating func append(leafInput: Merkle.Hash) -> [(node: Merkle.Node, hash: Merkle.Hash)] {
        var hash = Merkle.leafHash(leafInput)
        var level = 0
        var closed: [(node: Merkle.Node, hash: Merkle.Hash)] = [(Merkle.Node(level: 0, index: size), hash)]
        while let top = stack.last, top.level == level {
            stack.removeLast()
            hash = Merkle.nodeHash(top.hash, hash)
            level += 1
            closed.append((Merkle.Node(level: level, index: size >> level), hash))
        }
        stack.append((level, hash))
        size += 1
        return closed
    }

    /// The root of the tree so far (the empty root for no leaves).
    public var root: Merkle.Hash {
        guard var hash = stack.last?.hash else { return Merkle.emptyRoot }
        for entry in stack.dropLast().reversed() { hash = Merkle.nodeHash(entry.hash, hash) }
        return hash
    }
}
