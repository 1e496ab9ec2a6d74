import Foundation

/// An offline proof of logging, c2sp.org/tlog-proof@v1: the leaf's index, its inclusion
/// proof and the (cosigned) checkpoint it leads to, verbatim.
///
/// ```
/// c2sp.org/tlog-proof@v1
/// extra <base64>
/// index <leaf index>
/// <proof hash, base64>...
///
/// <checkpoint note>
/// ```
/// grantledger's `extra` is `grantledger-event position=<P> hash=<event hash, hex>`: the
/// event's position in the log and the leaf input. Being unauthenticated it is only a
/// pointer: the check recomputes the leaf from the exported event or a signed receipt, or
/// proves the stated hash itself.
public struct TlogProof: Sendable, Equatable {
    public static let header = "c2sp.org/tlog-proof@v1"

    public var extra: [UInt8]?
    public var index: Int64
    public var proof: [Merkle.Hash]
    /// The checkpoint, signatures and cosignatures included.
    public var checkpoint: String

    public init(extra: [UInt8]?, index: Int64, proof: [Merkle.Hash], checkpoint: String) {
        self.extra = extra
        self.index = index
        self.proof = proof
        self.checkpoint = checkpoint
    }

    /// The grantledger `extra` for an event.
    public static func eventExtra(position: Int64, hash: Merkle.Hash) -> [UInt8] {
        Array("grantledger-event position=\(position) hash=\(Hex.encode(hash))".utf8)
    }

    /// The position and hash a grantledger `extra` states, if it is one.
    public var statedEvent: (position: Int64, hash: Merkle.Hash)? {
        guard let extra, let text = String(validating: extra, as: UTF8.self) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count == 3, fields[0] == "grantledger-event", fields[1].hasPrefix("position="),
            fields[2].hasPrefix("hash="), let position = Int64(fields[1].dropFirst(9)),
            let hash = Hex.decode(fields[2].dropFirst(5)), hash.count == 32
        else { return nil }
        return (position, hash)
    }

    public var text: String {
        var out = Self.header + "\n"
        if let extra { out += "extra \(Data(extra).base64EncodedString())\n" }
        out += "index \(index)\n"
        out += proof.map { Data($0).base64EncodedString() + "\n" }.joined()
        return out + "\n" + checkpoint
    }

    public init(text: String) throws {
        guard let blank = text.range(of: "\n\n") else {
            throw TransparencyError("a tlog-proof has an empty line before its checkpoint")
        }
        var lines = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard lines.popFirst() == Substring(Self.header) else {
            throw TransparencyError("a tlog-proof starts with the line \(Self.header)")
        }
        if let line = lines.first, line.hasPrefix("extra ") {
            guard let bytes = Data(base64Encoded: String(line.dropFirst(6))) else {
                throw TransparencyError("the proof's extra data is not base64")
            }
            extra = Array(bytes)
            lines = lines.dropFirst()
        } else {
            extra = nil
        }
        guard let line = lines.popFirst(), line.hasPrefix("index "), let index = Int64(line.dropFirst(6)),
            index >= 0, String(index) == line.dropFirst(6)
        else { throw TransparencyError("a tlog-proof's index line is 'index <decimal>'") }
        guard lines.count <= 63 else { throw TransparencyError("an inclusion proof has at most 63 hashes") }
        self.index = index
        proof = try lines.map { line in
            guard let hash = Data(base64Encoded: String(line)), hash.count == 32 else {
                throw TransparencyError("an inclusion proof line is not a base64 SHA-256 hash")
            }
            return Array(hash)
        }
        checkpoint = String(text[blank.upperBound...])
    }

    /// Checks that `leafInput` is leaf ``index`` of the tree of `checkpoint`'s size and root.
    public func verify(leafInput: Merkle.Hash, in checkpoint: Checkpoint) throws {
        guard index < checkpoint.treeSize else {
            throw TransparencyError("leaf \(index) is not in a tree of \(checkpoint.treeSize) leaves")
        }
        guard
            Merkle.verifyInclusion(
                leafHash: Merkle.leafHash(leafInput), index: index, size: checkpoint.treeSize, proof: proof,
                root: checkpoint.rootHash)
        else {
            throw TransparencyError(
                "the inclusion proof of leaf \(index) does not lead to the checkpoint's root")
        }
    }
}
