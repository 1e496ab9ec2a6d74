import EventStore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Transparency

/// The latest signed checkpoint of the log, which the server publishes at
/// `GET /v1/audit/checkpoint`.
///
/// The projection service calls `refresh()` after each catch-up: a new checkpoint is signed
/// when the tree grew and the last one is at least `minimumInterval` old, so a growing log
/// gets a fresh head every few seconds and an idle one costs nothing.
final class CheckpointPublisher: Sendable {
    let signer: NoteSigner?
    let pool: ConnectionPool
    let minimumInterval: TimeAmount
    private let latest = NIOLockedValueBox<(note: String, treeSize: Int64, signedAt: NIODeadline)?>(nil)

    init(signer: NoteSigner?, pool: ConnectionPool, minimumInterval: TimeAmount = .seconds(5)) {
        self.signer = signer
        self.pool = pool
        self.minimumInterval = minimumInterval
    }

    /// Signs a checkpoint of the sealed tree if it is due; does nothing without a key.
    func refresh() async throws {
        guard let signer else { return }
        if let last = latest.withLockedValue({ $0 }), NIODeadline.now() - last.signedAt < minimumInterval {
            return
        }
        // The size first: an idle log costs one query, the root only when the tree grew.
        let head: (size: Int64, root: Merkle.Hash)? = try await pool.withConnection { connection in
            let size = try await StoreSession(connection: connection).treeSize()
            if let last = latest.withLockedValue({ $0 }), last.treeSize >= size { return nil }
            return (size, try await StoreSession(connection: connection).root(size: size))
        }
        guard let head else { return }
        let note = try Checkpoint(origin: signer.name, treeSize: head.size, rootHash: head.root).signed(by: signer)
        latest.withLockedValue { current in
            // Two refreshes may race; keep the larger tree.
            if (current?.treeSize ?? -1) < head.size { current = (note, head.size, .now()) }
        }
    }

    /// The latest signed checkpoint, signing the first one if none was yet; nil without a key.
    func checkpoint() async throws -> String? {
        guard signer != nil else { return nil }
        if latest.withLockedValue({ $0 }) == nil { try await refresh() }
        return latest.withLockedValue { $0?.note }
    }
}
