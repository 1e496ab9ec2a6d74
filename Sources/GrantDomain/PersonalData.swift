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

        /// The sealed text of a recorded value's JSON text, nil for anything else (a text in
        /// clear).
        init?(json: ArraySlice<UInt8>) {
            guard json.first == UInt8(ascii: "{"), let members = JSONMembers.scan(Array(json)), members.count == 2
            else { return nil }
            var key: String?
            var box: String?
            for member in members {
                let value = JSONMembers.string(
                    json[json.startIndex + member.value.lowerBound..<json.startIndex + member.value.upperBound])
                switch member.key {
                case "key": key = value
                case "encrypted": box = value
                default: return nil
                }
            }
            guard let key, let box else { return nil }
            self.init(key: key, box: box)
        }

        /// The JSON text recorded in place of the text.
        public var json: String { #"{"encrypted":"\#(box)","key":"\#(key)"}"# }
    }

    /// The personal fields of an event's data, with the byte range of each one's value; nil
    /// when the type has none or the data is not a JSON object.
    static func personalMembers(type: String, bytes: [UInt8]) -> [(field: String, value: Range<Int>)]? {
        guard let names = fields[type], let members = JSONMembers.scan(bytes) else { return nil }
        return members.filter { names.contains($0.key) }.map { ($0.key, $0.value) }
    }

    /// The data with each personal field's value passed through `transform(field, value's
    /// JSON text)`, which returns the new value's JSON text or nil to keep it; the data itself
    /// when nothing changed. Works on the text, without parsing the whole object.
    public static func rewrite(
        type: String, data: String, _ transform: (_ field: String, _ value: ArraySlice<UInt8>) throws -> String?
    ) rethrows -> String {
        let bytes = Array(data.utf8)
        guard let members = personalMembers(type: type, bytes: bytes) else { return data }
        var replacements: [(value: Range<Int>, text: String)] = []
        for (field, range) in members {
            if let replacement = try transform(field, bytes[range]) { replacements.append((range, replacement)) }
        }
        return splice(bytes, replacements) ?? data
    }

    /// `bytes` with each range replaced by its text, as a string; nil when there is none.
    private static func splice(_ bytes: [UInt8], _ replacements: [(value: Range<Int>, text: String)]) -> String? {
        guard !replacements.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        var copied = 0
        for (range, text) in replacements.sorted(by: { $0.value.lowerBound < $1.value.lowerBound }) {
            out += bytes[copied..<range.lowerBound]
            out += text.utf8
            copied = range.upperBound
        }
        out += bytes[copied...]
        return String(decoding: out, as: UTF8.self)
    }

    /// An event's sealed texts, found in one scan of its data: the key look-up reads their
    /// key ids and the opening replaces them in place, without scanning again.
    public struct SealedTexts: Sendable {
        /// The data's bytes.
        let bytes: [UInt8]
        /// Each sealed text: its field, the byte range of its value in `bytes`, the box.
        public let texts: [(field: String, value: Range<Int>, sealed: Sealed)]
    }

    /// The sealed texts of an event's data; nil when it has none (most events, told apart
    /// without a scan).
    public static func locate(type: String, data: String) -> SealedTexts? {
        var data = data
        return data.withUTF8 { locate(type: type, utf8: UnsafeRawBufferPointer($0)) }
    }

    /// `locate(type:data:)` of the data's UTF-8 bytes, as a result row holds them.
    public static func locate(type: String, utf8 data: UnsafeRawBufferPointer) -> SealedTexts? {
        guard mayBeSealed(type: type, utf8: data) else { return nil }
        let bytes = Array(data)
        let texts = (personalMembers(type: type, bytes: bytes) ?? []).compactMap { member in
            Sealed(json: bytes[member.value]).map { (member.field, member.value, $0) }
        }
        return texts.isEmpty ? nil : SealedTexts(bytes: bytes, texts: texts)
    }

    /// The data of `located` with every sealed text replaced by what `open` reads for it.
    public static func opened(_ located: SealedTexts, _ open: (_ field: String, Sealed) -> String) -> String {
        splice(located.bytes, located.texts.map { ($0.value, JSONMembers.literal(open($0.field, $0.sealed))) })
            ?? String(decoding: located.bytes, as: UTF8.self)
    }

    /// Whether an event's data may hold sealed texts: a cheap test before any scanning.
    /// Inside a JSON string a quote is escaped, so `"encrypted"` with both quotes bare is a
    /// key or a whole value.
    static func mayBeSealed(type: String, utf8 bytes: UnsafeRawBufferPointer) -> Bool {
        guard fields[type] != nil else { return false }
        let marker = Array("\"encrypted\"".utf8)
        guard bytes.count >= marker.count else { return false }
        var index = 0
        while index <= bytes.count - marker.count {
            if bytes[index] == marker[0], bytes[index + 1] == marker[1] {
                var offset = 2
                while offset < marker.count, bytes[index + offset] == marker[offset] { offset += 1 }
                if offset == marker.count { return true }
            }
            index += 1
        }
        return false
    }

    /// The sealed texts of an event's data.
    public static func sealed(type: String, data: String) -> [Sealed] {
        locate(type: type, data: data)?.texts.map(\.sealed) ?? []
    }

    /// The data with every sealed text replaced by what `open` reads for it.
    public static func opened(type: String, data: String, _ open: (_ field: String, Sealed) -> String) -> String {
        locate(type: type, data: data).map { opened($0, open) } ?? data
    }

    /// The data as typed decoding reads it: sealed texts as `sealedPlaceholder`.
    public static func readable(type: String, data: String) -> String {
        opened(type: type, data: data) { _, _ in sealedPlaceholder }
    }

    /// An event's data, parsed, as typed decoding reads it: the value of each personal field
    /// that holds a sealed text (an object of exactly the two strings `encrypted` and `key`)
    /// replaced by `sealedPlaceholder`. What parsing `readable(type:data:)` gives for the
    /// log's data, without scanning, splicing and parsing its text a second time.
    public static func readable(type: String, value: JSONValue) -> JSONValue {
        guard let names = fields[type], case .object(var members) = value else { return value }
        var changed = false
        for name in names where isSealedText(members[name]) {
            members[name] = .string(sealedPlaceholder)
            changed = true
        }
        return changed ? .object(members) : value
    }

    /// Whether a personal field's value is a sealed text: an object of exactly the two
    /// strings `encrypted` and `key`.
    static func isSealedText(_ value: JSONValue?) -> Bool {
        guard case .object(let text)? = value, text.count == 2, case .string? = text["encrypted"],
            case .string? = text["key"]
        else { return false }
        return true
    }

    /// `readable(type:value:)` for what `JSONParser.parseObject` found.
    public static func readable(type: String, parsed: JSONParser.Parsed) -> JSONParser.Parsed {
        guard case .object(var object) = parsed else {
            return .value(readable(type: type, value: parsed.value))
        }
        guard let names = fields[type] else { return parsed }
        for name in names where isSealedText(object[name]) {
            object.replace(name, with: .string(sealedPlaceholder))
        }
        return .object(object)
    }

    /// Whether the data records a personal text in clear (before encryption, or by a writer
    /// that did not encrypt): such a text cannot be erased by destroying a key.
    public static func hasClearText(type: String, data: String) -> Bool {
        let bytes = Array(data.utf8)
        return (personalMembers(type: type, bytes: bytes) ?? []).contains {
            bytes[$0.value].first == UInt8(ascii: "\"")
        }
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

/// The top-level members of a JSON object text, found by scanning its bytes: what the
/// personal-data rewrites need, without decoding the whole object.
public enum JSONMembers {
    static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    /// Each member's key and the byte range of its value; nil when the text is not an object.
    static func scan(_ b: [UInt8]) -> [(key: String, value: Range<Int>)]? {
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        /// Moves past a string starting at `i`; false when it does not end.
        func skipString() -> Bool {
            i += 1
            while i < b.count {
                if b[i] == backslash {
                    i += 2
                } else if b[i] == quote {
                    i += 1
                    return true
                } else {
                    i += 1
                }
            }
            return false
        }
        func skipValue() -> Bool {
            guard i < b.count else { return false }
            switch b[i] {
            case quote: return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < b.count {
                    switch b[i] {
                    case quote: if !skipString() { return false } else { continue }
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return true
                        }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < b.count, !",}] \n\r\t".utf8.contains(b[i]) { i += 1 }
                return i > start
            }
        }
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        var members: [(key: String, value: Range<Int>)] = []
        while true {
            skipSpace()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "}") { return members }
            guard b[i] == quote else { return nil }
            let keyStart = i
            guard skipString() else { return nil }
            guard let key = string(b[keyStart..<i]) else { return nil }
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            let valueStart = i
            guard skipValue() else { return nil }
            members.append((key, valueStart..<i))
            skipSpace()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: ",") {
                i += 1
            } else if b[i] != UInt8(ascii: "}") {
                return nil
            }
        }
    }

    /// The string a JSON string literal's bytes hold.
    public static func string(_ literal: ArraySlice<UInt8>) -> String? {
        guard literal.count >= 2, literal.first == quote, literal.last == quote else { return nil }
        if !literal.contains(backslash) { return String(decoding: literal.dropFirst().dropLast(), as: UTF8.self) }
        let wrapped = Data([UInt8(ascii: "[")] + Array(literal) + [UInt8(ascii: "]")])
        let decoded = try? JSONDecoder().decode([String].self, from: wrapped)
        return decoded?.first
    }

    /// `text` as a JSON string literal.
    public static func literal(_ text: String) -> String {
        var out: [UInt8] = [quote]
        out.reserveCapacity(text.utf8.count + 2)
        for byte in text.utf8 {
            switch byte {
            case quote: out += [backslash, quote]
            case backslash: out += [backslash, backslash]
            case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(quote)
        return String(decoding: out, as: UTF8.self)
    }
}
