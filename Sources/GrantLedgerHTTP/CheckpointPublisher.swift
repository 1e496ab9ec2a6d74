import EventStore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Transparency
import Witnessing

/// The latest signed checkpoint of the log, which the server publishes at
/// `GET /v1/audit/checkpoint` and `<tile prefix>/checkpoint`.
///
/// The projection service calls `refresh()` after each catch-up: a new checkpoint is signed
/// when the tree grew and the last one is at least `minimumInterval` old, so a growing log
/// gets a fresh head every few seconds and an idle one costs nothing.
///
/// With a witness policy (`serve --witness-policy`), each new checkpoint goes to the
/// policy's witnesses in the background, and only a checkpoint the quorum has cosigned is
/// published, cosignature lines appended; the newest signed one waits apart
/// (`pending()`, `GET /v1/audit/checkpoint/pending`) until its quorum forms.
final class CheckpointPublisher: Sendable {
    let signer: NoteSigner?
    let pool: ConnectionPool
    let minimumInterval: TimeAmount
    let witnesses: WitnessCollector?
    private let latest = NIOLockedValueBox<Signed?>(nil)
    private let cosigned = NIOLockedValueBox<Signed?>(nil)
    /// Whether a round of requests to the witnesses is under way, and when the last began.
    private let cosigning = NIOLockedValueBox<(busy: Bool, began: NIODeadline?)>((false, nil))

    struct Signed: Sendable {
        var note: String
        var checkpoint: Checkpoint
        var signedAt: NIODeadline
    }

    init(
        signer: NoteSigner?, pool: ConnectionPool, witnesses: WitnessCollector? = nil,
        minimumInterval: TimeAmount = .seconds(5)
    ) {
        self.signer = signer
        self.pool = pool
        self.witnesses = witnesses
        self.minimumInterval = minimumInterval
    }

    /// Signs a checkpoint of the sealed tree if it is due; does nothing without a key. With
    /// witnesses, starts asking them for the newest checkpoint if it is not cosigned yet.
    func refresh() async throws {
        defer { startCosigning() }
        guard let signer else { return }
        if let last = latest.withLockedValue({ $0 }), NIODeadline.now() - last.signedAt < minimumInterval {
            return
        }
        // The size first: an idle log costs one query, the root only when the tree grew.
        let head: (size: Int64, root: Merkle.Hash)? = try await pool.withConnection { connection in
            let size = try await StoreSession(connection: connection).treeSize()
            if let last = latest.withLockedValue({ $0 }), last.checkpoint.treeSize >= size { return nil }
            return (size, try await StoreSession(connection: connection).root(size: size))
        }
        guard let head else { return }
        let checkpoint = Checkpoint(origin: signer.name, treeSize: head.size, rootHash: head.root)
        let note = try checkpoint.signed(by: signer)
        latest.withLockedValue { current in
            // Two refreshes may race; keep the larger tree.
            if (current?.checkpoint.treeSize ?? -1) < head.size {
                current = Signed(note: note, checkpoint: checkpoint, signedAt: .now())
            }
        }
    }

    /// The published checkpoint, signing the first one if none was yet; nil without a key,
    /// and, with witnesses, until a checkpoint has its quorum.
    func checkpoint() async throws -> String? {
        guard signer != nil else { return nil }
        if latest.withLockedValue({ $0 }) == nil { try await refresh() }
        if witnesses != nil { return cosigned.withLockedValue { $0?.note } }
        return latest.withLockedValue { $0?.note }
    }

    /// Why `checkpoint()` has none: no key, or no quorum yet.
    var missingReason: String {
        signer == nil
            ? "this server signs no checkpoints: start it with --log-key (grantledger audit keygen)"
            : "no checkpoint has its witnesses' quorum yet: see /v1/audit/checkpoint/pending"
    }

    /// The newest signed checkpoint and where its cosigning stands.
    func pending() -> PendingCheckpoint {
        PendingCheckpoint(
            checkpoint: latest.withLockedValue { $0?.note },
            treeSize: latest.withLockedValue { $0?.checkpoint.treeSize },
            cosignedTreeSize: witnesses == nil
                ? latest.withLockedValue { $0?.checkpoint.treeSize }
                : cosigned.withLockedValue { $0?.checkpoint.treeSize },
            quorum: witnesses?.policy.quorumName, witnesses: witnesses?.witnessReports ?? [])
    }

    /// Asks the witnesses, one round at a time, for the newest checkpoint not yet cosigned.
    private func startCosigning() {
        guard let witnesses, let target = latest.withLockedValue({ $0 }) else { return }
        guard (cosigned.withLockedValue { $0?.checkpoint.treeSize } ?? -1) < target.checkpoint.treeSize else { return }
        // One round at a time, and a failed round is tried again after `minimumInterval`.
        let started = cosigning.withLockedValue { state in
            if state.busy { return false }
            if let began = state.began, NIODeadline.now() - began < minimumInterval { return false }
            state = (true, .now())
            return true
        }
        guard started else { return }
        let pool = pool
        Task {
            defer { cosigning.withLockedValue { $0.busy = false } }
            let size = target.checkpoint.treeSize
            guard
                let note = await witnesses.cosign(
                    note: target.note, checkpoint: target.checkpoint,
                    proof: { old in
                        try await pool.withConnection { connection in
                            try await StoreSession(connection: connection).consistencyProof(from: old, to: size)
                        }.proof.compactMap { Data(base64Encoded: $0).map(Array.init) }
                    })
            else { return }
            cosigned.withLockedValue { current in
                if (current?.checkpoint.treeSize ?? -1) < size {
                    current = Signed(note: note, checkpoint: target.checkpoint, signedAt: .now())
                }
            }
        }
    }
}

/// `GET /v1/audit/checkpoint/pending`: the newest checkpoint the log signed, which may wait
/// for its witnesses, beside the size of the one published.
struct PendingCheckpoint: Encodable, Sendable {
    /// The newest signed checkpoint, without cosignatures: not the published one.
    var checkpoint: String?
    var treeSize: Int64?
    /// The size of the published (cosigned) checkpoint.
    var cosignedTreeSize: Int64?
    /// The policy's quorum, nil without witnesses.
    var quorum: String?
    var witnesses: [WitnessCollector.Report]
}
