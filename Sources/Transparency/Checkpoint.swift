import Foundation

/// A C2SP `tlog-checkpoint` body: the log's origin, its tree size and root hash.
///
/// ```
/// <origin>
/// <tree size, decimal>
/// <root hash, base64>
/// ```
/// each line ending in a newline. The origin is the name of the log's key. grantledger writes
/// no extension lines and refuses a checkpoint that has any.
public struct Checkpoint: SignedBody, Sendable, Equatable, Codable {
    public var origin: String
    public var treeSize: Int64
    public var rootHash: Merkle.Hash

    public init(origin: String, treeSize: Int64, rootHash: Merkle.Hash) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
    }

    /// The note text.
    public var body: String {
        "\(origin)\n\(treeSize)\n\(Data(rootHash).base64EncodedString())\n"
    }

    /// Reads a checkpoint body.
    public init(body: String) throws {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard body.hasSuffix("\n"), lines.count == 4 else {
            throw TransparencyError("a checkpoint has exactly three lines: origin, tree size, root hash")
        }
        guard !lines[0].isEmpty else { throw TransparencyError("the checkpoint's origin is empty") }
        guard let size = Int64(lines[1]), size >= 0, String(size) == lines[1] else {
            throw TransparencyError("the checkpoint's tree size is not a decimal number")
        }
        guard let root = Data(base64Encoded: String(lines[2])), root.count == 32 else {
            throw TransparencyError("the checkpoint's root hash is not 32 bytes of base64")
        }
        self.init(origin: String(lines[0]), treeSize: size, rootHash: Array(root))
    }
}

/// A note body the log signs: a checkpoint or a receipt, whose first line is the origin.
public protocol SignedBody {
    /// The log's name; it must be the signing key's name.
    var origin: String { get }
    /// The note's text.
    var body: String { get }
    /// Reads a note's text, refusing anything but exactly this body's lines.
    init(body: String) throws
}

extension SignedBody {
    /// Signs this body with the log's key.
    public func signed(by signer: NoteSigner) throws -> String { try signer.sign(body) }

    /// Opens a signed note: checks the signature and that the origin is the key's name.
    public static func open(_ note: String, verifier: NoteVerifier) throws -> Self {
        let opened = try Self(body: verifier.open(note))
        guard opened.origin == verifier.name else {
            throw TransparencyError("the note's origin \(opened.origin) is not the key's name \(verifier.name)")
        }
        return opened
    }
}

/// A receipt for one recorded event: a signed note over its position, content hash and
/// recording time.
///
/// ```
/// <origin>
/// grantledger event receipt
/// <position>
/// <event hash, lowercase hex>
/// <recordedAt, RFC 3339 UTC with microseconds>
/// ```
/// Its second line keeps it from ever reading as a checkpoint.
public struct Receipt: SignedBody, Sendable, Equatable, Codable {
    public static let kind = "grantledger event receipt"

    public var origin: String
    public var position: Int64
    public var hash: Merkle.Hash
    public var recordedAt: String

    public init(origin: String, position: Int64, hash: Merkle.Hash, recordedAt: String) {
        self.origin = origin
        self.position = position
        self.hash = hash
        self.recordedAt = recordedAt
    }

    public var body: String {
        "\(origin)\n\(Self.kind)\n\(position)\n\(Hex.encode(hash))\n\(recordedAt)\n"
    }

    public init(body: String) throws {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard body.hasSuffix("\n"), lines.count == 6, lines[1] == Self.kind else {
            throw TransparencyError(
                "a receipt has exactly five lines: origin, '\(Self.kind)', position, hash, recordedAt")
        }
        guard let position = Int64(lines[2]), position > 0, String(position) == lines[2] else {
            throw TransparencyError("the receipt's position is not a positive decimal number")
        }
        guard let hash = Hex.decode(lines[3]), hash.count == 32 else {
            throw TransparencyError("the receipt's hash is not 64 hex digits")
        }
        guard !lines[4].isEmpty else { throw TransparencyError("the receipt's recordedAt is empty") }
        self.init(origin: String(lines[0]), position: position, hash: hash, recordedAt: String(lines[4]))
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = value(utf8[i]), let low = value(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}
