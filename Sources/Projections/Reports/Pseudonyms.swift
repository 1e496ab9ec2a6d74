import Crypto
import Foundation
import GrantDomain
import NIOConcurrencyHelpers

/// A deployment's pseudonyms for confidential organisations (docs/domain.md §15): outside
/// managers and auditors, a confidential organisation appears as `anon-` + the first 16 hex
/// digits of HMAC-SHA256(key, organisationId), named "Civil society group, <region>", with
/// its dimensions kept, so that every count stays the same.
public struct Pseudonyms: Sendable {
    /// The secret, as bytes (`SymmetricKey` is not `Sendable`).
    let secret: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: secret) }
    /// Pseudonyms computed so far: a long list asks for the same ones again and again.
    let known = PseudonymCache()

    /// - Parameter key: 32 bytes or more of secret.
    public init?(key: [UInt8]) {
        guard key.count >= 32 else { return nil }
        secret = key
    }

    /// Pseudonyms of a random key that lives as long as the process: what is shown when no
    /// key is configured, so that names are never shown for want of one.
    public static func ephemeral() -> Pseudonyms {
        var generator = SystemRandomNumberGenerator()
        return Pseudonyms(secret: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    init(secret: [UInt8]) { self.secret = secret }

    /// A key file's text: 64 lowercase hex digits (and a newline), as `keygen pseudonym`
    /// writes it; nil for anything else.
    public init?(keyText: String) {
        let hex = keyText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(key: bytes)
    }

    /// 32 random bytes as a key file's text.
    public static func generateKeyText() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            + "\n"
    }

    /// `anon-` + the first 16 hex digits of HMAC-SHA256(key, organisationId).
    public func pseudonym(_ organisationId: String) -> String {
        if let cached = known.get(organisationId) { return cached }
        let mac = HMAC<SHA256>.authenticationCode(for: Array(organisationId.utf8), using: key)
        let pseudonym = "anon-" + mac.prefix(8).map { String(format: "%02x", $0) }.joined()
        known.put(organisationId, pseudonym)
        return pseudonym
    }

    /// `text` sealed (ChaCha20-Poly1305, a key derived from the pseudonym key) as URL-safe
    /// base64: a list cursor that does not show the identifier it continues after.
    public func sealed(_ text: String) -> String {
        guard let box = try? ChaChaPoly.seal(Array(text.utf8), using: cursorKey) else { return "" }
        return box.combined.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }

    /// The text `sealed` made, nil for anything else.
    public func opened(_ token: String) -> String? {
        let base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard let data = Data(base64Encoded: base64), let box = try? ChaChaPoly.SealedBox(combined: data),
            let plain = try? ChaChaPoly.open(box, using: cursorKey)
        else { return nil }
        return String(validating: plain, as: UTF8.self)
    }

    var cursorKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("grantledger list cursor".utf8), outputByteCount: 32)
    }

    /// "Civil society group, <region name in the language>" (no region: the group alone).
    public static func name(regionCode: String?, language: ReportLanguage = .en) -> String {
        let group: String
        switch language {
        case .en: group = "Civil society group"
        case .kk: group = "Азаматтық қоғам тобы"
        case .ru: group = "Группа гражданского общества"
        }
        guard let regionCode, let region = Region.name(of: regionCode, in: language) else { return group }
        return "\(group), \(region)"
    }
}

/// The pseudonyms of one key computed so far, up to a bound (then it starts again).
final class PseudonymCache: Sendable {
    private let table = NIOLockedValueBox<[String: String]>([:])
    static let limit = 500_000

    func get(_ organisationId: String) -> String? { table.withLockedValue { $0[organisationId] } }

    func put(_ organisationId: String, _ pseudonym: String) {
        table.withLockedValue {
            if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
            $0[organisationId] = pseudonym
        }
    }
}
