import PostgresClient
import Transparency

extension EventStore {
    /// The bytes of a tlog-tiles hash tile or entry bundle (`Tiles`) of the sealed tree; nil
    /// when the sealed tree does not hold all of it yet. Never seals: what is served is what
    /// a checkpoint could already name.
    public func tile(_ tile: Tiles.Tile) async throws -> [UInt8]? {
        try await withSession { try await $0.tile(tile) }
    }
}

extension StoreSession {
    /// A hash tile or entry bundle of the sealed tree, or nil when the tree is not that large.
    /// Level 0 and entry bundles read the events' content hashes from the tile's first group
    /// of 16 leaves on (one query); higher levels are stored complete subtrees of height 8l.
    public func tile(_ tile: Tiles.Tile) async throws -> [UInt8]? {
        guard let leaves = tile.leaves, leaves.upperBound <= (try await treeSize()) else { return nil }
        if tile.level == 0 {
            let rows = try await connection.query(
                """
                SELECT e.hash
                FROM merkle_groups g
                CROSS JOIN LATERAL (SELECT e.position, e.hash FROM events e
                                    WHERE e.position >= g.first_position
                                      AND e.position <= \(unescaped: EventStore.sealedHead)
                                    ORDER BY e.position LIMIT \(Int64(tile.width))) e
                WHERE g.group_index = \(leaves.lowerBound >> Int64(EventStore.groupLevel))
                ORDER BY e.position
                """)
            let inputs = try rows.map { try $0.decode([UInt8].self, 0) }
            guard inputs.count == tile.width else { return nil }
            return tile.entries ? Tiles.bundle(inputs) : inputs.flatMap(Merkle.leafHash)
        }
        let first = tile.index * Int64(Tiles.fullWidth)
        let rows = try await connection.query(
            """
            SELECT hash FROM merkle_nodes
            WHERE level = \(8 * tile.level) AND node_index >= \(first) AND node_index < \(first + Int64(tile.width))
            ORDER BY node_index
            """)
        guard rows.count == tile.width else { return nil }
        return try rows.flatMap { try $0.decode([UInt8].self, 0) }
    }
}
