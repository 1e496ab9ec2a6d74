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
    /// True when what was asked for does not exist (an unsealed or missing position).
    public var notFound: Bool

    public var description: String { message }
}

extension EventStore {
    /// Seals, then returns the head of the tree over everything sealed.
    public func treeHead() async throws -> TreeHead {
        try await seal()
        return try await pool.withConnection { connection in
            let size = try await Self.treeSize(on: connection)
            return TreeHead(treeSize: size, rootHash: try await Self.root(size: size, on: connection))
        }
    }

    /// The tree of the events up to `position`: its size and root.
    public static func treeHead(atOrBefore position: Int64, on connection: PostgresConnection) async throws
        -> TreeHead
    {
        let rows = try await connection.query(
            """
            SELECT leaf_index + 1 FROM merkle_leaves WHERE position <= \(position)
            ORDER BY position DESC LIMIT 1
            """)
        let size = try rows.first?.decode(Int64.self, 0) ?? 0
        return TreeHead(treeSize: size, rootHash: try await root(size: size, on: connection))
    }

    /// The number of leaves: every sealed event.
    public static func treeSize(on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query(
            "SELECT leaf_index + 1 FROM merkle_leaves ORDER BY leaf_index DESC LIMIT 1")
        return try rows.first?.decode(Int64.self, 0) ?? 0
    }

    /// The root of the tree of `size` leaves, from O(log n) stored subtrees.
    public static func root(size: Int64, on connection: PostgresConnection) async throws -> Merkle.Hash {
        guard size > 0 else { return Merkle.emptyRoot }
        return try await subtreeHashes([0..<size], on: connection)[0]
    }

    /// The inclusion proof of the event at `position` in the tree of `treeSize` leaves
    /// (default: the whole sealed log).
    public func inclusionProof(position: Int64, treeSize: Int64? = nil) async throws -> InclusionProof {
        if treeSize == nil { try await seal() }
        return try await pool.withConnection { connection in
            try await Self.inclusionProof(position: position, treeSize: treeSize, on: connection)
        }
    }

    /// `inclusionProof(position:treeSize:)` on a given connection.
    public static func inclusionProof(position: Int64, treeSize: Int64?, on connection: PostgresConnection)
        async throws -> InclusionProof
    {
        let rows = try await connection.query(
            """
            SELECT l.leaf_index, e.hash FROM merkle_leaves l JOIN events e ON e.position = l.position
            WHERE l.position = \(position)
            """)
        guard let row = rows.first else {
            throw ProofRequestError(message: "position \(position) is not a sealed event of the log", notFound: true)
        }
        let index = try row.decode(Int64.self, 0)
        let input = try row.decode([UInt8].self, 1)
        let current = try await Self.treeSize(on: connection)
        let size = treeSize ?? current
        guard size > index, size <= current else {
            throw ProofRequestError(
                message:
                    "treeSize must be between \(index + 1) (the tree that first holds position \(position)) and \(current) (the sealed tree)",
                notFound: false)
        }
        let path = try await subtreeHashes(Merkle.inclusionRanges(index: index, size: size), on: connection)
        return InclusionProof(position: position, leafIndex: index, treeSize: size, leafInput: input, proof: path)
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to` leaves
    /// (default: the whole sealed log).
    public func consistencyProof(from: Int64, to: Int64? = nil) async throws -> ConsistencyProof {
        if to == nil { try await seal() }
        return try await pool.withConnection { connection in
            try await Self.consistencyProof(from: from, to: to, on: connection)
        }
    }

    /// `consistencyProof(from:to:)` on a given connection.
    public static func consistencyProof(from: Int64, to: Int64?, on connection: PostgresConnection) async throws
        -> ConsistencyProof
    {
        let current = try await treeSize(on: connection)
        let to = to ?? current
        guard from >= 1, from <= to, to <= current else {
            throw ProofRequestError(
                message: "sizes must satisfy 1 <= from <= to <= \(current) (the sealed tree)", notFound: false)
        }
        let path = try await subtreeHashes(Merkle.consistencyRanges(from: from, to: to), on: connection)
        return ConsistencyProof(fromSize: from, toSize: to, proof: path)
    }

    /// The hashes of subtrees of RFC 9162's recursion, in one query for all the stored
    /// complete subtrees they need.
    static func subtreeHashes(_ ranges: [Range<Int64>], on connection: PostgresConnection) async throws
        -> [Merkle.Hash]
    {
        let needed = Array(Set(ranges.flatMap(Merkle.nodes(for:))))
        guard !needed.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT n.level, n.node_index, n.hash
            FROM unnest(\("{" + needed.map { String($0.level) }.joined(separator: ",") + "}")::int[],
                        \("{" + needed.map { String($0.index) }.joined(separator: ",") + "}")::bigint[]) AS q(level, node_index)
            JOIN merkle_nodes n ON n.level = q.level AND n.node_index = q.node_index
            """)
        var stored: [Merkle.Node: Merkle.Hash] = [:]
        for row in rows {
            stored[Merkle.Node(level: try row.decode(Int.self, 0), index: try row.decode(Int64.self, 1))] =
                try row.decode([UInt8].self, 2)
        }
        return try ranges.map { range in
            guard let hash = Merkle.subtreeHash(range, from: stored) else {
                throw ProofRequestError(
                    message:
                        "the stored tree lacks a subtree of leaves \(range.lowerBound)..<\(range.upperBound); run audit verify",
                    notFound: false)
            }
            return hash
        }
    }
}
