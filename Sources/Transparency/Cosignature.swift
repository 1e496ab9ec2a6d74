import Crypto
import Foundation

/// A witness's Ed25519 key, which cosigns checkpoints per c2sp.org/tlog-cosignature
/// (`cosignature/v1`).
///
/// Key formats, as the log's key (``NoteSigner``) but with the cosignature's signature type
/// 0x04:
/// - private: `PRIVATE+KEY+<name>+<key ID, 8 hex>+<base64(0x04 ‖ 32-byte seed)>`;
/// - verifier (vkey): `<name>+<key ID, 8 hex>+<base64(0x04 ‖ 32-byte public key)>`;
/// the key ID being the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key).
public struct CosignatureSigner: Sendable {
    public let name: String
    private let seed: [UInt8]
    private let publicKey: [UInt8]

    /// A new random key named `name` (the witness's name, e.g. `witness.example.org/w1`).
    public init(generatingNamed name: String) throws {
        try NoteVerifier.checkName(name)
        let key = Curve25519.Signing.PrivateKey()
        self.name = name
        self.seed = Array(key.rawRepresentation)
        self.publicKey = Array(key.publicKey.rawRepresentation)
    }

    /// Reads a private key in the format above (surrounding white space ignored).
    public init(privateKey text: String) throws {
        let key = try KeyText.privateKey(
            text, type: CosignatureVerifier.signatureType, kind: "an Ed25519 cosigning key")
        (name, seed, publicKey) = (key.name, key.seed, key.publicKey)
        guard key.id == NoteSigner.hex(verifier.keyID) else {
            throw TransparencyError("the private key's ID does not match its name and key")
        }
    }

    /// The private key, to be written to a file only its owner can read.
    public var privateKeyText: String {
        let blob = Data([CosignatureVerifier.signatureType] + seed).base64EncodedString()
        return "PRIVATE+KEY+\(name)+\(NoteSigner.hex(verifier.keyID))+\(blob)"
    }

    public var verifier: CosignatureVerifier { CosignatureVerifier(name: name, publicKey: publicKey) }

    /// The signature line (ending in a newline) cosigning the checkpoint note body `body`
    /// (its text, without signature lines) at `timestamp` (POSIX seconds).
    public func cosign(body: String, timestamp: UInt64) throws -> String {
        try SignedNote.checkText(body)
        guard timestamp <= UInt64(Int64.max) else { throw TransparencyError("a cosignature's time exceeds 2^63-1") }
        let message = CosignatureVerifier.message(body: body, timestamp: timestamp)
        let signature = try Curve25519.Signing.PrivateKey(rawRepresentation: seed).signature(for: message)
        let blob = NoteSigner.bigEndian(verifier.keyID) + CosignatureVerifier.bigEndian(timestamp) + Array(signature)
        return "\u{2014} \(name) \(Data(blob).base64EncodedString())\n"
    }
}

/// A witness's public key: finds and checks its cosignatures on a checkpoint.
public struct CosignatureVerifier: Sendable, Hashable {
    /// The signature type of an Ed25519 `cosignature/v1` key.
    public static let signatureType: UInt8 = 0x04

    public let name: String
    public let publicKey: [UInt8]

    public init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Reads a vkey `<name>+<key ID>+<base64(0x04 ‖ key)>`, refusing an ID that does not match.
    public init(_ text: String) throws {
        let key = try KeyText.verifierKey(text, type: Self.signatureType, kind: "a cosigning key")
        self.init(name: key.name, publicKey: key.publicKey)
        guard key.id == NoteSigner.hex(keyID) else {
            throw TransparencyError("the verifier key's ID does not match its name and key")
        }
    }

    /// First 4 bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key), big-endian.
    public var keyID: UInt32 {
        let digest = Array(SHA256.hash(data: Array(name.utf8) + [0x0A, Self.signatureType] + publicKey))
        return digest[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The key in vkey form, to publish and to name in a policy.
    public var text: String {
        "\(name)+\(NoteSigner.hex(keyID))+\(Data([Self.signatureType] + publicKey).base64EncodedString())"
    }

    /// The time of this witness's valid cosignature on `note`, nil if the note carries none
    /// by it; throws if it carries one by this key that does not verify.
    public func cosignature(on note: String) throws -> UInt64? {
        let (body, lines) = try SignedNote.split(note)
        var found: UInt64?
        for line in lines where line.name.utf8.elementsEqual(name.utf8) && line.keyHash == keyID {
            let blob = line.signature
            guard blob.count == 8 + 64 else { throw TransparencyError("\(name)'s cosignature is not 72 bytes") }
            let timestamp = blob.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard timestamp <= UInt64(Int64.max),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
                key.isValidSignature(blob.dropFirst(8), for: Self.message(body: body, timestamp: timestamp))
            else { throw TransparencyError("the cosignature by \(name) does not verify") }
            found = max(found ?? 0, timestamp)
        }
        return found
    }

    /// The signed message: `cosignature/v1`, `time <T>`, then the checkpoint's note body.
    static func message(body: String, timestamp: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(timestamp)\n\(body)".utf8)
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}

extension SignedNote {
    /// One signature line: `— <name> base64(key hash ‖ signature)`.
    struct SignatureLine {
        var name: Substring
        var keyHash: UInt32
        var signature: Data
    }

    /// Splits a signed note into its text and its signature lines, refusing malformed ones.
    static func split(_ note: String) throws -> (text: String, lines: [SignatureLine]) {
        guard let separator = note.range(of: "\n\n", options: .backwards) else {
            throw TransparencyError("not a signed note: no blank line before the signatures")
        }
        let text = String(note[note.startIndex...separator.lowerBound])
        let block = note[separator.upperBound...]
        try checkText(text)
        guard block.hasSuffix("\n") else { throw TransparencyError("the signature block does not end in a newline") }
        let lines = block.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        // As Go's note.Open: more signatures than any real note carries is refused unread.
        guard lines.count <= 100 else { throw TransparencyError("a note carries at most 100 signatures") }
        return (
            text,
            try lines.map { line in
                guard line.hasPrefix("\u{2014} ") else {
                    throw TransparencyError("malformed signature line (expected '\u{2014} <name> <signature>')")
                }
                let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count == 2, !fields[0].isEmpty, let blob = Data(base64Encoded: String(fields[1])),
                    blob.count >= 5
                else { throw TransparencyError("malformed signature line") }
                return SignatureLine(
                    name: fields[0], keyHash: blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) },
                    signature: blob.dropFirst(4))
            }
        )
    }
}
