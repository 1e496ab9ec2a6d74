import Foundation
import PostgresClient
import Transparency

/// A size of the Merkle tree over the log and its root: what a checkpoint signs and what a
/// figure computed at a point of the log names.
public struct TreeHead: Sendable, Codable, Hashable {
    /// Leaves (sealed events) in the tree.
    public var treeSize: Int64
    /// The RFC 9162 root hash, base64 as in a checkpoint.
    public var rootHash: String

    public init(treeSize: Int64, rootHash: Merkle.Hash) {
        self.treeSize = treeSize
        self.rootHash = Data(rootHash).base64EncodedString()
    }
}

/// Why a proof could not be made.
public struct ProofRequestError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// True when what was asked for does not exist: an unsealed or missing position, a tree
    /// size the sealed tree has not reached, sizes out of order (no proof goes backwards).
    public var notFound: Bool

    public var description: String { message }
}

extension EventStore {
    /// Seals, then returns the head of the tree over everything sealed.
    public func treeHead() async throws -> TreeHead {
        try await seal()
        return try await withSession { try await $0.treeHead() }
    }

    /// Seals when no tree size is given, then proves the event at `position` in the tree
    /// of `treeSize` leaves (default: the whole sealed log).
    public func inclusionProof(position: Int64, treeSize: Int64? = nil) async throws -> InclusionProof {
        if treeSize == nil { try await seal() }
        return try await withSession { try await $0.inclusionProof(position: position, treeSize: treeSize) }
    }

    /// Seals when no `to` is given, then proves the tree of `from` leaves a prefix of the
    /// tree of `to` leaves (default: the whole sealed log).
    public func consistencyProof(from: Int64, to: Int64? = nil) async throws -> ConsistencyProof {
        if to == nil { try await seal() }
        return try await withSession { try await $0.consistencyProof(from: from, to: to) }
    }

    /// The level of the smallest stored subtree: leaves come in groups of 2^4 = 16
    /// (sql/017_merkle_tree.sql).
    public static let groupLevel = 4
}

extension StoreSession {
    /// The tree over everything sealed: its size and root.
    public func treeHead() async throws -> TreeHead {
        let size = try await treeSize()
        return TreeHead(treeSize: size, rootHash: try await root(size: size))
    }

    /// The tree of the events up to `position`: its size and root.
    public func treeHead(atOrBefore position: Int64) async throws -> TreeHead {
        let size = try await treeSize(atOrBefore: position)
        return TreeHead(treeSize: size, rootHash: try await root(size: size))
    }

    /// The number of leaves: every sealed event. The last group of 16 leaves and the sealed
    /// events from its first position give it.
    public func treeSize() async throws -> Int64 {
        let rows = try await connection.query(
            """
            SELECT g.group_index * 16
                   + (SELECT count(*) FROM events e
                      WHERE e.position >= g.first_position AND e.position <= \(unescaped: EventStore.sealedHead))
            FROM merkle_groups g ORDER BY g.group_index DESC LIMIT 1
            """)
        return try rows.first?.decode(Int64.self, 0) ?? 0
    }

    /// The number of sealed events at or before `position`: the size of the tree that
    /// ends there.
    public func treeSize(atOrBefore position: Int64) async throws -> Int64 {
        try await connection.query(
            """
            SELECT merkle_leaves_before(least(\(position), h.position + 1))
                   + (SELECT count(*) FROM events WHERE position = \(position) AND position <= h.position)
            FROM (SELECT \(unescaped: EventStore.sealedHead) AS position) h
            """)[0].decode(Int64.self, 0)
    }

    /// The root of the tree of `size` leaves, from O(log n) stored subtrees.
    public func root(size: Int64) async throws -> Merkle.Hash {
        guard size > 0 else { return Merkle.emptyRoot }
        return try await subtreeHashes([0..<size])[0]
    }

    /// The inclusion proof of the sealed event at `position` in the tree of `treeSize`
    /// leaves (default: the whole sealed tree).
    public func inclusionProof(position: Int64, treeSize: Int64?) async throws -> InclusionProof {
        let rows = try await connection.query(
            """
            SELECT merkle_leaves_before(e.position), e.hash
            FROM events e
            WHERE e.position = \(position) AND e.position <= \(unescaped: EventStore.sealedHead)
            """)
        guard let row = rows.first else {
            throw ProofRequestError(message: "position \(position) is not a sealed event of the log", notFound: true)
        }
        let index = try row.decode(Int64.self, 0)
        let input = try row.decode([UInt8].self, 1)
        let current = try await self.treeSize()
        let size = treeSize ?? current
        guard size > index, size <= current else {
            throw ProofRequestError(
                message:
                    "treeSize must be between \(index + 1) (the tree that first holds position \(position)) and \(current) (the sealed tree)",
                notFound: true)
        }
        let path = try await subtreeHashes(Merkle.inclusionRanges(index: index, size: size))
        return InclusionProof(position: position, leafIndex: index, treeSize: size, leafInput: input, proof: path)
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to` leaves
    /// (default: the whole sealed tree).
    public func consistencyProof(from: Int64, to: Int64?) async throws -> ConsistencyProof {
        let current = try await self.treeSize()
        let to = to ?? current
        guard from >= 1, from <= to, to <= current else {
            throw ProofRequestError(
                message: "sizes must satisfy 1 <= from <= to <= \(current) (the sealed tree)", notFound: true)
        }
        let path = try await subtreeHashes(Merkle.consistencyRanges(from: from, to: to))
        return ConsistencyProof(fromSize: from, toSize: to, proof: path)
    }

    /// The hashes of subtrees of RFC 9162's recursion: the stored complete subtrees they
    /// need (16 leaves or more) in one query, the smaller ones from their groups' events in
    /// another.
    func subtreeHashes(_ ranges: [Range<Int64>]) async throws
        -> [Merkle.Hash]
    {
        let needed = Set(ranges.flatMap(Merkle.nodes(for:)))
        guard !needed.isEmpty else { return [] }
        let stored = needed.filter { $0.level >= EventStore.groupLevel }
        let small = needed.filter { $0.level < EventStore.groupLevel }
        var hashes: [Merkle.Node: Merkle.Hash] = [:]
        if !stored.isEmpty {
            let rows = try await connection.query(
                """
                SELECT n.level, n.node_index, n.hash
                FROM unnest(\("{" + stored.map { String($0.level) }.joined(separator: ",") + "}")::int[],
                            \("{" + stored.map { String($0.index) }.joined(separator: ",") + "}")::bigint[])
                     AS q(level, node_index)
                JOIN merkle_nodes n ON n.level = q.level AND n.node_index = q.node_index
                """)
            for row in rows {
                let (level, index, hash) = try row.decode((Int, Int64, [UInt8]).self)
                hashes[Merkle.Node(level: level, index: index)] = hash
            }
        }
        if !small.isEmpty {
            let groups = Set(small.map { $0.leaves.lowerBound >> Int64(EventStore.groupLevel) })
            let rows = try await connection.query(
                """
                SELECT g.group_index, e.hash
                FROM unnest(\("{" + groups.map(String.init).joined(separator: ",") + "}")::bigint[]) AS q(group_index)
                JOIN merkle_groups g ON g.group_index = q.group_index
                CROSS JOIN LATERAL (SELECT e.position, e.hash FROM events e
                                    WHERE e.position >= g.first_position
                                      AND e.position <= \(unescaped: EventStore.sealedHead)
                                    ORDER BY e.position LIMIT 16) e
                ORDER BY g.group_index, e.position
                """)
            var leaves: [Int64: [Merkle.Hash]] = [:]
            for row in rows {
                leaves[try row.decode(Int64.self, 0), default: []].append(
                    Merkle.leafHash(try row.decode([UInt8].self, 1)))
            }
            for node in small {
                let group = node.leaves.lowerBound >> Int64(EventStore.groupLevel)
                let offset = Int(node.leaves.lowerBound - (group << Int64(EventStore.groupLevel)))
                guard let inGroup = leaves[group], inGroup.count >= offset + node.leaves.count else { continue }
                var level = Array(inGroup[offset..<(offset + node.leaves.count)])
                while level.count > 1 {
                    level = stride(from: 0, to: level.count, by: 2).map { Merkle.nodeHash(level[$0], level[$0 + 1]) }
                }
                hashes[node] = level[0]
            }
        }
        return try ranges.map { range in
            guard let hash = Merkle.subtreeHash(range, from: hashes) else {
                throw ProofRequestError(
                    message:
                        "the stored tree lacks a subtree of leaves \(range.lowerBound)..<\(range.upperBound); run audit verify",
                    notFound: false)
            }
            return hash
        }
    }

}
