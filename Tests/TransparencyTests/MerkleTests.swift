import Crypto
import Foundation
import Testing

@testable import Transparency

/// The tree, its proofs and the library's verifiers, checked against an independent reading
/// of RFC 9162 written here: MTH by its recursive definition (§2.1.1) and the two verification
/// algorithms (§2.1.3.2, §2.1.4.2) transcribed step by step.
struct MerkleTests {
    // MARK: - Reference, from the RFC text

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    /// MTH(D[n]) by §2.1.1's definition.
    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return sha256([])
        case 1: return sha256([0] + leaves[leaves.startIndex])
        default:
            var k = 1
            while k * 2 < leaves.count { k *= 2 }
            let split = leaves.startIndex + k
            return sha256([1] + mth(leaves[leaves.startIndex..<split]) + mth(leaves[split...]))
        }
    }

    /// §2.1.3.2, transcribed.
    static func rfcVerifyInclusion(
        leafIndex: Int64, treeSize: Int64, hash: [UInt8], path: [[UInt8]], root: [UInt8]
    ) -> Bool {
        if leafIndex >= treeSize { return false }
        var fn = leafIndex
        var sn = treeSize - 1
        var r = hash
        for p in path {
            if sn == 0 { return false }
            if fn % 2 == 1 || fn == sn {
                r = sha256([0x01] + p + r)
                if fn % 2 == 0 {
                    repeat {
                        fn /= 2
                        sn /= 2
                    } while fn % 2 == 0 && fn != 0
                }
            } else {
                r = sha256([0x01] + r + p)
            }
            fn /= 2
            sn /= 2
        }
        return sn == 0 && r == root
    }

    /// §2.1.4.2, transcribed.
    static func rfcVerifyConsistency(
        first: Int64, second: Int64, firstHash: [UInt8], secondHash: [UInt8], consistency: [[UInt8]]
    ) -> Bool {
        var path = consistency
        if path.isEmpty { return false }
        if first & (first - 1) == 0 { path.insert(firstHash, at: 0) }
        var fn = first - 1
        var sn = second - 1
        while fn % 2 == 1 {
            fn /= 2
            sn /= 2
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn % 2 == 1 || fn == sn {
                fr = sha256([0x01] + c + fr)
                sr = sha256([0x01] + c + sr)
                if fn % 2 == 0 {
                    repeat {
                        fn /= 2
                        sn /= 2
                    } while fn % 2 == 0 && fn != 0
                }
            } else {
                sr = sha256([0x01] + sr + c)
            }
            fn /= 2
            sn /= 2
        }
        return fr == firstHash && sr == secondHash && sn == 0
    }

    // MARK: - Helpers

    /// A tree of `size` random leaves, stored as the database stores it (every complete
    /// subtree), through the incremental builder.
    struct Stored {
        var inputs: [[UInt8]] = []
        var nodes: [Merkle.Node: Merkle.Hash] = [:]
        var builder = MerkleBuilder()

        mutating func append(_ input: [UInt8]) {
            inputs.append(input)
            for (node, hash) in builder.append(leafInput: input) { nodes[node] = hash }
        }

        func inclusion(_ index: Int64, _ size: Int64) -> [Merkle.Hash]? {
            Merkle.inclusionRanges(index: index, size: size).map { Merkle.subtreeHash($0, from: nodes) }
                as? [Merkle.Hash]
        }

        func consistency(_ from: Int64, _ to: Int64) -> [Merkle.Hash]? {
            Merkle.consistencyRanges(from: from, to: to).map { Merkle.subtreeHash($0, from: nodes) }
                as? [Merkle.Hash]
        }

        func root(_ size: Int64) -> Merkle.Hash? {
            size == 0 ? Merkle.emptyRoot : Merkle.subtreeHash(0..<size, from: nodes)
        }
    }

    static func randomInput<G: RandomNumberGenerator>(_ generator: inout G) -> [UInt8] {
        (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    // MARK: - Tests

    @Test("the roots of RFC 6962's test leaves are the published ones")
    func knownAnswers() {
        let leaves: [[UInt8]] = [
            [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
            [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
        ]
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ]
        var builder = MerkleBuilder()
        for (size, leaf) in leaves.enumerated() {
            builder.append(leafInput: leaf)
            #expect(Hex.encode(builder.root) == roots[size], "size \(size + 1)")
            #expect(Hex.encode(Self.mth(leaves[0...size])) == roots[size])
        }
        #expect(Hex.encode(MerkleBuilder().root) == Hex.encode(Self.sha256([])))
    }

    @Test("every inclusion and consistency proof of every tree of 1 to 300 leaves verifies", arguments: [1, 2])
    func everySmallTree(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        var tree = Stored()
        for size in Int64(1)...300 {
            tree.append(Self.randomInput(&generator))
            let root = Self.mth(tree.inputs[...])
            #expect(tree.builder.root == root)
            #expect(tree.root(size) == root)
            for index in Int64(0)..<size {
                guard let path = tree.inclusion(index, size) else {
                    Issue.record("missing subtree for inclusion \(index) in \(size)")
                    return
                }
                let leaf = Merkle.leafHash(tree.inputs[Int(index)])
                #expect(Self.rfcVerifyInclusion(leafIndex: index, treeSize: size, hash: leaf, path: path, root: root))
                #expect(Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: path, root: root))
            }
            for from in Int64(1)..<size where seed == 1 || from % 7 == 0 {
                guard let path = tree.consistency(from, size), let fromRoot = tree.root(from) else {
                    Issue.record("missing subtree for consistency \(from) to \(size)")
                    return
                }
                #expect(fromRoot == Self.mth(tree.inputs[0..<Int(from)]))
                #expect(
                    Self.rfcVerifyConsistency(
                        first: from, second: size, firstHash: fromRoot, secondHash: root, consistency: path))
                #expect(
                    Merkle.verifyConsistency(
                        fromSize: from, fromRoot: fromRoot, toSize: size, toRoot: root, proof: path))
            }
        }
    }

    @Test("proofs in large trees verify", arguments: [1024, 4097, 65_537])
    func largeTrees(size: Int) {
        var generator = SplitMix(seed: UInt64(size))
        var tree = Stored()
        for _ in 0..<size { tree.append(Self.randomInput(&generator)) }
        let n = Int64(size)
        guard let root = tree.root(n) else {
            Issue.record("no root")
            return
        }
        #expect(root == tree.builder.root)
        for _ in 0..<50 {
            let index = Int64.random(in: 0..<n, using: &generator)
            let from = Int64.random(in: 1...n, using: &generator)
            let path = tree.inclusion(index, n) ?? []
            #expect(path.count <= 64 - n.leadingZeroBitCount)
            #expect(
                Self.rfcVerifyInclusion(
                    leafIndex: index, treeSize: n, hash: Merkle.leafHash(tree.inputs[Int(index)]), path: path,
                    root: root))
            if from < n, let fromRoot = tree.root(from) {
                #expect(
                    Self.rfcVerifyConsistency(
                        first: from, second: n, firstHash: fromRoot, secondHash: root,
                        consistency: tree.consistency(from, n) ?? []))
            }
        }
    }

    @Test("altered leaves, indexes, sizes, roots and proofs are refused")
    func alterations() {
        var generator = SplitMix(seed: 42)
        var tree = Stored()
        for _ in 0..<300 { tree.append(Self.randomInput(&generator)) }
        func flip(_ hash: [UInt8]) -> [UInt8] {
            var hash = hash
            hash[Int.random(in: 0..<hash.count, using: &generator)] ^= 0x01
            return hash
        }
        for _ in 0..<200 {
            let size = Int64.random(in: 2...300, using: &generator)
            let index = Int64.random(in: 0..<size, using: &generator)
            let root = tree.root(size) ?? []
            let path = tree.inclusion(index, size) ?? []
            let leaf = Merkle.leafHash(tree.inputs[Int(index)])
            func accepted(_ leaf: [UInt8], _ index: Int64, _ size: Int64, _ path: [[UInt8]], _ root: [UInt8]) -> Bool {
                let library = Merkle.verifyInclusion(leafHash: leaf, index: index, size: size, proof: path, root: root)
                let reference = Self.rfcVerifyInclusion(
                    leafIndex: index, treeSize: size, hash: leaf, path: path, root: root)
                #expect(library == reference)
                return library
            }
            #expect(accepted(leaf, index, size, path, root))
            #expect(!accepted(flip(leaf), index, size, path, root))
            #expect(!accepted(leaf, (index + 1) % size, size, path, root))
            // Another size: its own root with this path only if both sizes' paths coincide
            // (the size fixes the path's shape; the root binds the tree).
            if size < 300, let grown = tree.root(size + 1) {
                #expect(!accepted(leaf, index, size + 1, path, grown) || tree.inclusion(index, size + 1) == path)
            }
            #expect(!accepted(leaf, index, index, path, root))
            #expect(!accepted(leaf, index, size, path, flip(root)))
            if !path.isEmpty {
                var altered = path
                let at = Int.random(in: 0..<path.count, using: &generator)
                altered[at] = flip(altered[at])
                #expect(!accepted(leaf, index, size, altered, root))
                #expect(!accepted(leaf, index, size, Array(path.dropLast()), root))
            }
            #expect(!accepted(leaf, index, size, path + [root], root))

            let from = Int64.random(in: 1..<size, using: &generator)
            let fromRoot = tree.root(from) ?? []
            let proof = tree.consistency(from, size) ?? []
            #expect(
                Merkle.verifyConsistency(fromSize: from, fromRoot: fromRoot, toSize: size, toRoot: root, proof: proof))
            #expect(
                !Merkle.verifyConsistency(
                    fromSize: from, fromRoot: flip(fromRoot), toSize: size, toRoot: root, proof: proof))
            #expect(
                !Merkle.verifyConsistency(
                    fromSize: from, fromRoot: fromRoot, toSize: size, toRoot: flip(root), proof: proof))
            #expect(
                !Merkle.verifyConsistency(
                    fromSize: from, fromRoot: fromRoot, toSize: size + 1, toRoot: tree.root(size + 1) ?? root,
                    proof: proof) || size + 1 > 300)
            let at = Int.random(in: 0..<proof.count, using: &generator)
            var altered = proof
            altered[at] = flip(altered[at])
            #expect(
                !Merkle.verifyConsistency(
                    fromSize: from, fromRoot: fromRoot, toSize: size, toRoot: root, proof: altered))
            #expect(
                !Merkle.verifyConsistency(
                    fromSize: from, fromRoot: fromRoot, toSize: size, toRoot: root, proof: Array(proof.dropLast())))
            #expect(
                !Self.rfcVerifyConsistency(
                    first: from, second: size, firstHash: fromRoot, secondHash: root, consistency: altered))
        }
    }
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
