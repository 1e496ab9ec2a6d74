import Crypto
import Foundation

/// Why a key, a note, a checkpoint, a receipt or a proof was refused.
public struct TransparencyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The Ed25519 key that signs the log's notes, in the C2SP signed-note key formats
/// (those of Go's golang.org/x/mod/sumdb/note):
/// - private: `PRIVATE+KEY+<name>+<key hash, 8 hex>+<base64(0x01 ‖ 32-byte seed)>`;
/// - verifier: `<name>+<key hash, 8 hex>+<base64(0x01 ‖ 32-byte public key)>`;
/// the key hash being the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
public struct NoteSigner: Sendable {
    public let name: String
    /// The 32-byte Ed25519 seed (CryptoKit's key type is not Sendable; bytes are).
    private let seed: [UInt8]
    private let publicKey: [UInt8]

    /// A new random key named `name`.
    public init(generatingNamed name: String) throws {
        try NoteVerifier.checkName(name)
        let key = Curve25519.Signing.PrivateKey()
        self.name = name
        self.seed = Array(key.rawRepresentation)
        self.publicKey = Array(key.publicKey.rawRepresentation)
    }

    /// Reads a private key in the format above (surrounding white space ignored).
    public init(privateKey text: String) throws {
        let key = try KeyText.privateKey(text, type: 0x01, kind: "an Ed25519 signing key")
        (name, seed, publicKey) = (key.name, key.seed, key.publicKey)
        guard key.id == NoteSigner.hex(verifier.keyHash) else {
            throw TransparencyError("the private key's hash does not match its name and key")
        }
    }

    /// The private key, to be written to a file only its owner can read.
    public var privateKeyText: String {
        "PRIVATE+KEY+\(name)+\(Self.hex(verifier.keyHash))+\(Data([1] + seed).base64EncodedString())"
    }

    /// The verifier for this key.
    public var verifier: NoteVerifier {
        NoteVerifier(name: name, publicKey: publicKey)
    }

    /// Signs `text` (non-empty, every line ending in a newline) as a signed note.
    public func sign(_ text: String) throws -> String {
        try SignedNote.checkText(text)
        let signature = try Curve25519.Signing.PrivateKey(rawRepresentation: seed).signature(for: Array(text.utf8))
        let blob = Data(Self.bigEndian(verifier.keyHash) + Array(signature)).base64EncodedString()
        return text + "\n\u{2014} \(name) \(blob)\n"
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}

/// The public half of a ``NoteSigner``: checks the notes it signed.
public struct NoteVerifier: Sendable, Equatable {
    public let name: String
    public let publicKey: [UInt8]

    public init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Reads a verifier key `<name>+<hash>+<base64 key>`, refusing a hash that does not match.
    public init(_ text: String) throws {
        let key = try KeyText.verifierKey(text, type: 0x01, kind: "an Ed25519 signing key")
        self.init(name: key.name, publicKey: key.publicKey)
        guard key.id == NoteSigner.hex(keyHash) else {
            throw TransparencyError("the verifier key's hash does not match its name and key")
        }
    }

    /// First 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), big-endian.
    public var keyHash: UInt32 {
        let digest = Array(SHA256.hash(data: Array(name.utf8) + [0x0A, 0x01] + publicKey))
        return digest[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The key in signed-note form, to publish.
    public var text: String {
        "\(name)+\(NoteSigner.hex(keyHash))+\(Data([1] + publicKey).base64EncodedString())"
    }

    /// A key name: non-empty, printable, no space and no `+`.
    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 200,
            name.unicodeScalars.allSatisfy({
                $0 != "+" && !$0.properties.isWhitespace && $0.value >= 0x21 && $0.value != 0x7F
                    && !(0x80...0x9F).contains($0.value)
            })
        else { throw TransparencyError("a key name must be 1-200 printable characters without spaces or '+'") }
    }

    /// Checks `note`'s signature by this key and returns the signed text.
    ///
    /// Refuses a note without a signature line of this key's name and hash, a bad signature,
    /// malformed signature lines, and text that is not newline-terminated lines.
    public func open(_ note: String) throws -> String {
        let (text, lines) = try SignedNote.split(note)
        var verified = false
        for line in lines where line.name == name && line.keyHash == keyHash {
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
                key.isValidSignature(line.signature, for: Array(text.utf8))
            else { throw TransparencyError("the signature by \(name) does not verify") }
            verified = true
        }
        guard verified else {
            throw TransparencyError("the note carries no signature by \(name)+\(NoteSigner.hex(keyHash))")
        }
        return text
    }
}

/// The text rules of a signed note.
enum SignedNote {
    /// Non-empty UTF-8, newline-terminated lines, no control characters but the newline.
    static func checkText(_ text: String) throws {
        guard !text.isEmpty, text.hasSuffix("\n") else {
            throw TransparencyError("a note's text must be non-empty and end in a newline")
        }
        guard
            text.unicodeScalars.allSatisfy({
                $0 == "\n" || ($0.value >= 0x20 && $0.value != 0x7F)
            })
        else { throw TransparencyError("a note's text must not hold control characters") }
    }
}

/// The text forms of Ed25519 keys in signed notes, for a signature type (0x01 a log's key,
/// 0x04 a witness's): `PRIVATE+KEY+<name>+<id>+<base64(type ‖ seed)>` and
/// `<name>+<id>+<base64(type ‖ public key)>`. The caller checks the ID, which it computes.
enum KeyText {
    static func privateKey(_ text: String, type: UInt8, kind: String) throws -> (
        name: String, id: Substring, seed: [UInt8], publicKey: [UInt8]
    ) {
        // base64 may hold '+': only the first four separate fields.
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY" else {
            throw TransparencyError("not a private key (expected PRIVATE+KEY+<name>+<hash>+<key>)")
        }
        let name = String(parts[2])
        try NoteVerifier.checkName(name)
        guard let bytes = Data(base64Encoded: String(parts[4])), bytes.count == 33, bytes.first == type,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes.dropFirst())
        else { throw TransparencyError("the private key is not \(kind) (type \(type))") }
        return (name, parts[3], Array(key.rawRepresentation), Array(key.publicKey.rawRepresentation))
    }

    static func verifierKey(_ text: String, type: UInt8, kind: String) throws -> (
        name: String, id: Substring, publicKey: [UInt8]
    ) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw TransparencyError("not a verifier key (expected <name>+<hash>+<key>)") }
        let name = String(parts[0])
        try NoteVerifier.checkName(name)
        guard let bytes = Data(base64Encoded: String(parts[2])), bytes.count == 33 else {
            throw TransparencyError("the verifier key is not an Ed25519 key")
        }
        guard bytes.first == type else {
            throw TransparencyError("the verifier key is not \(kind) (signature type \(bytes.first ?? 0), not \(type))")
        }
        return (name, parts[1], Array(bytes.dropFirst()))
    }
}
