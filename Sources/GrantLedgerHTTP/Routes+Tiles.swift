import EventStore
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import Transparency

/// The log as C2SP tlog-tiles (c2sp.org/tlog-tiles) under a prefix (default `/log`), public
/// and without a token: `<prefix>/checkpoint`, `<prefix>/tile/<L>/<N>[.p/<W>]` and
/// `<prefix>/tile/entries/<N>[.p/<W>]`. Tiles are immutable: a full one is read from the
/// database once and then served from memory (`TileCache`); a partial one is served for any
/// width the sealed tree holds, which includes every size a checkpoint was issued for.
/// These routes follow the C2SP paths, not the OpenAPI document (whose paths cannot name
/// `x001/x234/067`); its description points here.
struct TileRoutes {
    let prefix: String
    let store: EventStore
    let checkpoints: CheckpointPublisher
    let cache = TileCache(maxTiles: 4096)

    func add(to router: Router<LedgerRequestContext>) {
        router.get(RouterPath(prefix + "/checkpoint")) { _, _ in
            guard let note = try await checkpoints.checkpoint() else {
                throw APIError.notFound(checkpoints.missingReason)
            }
            var response = Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: note)))
            // Mutable: caches may keep it for a few seconds at most.
            response.headers[.cacheControl] = "public, max-age=5"
            return response
        }
        router.get(RouterPath(prefix + "/tile/**")) { _, context in
            let path = "tile/" + context.parameters.getCatchAll().joined(separator: "/")
            guard let tile = Tiles.parse(Substring(path)) else {
                throw APIError.notFound("\(prefix)/\(path) is not a tile path of c2sp.org/tlog-tiles")
            }
            let bytes: [UInt8]
            if let cached = cache.get(tile) {
                bytes = cached
            } else {
                guard let read = try await store.tile(tile) else {
                    throw APIError.notFound("the sealed tree does not hold \(tile.path) yet")
                }
                if tile.isFull { cache.put(tile, read) }
                bytes = read
            }
            var response = Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
            response.headers[.cacheControl] = "public, max-age=31536000, immutable"
            return response
        }
    }
}

/// Full tiles by their path, at most `maxTiles` (8 KiB each for hash tiles), the oldest
/// dropped first. A full tile never changes, so nothing is ever invalidated.
final class TileCache: Sendable {
    private let maxTiles: Int
    private let storage = NIOLockedValueBox<(tiles: [Tiles.Tile: [UInt8]], order: [Tiles.Tile])>(([:], []))

    init(maxTiles: Int) { self.maxTiles = maxTiles }

    func get(_ tile: Tiles.Tile) -> [UInt8]? { storage.withLockedValue { $0.tiles[tile] } }

    func put(_ tile: Tiles.Tile, _ bytes: [UInt8]) {
        storage.withLockedValue { storage in
            guard storage.tiles.updateValue(bytes, forKey: tile) == nil else { return }
            storage.order.append(tile)
            if storage.order.count > maxTiles {
                storage.tiles[storage.order.removeFirst()] = nil
            }
        }
    }
}
