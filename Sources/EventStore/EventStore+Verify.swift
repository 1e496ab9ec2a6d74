import Crypto
import Foundation
import PostgresClient
import Transparency

/// The outcome of recomputing the log's hashes.
public struct VerificationReport: Sendable, Codable {
    /// True when no event was found altered, deleted, inserted or reordered.
    public var ok: Bool
    /// Events whose content hash was recomputed.
    public var eventsChecked: Int
    /// The verified head of the chain: note it to check later that the log only grew.
    public var head: ChainHead
    /// The Merkle tree recomputed from the events checked so far: its size and root.
    public var tree: TreeHead
    /// The first position found wrong, if any.
    public var firstBadPosition: Int64?
    /// What is wrong there.
    public var problem: String?
}

extension EventStore {
    /// Recomputes every event hash and the global chain from the stored rows.
    ///
    /// Detects an altered, deleted, inserted or reordered event, also when it was written
    /// with the append-only triggers disabled, and names the first bad position.
    /// - Parameters:
    ///   - expectedHead: a head noted earlier; verification fails unless the chain still
    ///     passes through it (the log only grew since).
    ///   - progress: called after each batch with (position reached, last position).
    public func verify(
        expectedHead: ChainHead? = nil, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> VerificationReport {
        try await seal()
        return try await withSession { try await $0.verify(expectedHead: expectedHead, progress: progress) }
    }
}

extension StoreSession {
    /// `EventStore.verify(expectedHead:progress:)` in this session, without sealing first
    /// (an import checks its rows this way inside its own transaction).
    public func verify(
        expectedHead: ChainHead? = nil, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> VerificationReport {
        do {
            let bounds = try await connection.query(
                """
                SELECT coalesce((SELECT max(position) FROM events), 0),
                       \(unescaped: EventStore.sealedHead)
                """)
            let lastEvent = try bounds[0].decode(Int64.self, 0)
            let lastSealed = try bounds[0].decode(Int64.self, 1)
            let last = max(lastEvent, lastSealed)
            var chain = [UInt8](repeating: 0, count: 32)
            // The head's position; its hash is `chain`, written out only for the report.
            var headPosition: Int64 = 0
            var head: ChainHead { ChainHead(position: headPosition, hash: chain.hexString) }
            var tree = MerkleBuilder()
            var checked = 0
            var from: Int64 = 0
            let step: Int64 = 20_000

            func fail(_ position: Int64, _ problem: String) -> VerificationReport {
                VerificationReport(
                    ok: false, eventsChecked: checked, head: head,
                    tree: TreeHead(treeSize: tree.size, rootHash: tree.root), firstBadPosition: position,
                    problem: problem)
            }

            while from < last {
                let to = from + step
                let rows = try await connection.query(
                    """
                    SELECT coalesce(e.position, c.position) AS position, e.hash, e.canonical, c.chain_hash,
                           g.group_index
                    FROM (SELECT position, hash,
                                 jsonb_build_array(position, stream_id, stream_version, event_id::text, type,
                                     to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                     data, metadata)::text AS canonical
                          FROM events WHERE position > \(from) AND position <= \(to)) e
                    FULL JOIN chain_hashes(\(from), \(to)) c
                      ON c.position = e.position
                    LEFT JOIN merkle_groups g ON g.first_position = coalesce(e.position, c.position)
                    ORDER BY 1
                    """)
                let firstLeaf = tree.size
                var computed: [Merkle.Node: Merkle.Hash] = [:]
                var leafPositions: [Int64] = []
                for row in rows {
                    let position = try row.decode(Int64.self, 0)
                    let stored = row.text(1).flatMap { [UInt8](postgresText: $0) }
                    let sealed = row.text(3).flatMap { [UInt8](postgresText: $0) }
                    guard let stored, let canonical = row.text(2) else {
                        return fail(position, "event at position \(position) is missing from the log (deleted)")
                    }
                    checked += 1
                    var text = canonical
                    let recomputed = text.withUTF8 { Array(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
                    if recomputed != stored {
                        return fail(
                            position, "event at position \(position) does not match its hash (altered or moved)")
                    }
                    guard let sealed else {
                        if position < lastSealed {
                            return fail(
                                position, "event at position \(position) is not in the sealed chain (inserted)")
                        }
                        continue
                    }
                    var link = SHA256()
                    link.update(data: chain)
                    link.update(data: recomputed)
                    let expected = Array(link.finalize())
                    if expected != sealed {
                        return fail(
                            position,
                            "chain hash at position \(position) does not follow from the events before it (an event was inserted, deleted or reordered)"
                        )
                    }
                    chain = expected
                    headPosition = position
                    // Leaves come in groups of 16, each stored with its first leaf's position.
                    let group = row.text(4).flatMap(Int64.init)
                    let startsGroup = tree.size % (1 << EventStore.groupLevel) == 0
                    guard group == (startsGroup ? tree.size >> EventStore.groupLevel : nil) else {
                        return fail(
                            position,
                            "event at position \(position) is not leaf \(tree.size) of the Merkle tree (the tree was rewritten)"
                        )
                    }
                    for (node, hash) in tree.append(leafInput: recomputed) where node.level >= EventStore.groupLevel {
                        computed[node] = hash
                    }
                    leafPositions.append(position)
                }
                if let (node, problem) = try await compareStoredNodes(
                    computed, leaves: firstLeaf..<tree.size)
                {
                    // Name the first event under the wrong subtree (its first leaf in this batch).
                    let leaf = max(node.leaves.lowerBound, firstLeaf) - firstLeaf
                    return fail(leafPositions[Int(min(leaf, Int64(leafPositions.count - 1)))], problem)
                }
                from = to
                progress(min(from, last), last)
            }
            if let expectedHead {
                let rows = try await connection.query(
                    "SELECT chain_hash FROM chain_hashes(\(expectedHead.position - 1), \(expectedHead.position))")
                let found = try rows.first.map { try $0.decode([UInt8].self, 0).hexString }
                if found != expectedHead.hash.lowercased() {
                    return fail(
                        expectedHead.position,
                        "the chain no longer passes through the noted head \(expectedHead.position):\(expectedHead.hash) (history was rewritten)"
                    )
                }
            }
            let stored = try await connection.query(
                "SELECT (SELECT count(*) FROM merkle_groups), (SELECT count(*) FROM merkle_nodes)")
            let groupSize = Int64(1) << EventStore.groupLevel
            let expectedGroups = (tree.size + groupSize - 1) / groupSize
            let expectedNodes = (EventStore.groupLevel..<63).reduce(Int64(0)) { $0 + (tree.size >> $1) }
            if try stored[0].decode(Int64.self, 0) != expectedGroups || stored[0].decode(Int64.self, 1) != expectedNodes
            {
                return fail(
                    headPosition,
                    "the Merkle tree holds groups or nodes beyond the \(tree.size) sealed events (the tree was rewritten)"
                )
            }
            return VerificationReport(
                ok: true, eventsChecked: checked, head: head, tree: TreeHead(treeSize: tree.size, rootHash: tree.root),
                firstBadPosition: nil, problem: nil)
        }
    }
}

extension StoreSession {
    /// Compares the complete subtrees closed by the leaves `leaves` with the stored ones;
    /// returns what differs, if anything.
    func compareStoredNodes(_ computed: [Merkle.Node: Merkle.Hash], leaves: Range<Int64>) async throws
        -> (Merkle.Node, String)?
    {
        guard !leaves.isEmpty else { return nil }
        // The subtrees a leaf closes at level L are those whose last leaf is in the range.
        let levels = (EventStore.groupLevel..<63).filter { (leaves.upperBound >> $0) > (leaves.lowerBound >> $0) }
        let rows = try await connection.query(
            """
            SELECT n.level, n.node_index, n.hash
            FROM unnest(\("{" + levels.map(String.init).joined(separator: ",") + "}")::int[],
                        \("{" + levels.map { String(leaves.lowerBound >> $0) }.joined(separator: ",") + "}")::bigint[],
                        \("{" + levels.map { String(leaves.upperBound >> $0) }.joined(separator: ",") + "}")::bigint[])
                 AS q(level, low, high)
            JOIN merkle_nodes n ON n.level = q.level AND n.node_index >= q.low AND n.node_index < q.high
            ORDER BY n.level, n.node_index
            """)
        var seen: Set<Merkle.Node> = []
        for row in rows {
            let (level, index, hash) = try row.decode((Int, Int64, [UInt8]).self)
            let node = Merkle.Node(level: level, index: index)
            guard computed[node] == hash else {
                return (
                    node,
                    "the stored Merkle subtree at level \(node.level), index \(node.index) does not follow from the events (the tree was rewritten)"
                )
            }
            seen.insert(node)
        }
        let missing = computed.keys.filter { !seen.contains($0) }
        if let first = missing.min(by: { ($0.level, $0.index) < ($1.level, $1.index) }) {
            return (
                first,
                "the stored Merkle tree lacks \(missing.count) subtrees over leaves \(leaves.lowerBound)..<\(leaves.upperBound), the first at level \(first.level), index \(first.index)"
            )
        }
        return nil
    }
}

extension EventStore {
    /// Checks that the tree recomputed by `verified` extends a checkpoint held since: a
    /// consistency proof from the checkpoint's size to the verified size must join the held
    /// root to the recomputed one.
    /// - Returns: `verified`, or a failed report naming the break.
    public func extends(_ held: Checkpoint, verified: VerificationReport) async throws -> VerificationReport {
        var report = verified
        let problem = try await withSession { try await $0.extensionProblem(of: held, verified: verified) }
        if let problem {
            report.ok = false
            report.problem = problem
            report.firstBadPosition = report.head.position
        }
        return report
    }

}

extension StoreSession {
    /// Why the verified log in this session is not an extension of `held`; nil when it is.
    func extensionProblem(of held: Checkpoint, verified: VerificationReport) async throws -> String? {
        guard let root = Data(base64Encoded: verified.tree.rootHash).map(Array.init) else {
            return "the recomputed root is unreadable"
        }
        guard held.treeSize <= verified.tree.treeSize else {
            return
                "the log holds \(verified.tree.treeSize) sealed events, fewer than the \(held.treeSize) of the held checkpoint (events were deleted)"
        }
        if held.treeSize == 0 { return nil }
        let proof = try await consistencyProof(from: held.treeSize, to: verified.tree.treeSize)
        do {
            try proof.verify(fromRoot: held.rootHash, toRoot: root)
        } catch {
            return
                "the log is not an extension of the held checkpoint of \(held.treeSize) leaves (history was rewritten)"
        }
        return nil
    }
}
