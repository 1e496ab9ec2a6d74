import Foundation
import Hummingbird
import Logging
import NIOCore
import Transparency

/// A witness, c2sp.org/tlog-witness: `POST <prefix>/add-checkpoint` checks a log's new
/// checkpoint against the one it last cosigned for that log and, if the log only grew,
/// records it and answers its Ed25519 `cosignature/v1` line (c2sp.org/tlog-cosignature).
public struct Witness: Sendable {
    public let signer: CosignatureSigner
    public let rules: WitnessRules
    public let state: WitnessState
    /// The clock of the cosignatures (POSIX seconds); a test may fix it.
    public var now: @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970)) }

    /// The largest request accepted: 63 proof lines and a checkpoint with many signatures.
    public static let maxRequestBytes = 64 << 10

    public init(signer: CosignatureSigner, logs: [NoteVerifier], state: WitnessState) {
        self.signer = signer
        self.rules = WitnessRules(logs: logs)
        self.state = state
    }

    /// Answers one request body: the cosignature lines, or the refusal.
    public func addCheckpoint(_ body: [UInt8]) async throws -> Result<String, WitnessRefusal> {
        do {
            let request = try AddCheckpointRequest(body)
            try rules.checkSignature(request)
            _ = try await state.advance(request)
            return .success(try signer.cosign(body: request.body, timestamp: now()))
        } catch let refusal as WitnessRefusal {
            return .failure(refusal)
        }
    }

    /// The witness's HTTP routes under `prefix` ("" or "/path").
    public func router(prefix: String, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        router.post(RouterPath(prefix + "/add-checkpoint")) { request, _ -> Response in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: Self.maxRequestBytes)
            } catch {
                return Self.text(.contentTooLarge, "the request is larger than \(Self.maxRequestBytes) bytes\n")
            }
            switch try await addCheckpoint(Array(buffer: body)) {
            case .success(let lines):
                logger.info("cosigned", metadata: ["request": "\(Self.summary(body))"])
                return Self.text(.ok, lines)
            case .failure(let refusal):
                // A known log whose proof does not verify may be misbehaving: worth a warning.
                logger.log(
                    level: refusal.status == 422 || refusal.status == 409 ? .warning : .info,
                    "refused",
                    metadata: [
                        "status": "\(refusal.status)", "reason": "\(refusal.message)",
                        "request": "\(Self.summary(body))",
                    ])
                if refusal.status == 409, let size = refusal.cosignedSize {
                    return Response(
                        status: .conflict, headers: [.contentType: "text/x.tlog.size"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "\(size)\n")))
                }
                return Self.text(HTTPResponse.Status(code: refusal.status), refusal.message + "\n")
            }
        }
        router.get(RouterPath(prefix.isEmpty ? "/" : prefix)) { _, _ in
            Self.text(
                .ok,
                "c2sp.org/tlog-witness \(signer.name)\nverifier key: \(signer.verifier.text)\n"
                    + "logs: \(rules.logs.keys.sorted().joined(separator: " "))\n"
                    + "POST \(prefix)/add-checkpoint\n")
        }
        router.get("/healthz") { _, _ in Self.text(.ok, "ok\n") }
        return router
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// The old size and the checkpoint's origin and size, for the log (never the whole body).
    static func summary(_ body: ByteBuffer) -> String {
        let lines = String(decoding: body.readableBytesView.prefix(4096), as: UTF8.self).split(
            separator: "\n", omittingEmptySubsequences: false)
        guard let blank = lines.firstIndex(of: ""), lines.count > blank + 2 else { return "malformed" }
        return
            "\(lines[0].prefix(40)) -> \(lines[blank + 1].prefix(100).debugDescription) \(lines[blank + 2].prefix(20))"
    }
}
