import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Transparency

/// The log's side of c2sp.org/tlog-witness: sends each new checkpoint to the witnesses of a
/// policy (c2sp.org/tlog-policy) with a consistency proof from the size each last cosigned,
/// checks the cosignatures they answer, and says whether the policy's quorum is met.
///
/// What a witness last cosigned is learnt from it: the first request says `old 0`, and the
/// 409 answer names the size (tlog-witness allows exactly this), so a restarted server needs
/// no state of its own.
public final class WitnessCollector: Sendable {
    public let policy: WitnessPolicy
    private let urls: [Int: PlainHTTPURL]
    private let timeout: TimeAmount
    private let reports: NIOLockedValueBox<[Int: Report]>

    /// What the log knows of one witness.
    public struct Report: Sendable, Codable, Equatable {
        public var name: String
        public var url: String
        /// The size it last cosigned for this log, as far as the log knows.
        public var cosignedSize: Int64
        /// The tree size and outcome of the last request.
        public var lastSize: Int64?
        public var lastStatus: Int?
        public var lastError: String?
    }

    /// Refuses a policy whose quorum the witnesses with a usable `http://` URL cannot meet.
    public init(policy: WitnessPolicy, timeout: TimeAmount = .seconds(10)) throws {
        var urls: [Int: PlainHTTPURL] = [:]
        for (index, witness) in policy.witnesses.enumerated() {
            guard let text = witness.url else { continue }
            guard let url = PlainHTTPURL(text) else {
                throw TransparencyError("witness \(witness.name): \(text) is not an http://HOST[:PORT][/PREFIX] URL")
            }
            urls[index] = url
        }
        guard policy.isSatisfied(by: Set(urls.keys)) else {
            throw TransparencyError(
                "the quorum \(policy.quorumName) cannot be met by the witnesses that have a URL in the policy")
        }
        self.policy = policy
        self.urls = urls
        self.timeout = timeout
        reports = NIOLockedValueBox(
            Dictionary(
                uniqueKeysWithValues: urls.map { index, url in
                    (index, Report(name: policy.witnesses[index].name, url: url.description, cosignedSize: 0))
                }))
    }

    /// What the log knows of each witness it asks, in the policy's order.
    public var witnessReports: [Report] {
        reports.withLockedValue { reports in reports.keys.sorted().compactMap { reports[$0] } }
    }

    /// Asks every witness at once to cosign `note` (the log's signed checkpoint); answers the
    /// note with every valid cosignature appended when the quorum is met, else nil.
    /// `proof(old)` is the consistency proof from `old` leaves to the checkpoint's size.
    public func cosign(
        note: String, checkpoint: Checkpoint, proof: @escaping @Sendable (Int64) async throws -> [Merkle.Hash]
    ) async -> String? {
        let answers = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, url) in urls {
                group.addTask {
                    (index, await self.ask(index, url, note: note, checkpoint: checkpoint, proof: proof))
                }
            }
            var answers: [Int: String] = [:]
            for await (index, lines) in group { if let lines { answers[index] = lines } }
            return answers
        }
        guard policy.isSatisfied(by: Set(answers.keys)) else { return nil }
        return note + answers.keys.sorted().compactMap { answers[$0] }.joined()
    }

    /// One witness: at most three requests (a first guess of its size, then the size its 409
    /// names); its valid cosignature lines, or nil with the reason kept in its report.
    private func ask(
        _ index: Int, _ url: PlainHTTPURL, note: String, checkpoint: Checkpoint,
        proof: @Sendable (Int64) async throws -> [Merkle.Hash]
    ) async -> String? {
        let key = policy.witnesses[index].key
        var old = reports.withLockedValue { $0[index]?.cosignedSize ?? 0 }
        func record(status: Int?, error: String?, cosigned: Int64? = nil) {
            reports.withLockedValue {
                $0[index]?.lastSize = checkpoint.treeSize
                $0[index]?.lastStatus = status
                $0[index]?.lastError = error
                if let cosigned { $0[index]?.cosignedSize = cosigned }
            }
        }
        for _ in 0..<3 {
            guard old <= checkpoint.treeSize else {
                record(
                    status: 409,
                    error: "it has cosigned \(old) leaves, more than this checkpoint's \(checkpoint.treeSize)",
                    cosigned: old)
                return nil
            }
            let answer: PlainHTTPAnswer
            do {
                let hashes = old == 0 || old == checkpoint.treeSize ? [] : try await proof(old)
                answer = try await PlainHTTPClient.request(
                    .POST, url, path: "/add-checkpoint", headers: [("Content-Type", "text/plain; charset=utf-8")],
                    body: Array(AddCheckpointRequest.text(oldSize: old, proof: hashes, note: note).utf8),
                    maxBody: 64 << 10, timeout: timeout)
            } catch {
                record(status: nil, error: "no answer: \(error)")
                return nil
            }
            let text = String(decoding: answer.body, as: UTF8.self)
            switch answer.status {
            case 200:
                // Only this witness's lines that verify on this checkpoint are kept.
                let lines = text.split(separator: "\n").map { $0 + "\n" }.filter {
                    (try? key.cosignature(on: note + $0)) != nil
                }
                guard !lines.isEmpty else {
                    record(status: 200, error: "its answer holds no valid cosignature by \(key.name)")
                    return nil
                }
                record(status: 200, error: nil, cosigned: checkpoint.treeSize)
                return lines.joined()
            case 409:
                let size = text.hasSuffix("\n") ? Int64(text.dropLast()) : nil
                guard answer.contentType?.hasPrefix("text/x.tlog.size") == true, let size, size >= 0 else {
                    record(status: 409, error: "409 without a text/x.tlog.size body")
                    return nil
                }
                guard size != old else {
                    record(
                        status: 409,
                        error: "it cosigned another tree of \(size) leaves: the log has shown two views", cosigned: size
                    )
                    return nil
                }
                old = size
                record(status: 409, error: "it had cosigned \(size) leaves; asked again from there", cosigned: size)
            default:
                record(
                    status: answer.status,
                    error: String(text.prefix(300)).trimmingCharacters(in: .whitespacesAndNewlines))
                return nil
            }
        }
        return nil
    }
}
