import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Transparency

#if canImport(Glibc)
    import Glibc
#endif

/// What a witness remembers, in `DIR/state.json`: for each log's origin, the latest
/// checkpoint it cosigned (size and root).
///
/// Checking a request against the remembered head and recording the new one happen as one
/// step on one thread of its own (never on an event loop), in the order requests arrive, so
/// two requests can never roll the head back (the race tlog-witness describes). The new head
/// is on disk (written to a temporary file, flushed, renamed over the old one, the directory
/// flushed) before the witness cosigns. `DIR/lock` is held (flock) while the witness runs, so
/// two witnesses never share a state.
public final class WitnessState: Sendable {
    public let directory: URL
    private let heads: NIOLockedValueBox<[String: WitnessedHead]>
    private let thread: NIOThreadPool
    private let lockDescriptor: Int32

    private struct File: Codable {
        var logs: [String: Head]
        struct Head: Codable {
            var size: Int64
            var root: String
        }
    }

    /// Opens (or makes, mode 700) the state directory and reads what it holds.
    public init(directory path: String) throws {
        directory = URL(fileURLWithPath: path, isDirectory: true)
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lockPath = directory.appendingPathComponent("lock").path
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PlainHTTPError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw PlainHTTPError("another witness is running on \(path) (\(lockPath) is locked)")
        }
        lockDescriptor = descriptor
        var loaded: [String: WitnessedHead] = [:]
        let file = directory.appendingPathComponent("state.json")
        if let data = FileManager.default.contents(atPath: file.path) {
            do {
                for (origin, head) in try JSONDecoder().decode(File.self, from: data).logs {
                    guard let root = Data(base64Encoded: head.root), root.count == 32, head.size >= 0 else {
                        throw PlainHTTPError("a head of \(origin) is not a size and a 32-byte root")
                    }
                    loaded[origin] = WitnessedHead(size: head.size, root: Array(root))
                }
            } catch {
                close(descriptor)
                throw PlainHTTPError("\(file.path) is not a witness state: \(error)")
            }
        }
        heads = NIOLockedValueBox(loaded)
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    deinit {
        thread.shutdownGracefully { _ in }
        close(lockDescriptor)
    }

    /// The latest head cosigned for `origin`.
    public func head(_ origin: String) -> WitnessedHead? {
        heads.withLockedValue { $0[origin] }
    }

    /// Checks `request` against the remembered head and records the new one durably, as one
    /// step: ``WitnessRules/advance(_:from:)``'s refusals pass through unchanged.
    public func advance(_ request: AddCheckpointRequest) async throws -> WitnessedHead {
        try await thread.runIfActive { [self] in
            let current = heads.withLockedValue { $0 }
            let next = try WitnessRules.advance(request, from: current[request.origin])
            if current[request.origin] != next {
                var updated = current
                updated[request.origin] = next
                try persist(updated)
                heads.withLockedValue { $0 = updated }
            }
            return next
        }
    }

    private func persist(_ state: [String: WitnessedHead]) throws {
        let file = File(
            logs: state.mapValues { File.Head(size: $0.size, root: Data($0.root).base64EncodedString()) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes = Array(try encoder.encode(file)) + [0x0A]
        let temporary = directory.appendingPathComponent("state.json.new").path
        let target = directory.appendingPathComponent("state.json").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PlainHTTPError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(descriptor)
                throw PlainHTTPError("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += n
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            throw PlainHTTPError("cannot flush \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, target) == 0 else {
            throw PlainHTTPError("cannot replace \(target): \(String(cString: strerror(errno)))")
        }
        let folder = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { throw PlainHTTPError("cannot open \(directory.path)") }
        defer { close(folder) }
        guard fsync(folder) == 0 else { throw PlainHTTPError("cannot flush \(directory.path)") }
    }
}
