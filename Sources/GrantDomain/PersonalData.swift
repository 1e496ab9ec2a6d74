import Foundation

/// The texts that identify an organisation and can be forgotten (docs/domain.md §15).
///
/// From the first version that encrypts them, an organisation's `name` and the `purpose`
/// and cancellation `reason` of its sub-grants are recorded only encrypted with a key of
/// that organisation, as `{"encrypted": "<base64>", "key": "<key id>"}` in place of the
/// text. The log's hashes, chain, tree and proofs cover that ciphertext, so destroying the
/// key (`erasePersonalData`) forgets the text and changes no recorded byte.
///
/// This type knows where the texts are and how they are written; the cipher and the keys
/// live with the store (`PersonalDataCipher`), which opens texts before projections read
/// them. Rules never read the texts.
public enum PersonalData {
    /// The fields of each event type that hold an organisation's identifying text.
    public static let fields: [String: [String]] = [
        "OrganisationRegistered": ["name"],
        "OrganisationProfileUpdated": ["name"],
        "SubGrantAwarded": ["purpose"],
        "SubGrantCancelled": ["reason"],
    ]

    /// What a text reads as once its key is destroyed.
    public static let erased = "erased"
    /// What a text reads as when its key is not in this database (a copy imported without
    /// `--keys`).
    public static let unavailable = "unavailable"
    /// What a text not opened reads as (the rules, which never use it).
    public static let sealedPlaceholder = "encrypted"

    /// An encrypted text as recorded: its key's id and the AES-GCM box (nonce, ciphertext
    /// and tag), base64.
    public struct Sealed: Sendable, Hashable {
        public var key: String
        public var box: String

        public init(key: String, box: String) {
            self.key = key
            self.box = box
        }

        /// The sealed text in a recorded value, nil for anything else (a text in clear).
        public init?(_ value: JSONValue) {
            guard case .object(let object) = value, object.count == 2, case .string(let key)? = object["key"],
                case .string(let box)? = object["encrypted"]
            else { return nil }
            self.init(key: key, box: box)
        }

        /// The value recorded in place of the text.
        public var value: JSONValue { .object(["encrypted": .string(box), "key": .string(key)]) }
    }

    /// Whether an event's data may hold sealed texts: a cheap test on the text before any
    /// parsing. Inside a JSON string a quote is escaped, so `"encrypted"` with both quotes
    /// bare is a key or a whole value.
    static func mayBeSealed(type: String, data: String) -> Bool {
        fields[type] != nil && data.contains("\"encrypted\"")
    }

    /// The data with each personal field passed through `transform(field, value)`; nil when
    /// the type has none, the data is not an object, or nothing changed.
    public static func rewrite(
        type: String, data: String, _ transform: (_ field: String, _ value: JSONValue) throws -> JSONValue
    ) rethrows -> String? {
        guard let names = fields[type], case .object(var object)? = JSONValue.parse(data) else { return nil }
        var changed = false
        for name in names {
            guard let value = object[name] else { continue }
            let next = try transform(name, value)
            if next != value {
                object[name] = next
                changed = true
            }
        }
        return changed ? String(decoding: JSONValue.object(object).jsonData, as: UTF8.self) : nil
    }

    /// The sealed texts of an event's data.
    public static func sealed(type: String, data: String) -> [Sealed] {
        guard mayBeSealed(type: type, data: data), let names = fields[type],
            case .object(let object)? = JSONValue.parse(data)
        else { return [] }
        return names.compactMap { object[$0].flatMap(Sealed.init) }
    }

    /// The data with every sealed text replaced by what `open` reads for it.
    public static func opened(type: String, data: String, _ open: (_ field: String, Sealed) -> String) -> String {
        guard mayBeSealed(type: type, data: data) else { return data }
        return rewrite(type: type, data: data) { field, value in
            Sealed(value).map { .string(open(field, $0)) } ?? value
        } ?? data
    }

    /// The data as typed decoding reads it: sealed texts as `sealedPlaceholder`.
    public static func readable(type: String, data: String) -> String {
        opened(type: type, data: data) { _, _ in sealedPlaceholder }
    }

    /// Whether the data records a personal text in clear (before encryption, or by a writer
    /// that did not encrypt): such a text cannot be erased by destroying a key.
    public static func hasClearText(type: String, data: String) -> Bool {
        guard let names = fields[type], case .object(let object)? = JSONValue.parse(data) else { return false }
        return names.contains { if case .string? = object[$0] { true } else { false } }
    }

    /// The organisation whose key encrypts the texts `command` records; nil when it records
    /// none. A cancellation's reason belongs to the sub-grant's organisation.
    public static func subject(of command: Command, reader: some StateReader) async throws -> String? {
        switch command {
        case .registerOrganisation(let c): return c.organisationId
        case .updateOrganisationProfile(let c): return c.name == nil ? nil : c.organisationId
        case .awardSubGrant(let c): return c.organisationId
        case .cancelSubGrant(let c): return try await reader.subGrant(c.subGrantId)?.award.organisationId
        default: return nil
        }
    }
}
