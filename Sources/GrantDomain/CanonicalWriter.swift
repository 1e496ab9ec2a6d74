/// Canonical JSON written straight into bytes, without an `Encoder`: the payloads' writers
/// are generated from the command table (each field in key order, so nothing is sorted),
/// and the read models' documents and derived data write their members by hand. The bytes
/// are the ones their `Encodable` conformances give through `CanonicalJSON` and Foundation
/// (`JSONCodingTests` and `EntitiesProjectionTests` compare them); `CanonicalJSON` takes this
/// path for any value that has one.
public protocol CanonicalValue: Encodable {
    /// Appends the value's JSON.
    func write(to writer: inout CanonicalWriter) throws
}

/// A value written as one JSON object.
public protocol CanonicalObject: CanonicalValue {
    /// Adds the value's members (`writer.member`), in any order: the object sorts them if
    /// they do not come sorted. A key added twice keeps its last value, as with `Encodable`.
    /// Keys are compared by their bytes: two spellings of one text (`é` composed and
    /// decomposed), which a keyed container takes for one key, are two keys here; the keys
    /// are the types' own field names.
    func writeMembers(to writer: inout CanonicalWriter) throws
}

extension CanonicalObject {
    public func write(to writer: inout CanonicalWriter) throws {
        let outer = writer.beginObject()
        try writeMembers(to: &writer)
        writer.endObject(outer)
    }
}

/// The bytes being written, and the members of the objects still open.
public struct CanonicalWriter {
    public private(set) var bytes: [UInt8] = []
    /// Each member of the open objects: its key and where its `"key":value` lies in `bytes`.
    private var members: [Member] = []
    /// Where the innermost open object's members start in `members`.
    private var open = 0

    private struct Member {
        var key: StaticString
        var start: Int
        var end: Int
    }

    public init() {
        bytes.reserveCapacity(256)
    }

    /// The bytes `value` writes.
    static func bytes(of value: any CanonicalValue) throws -> [UInt8] {
        var writer = CanonicalWriter()
        try value.write(to: &writer)
        return writer.bytes
    }

    /// A member whose value is present.
    public mutating func member<V: CanonicalValue>(_ key: StaticString, _ value: V) throws {
        beginMember(key)
        try value.write(to: &self)
        members[members.count - 1].end = bytes.count
    }

    /// A member written only when the value is present (what `encodeIfPresent` does).
    public mutating func optionalMember<V: CanonicalValue>(_ key: StaticString, _ value: V?) throws {
        if let value { try member(key, value) }
    }

    /// A member of a type without a writer of its own, through `CanonicalJSON`.
    public mutating func member<V: Encodable>(_ key: StaticString, _ value: V) throws {
        beginMember(key)
        bytes.append(contentsOf: try CanonicalJSON.bytes(value))
        members[members.count - 1].end = bytes.count
    }

    /// A member of a type without a writer of its own, written only when present.
    public mutating func optionalMember<V: Encodable>(_ key: StaticString, _ value: V?) throws {
        if let value { try member(key, value) }
    }

    private mutating func beginMember(_ key: StaticString) {
        if members.count > open { bytes.append(UInt8(ascii: ",")) }
        let start = bytes.count
        key.withUTF8Buffer { key in
            if key.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                CanonicalJSON.writeString(String(decoding: key, as: UTF8.self), into: &bytes)
            } else {
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: key)
                bytes.append(UInt8(ascii: "\""))
            }
        }
        bytes.append(UInt8(ascii: ":"))
        members.append(Member(key: key, start: start, end: start))
    }

    /// Opens an object; returns what `endObject` needs to close it.
    public mutating func beginObject() -> Int {
        bytes.append(UInt8(ascii: "{"))
        defer { open = members.count }
        return open
    }

    /// Closes the object `beginObject` opened, sorting its members if they did not come in
    /// key order.
    public mutating func endObject(_ outer: Int) {
        let first = open
        var sorted = true
        if members.count - first > 1 {
            for index in (first + 1)..<members.count
            where !Self.precedes(members[index - 1].key, members[index].key) {
                sorted = false
                break
            }
        }
        if !sorted { reorder(from: first) }
        members.removeSubrange(first...)
        open = outer
        bytes.append(UInt8(ascii: "}"))
    }

    /// Rewrites the open object's members in key order; of members with one key, the last.
    private mutating func reorder(from first: Int) {
        let list = Array(members[first...])
        let regionStart = list[0].start
        let region = Array(bytes[regionStart...])
        // Stable: of equal keys, the one added last comes last, and is the one kept.
        let order = list.indices.sorted { a, b in
            Self.precedes(list[a].key, list[b].key) || (!Self.precedes(list[b].key, list[a].key) && a < b)
        }
        bytes.removeSubrange(regionStart...)
        var written = false
        for (offset, index) in order.enumerated() {
            if offset + 1 < order.count, !Self.precedes(list[index].key, list[order[offset + 1]].key) { continue }
            if written { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: region[(list[index].start - regionStart)..<(list[index].end - regionStart)])
            written = true
        }
    }

    /// Whether key `a` sorts before `b` by their UTF-8 bytes.
    private static func precedes(_ a: StaticString, _ b: StaticString) -> Bool {
        a.withUTF8Buffer { left in b.withUTF8Buffer { right in left.lexicographicallyPrecedes(right) } }
    }

    /// Appends `text` as a JSON string.
    public mutating func string(_ text: String) {
        CanonicalJSON.writeString(text, into: &bytes)
    }

    /// Appends an integer.
    public mutating func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Appends `true` or `false`.
    public mutating func bool(_ value: Bool) {
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// Appends one byte of JSON's punctuation.
    mutating func punctuation(_ byte: UInt8) {
        bytes.append(byte)
    }
}

extension String: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.string(self) }
}

extension Int64: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.integer(self) }
}

extension Int: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.integer(self) }
}

extension Bool: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.bool(self) }
}

extension Money: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.string(description) }
}

extension BusinessDate: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws { writer.string(description) }
}

extension Array: CanonicalValue where Element: CanonicalValue {
    public func write(to writer: inout CanonicalWriter) throws {
        writer.punctuation(UInt8(ascii: "["))
        for (offset, item) in enumerated() {
            if offset > 0 { writer.punctuation(UInt8(ascii: ",")) }
            try item.write(to: &writer)
        }
        writer.punctuation(UInt8(ascii: "]"))
    }
}

/// An enumeration written as its raw text.
public protocol CanonicalRawText: CanonicalValue, RawRepresentable where RawValue == String {}

extension CanonicalRawText {
    public func write(to writer: inout CanonicalWriter) throws { writer.string(rawValue) }
}

extension Settlement: CanonicalRawText {}
extension RegistrationStatus: CanonicalRawText {}
extension LeadershipGender: CanonicalRawText {}
extension OrganisationKind: CanonicalRawText {}
extension MemberRole: CanonicalRawText {}
extension ActivityKind: CanonicalRawText {}
extension Organiser: CanonicalRawText {}
extension Theme: CanonicalRawText {}
extension IndexId: CanonicalRawText {}
extension Indicator: CanonicalRawText {}
extension AccessChannel: CanonicalRawText {}

extension Member: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("organisationId", organisationId)
        try writer.member("role", role)
    }
}

extension PeopleSupported.Counts: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("men", men)
        try writer.member("undisclosed", undisclosed)
        try writer.member("women", women)
    }
}

extension PeopleSupported: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("activist", activist)
        try writer.member("hrd", hrd)
        try writer.member("journalist", journalist)
    }
}

extension Flat: CanonicalValue, CanonicalObject where Base: CanonicalObject, Extras: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try base.writeMembers(to: &writer)
        try extras.writeMembers(to: &writer)
    }
}

extension AwardDerived: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("callId", callId)
        try writer.member("consortiumId", consortiumId)
        try writer.member("members", members)
    }
}

extension SubGrantDerived: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("callId", callId)
    }
}

extension CallState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("call", call)
        try writer.optionalMember("closed", closed)
    }
}

extension ConsortiumState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("consortiumId", consortiumId)
        try writer.member("members", members)
        try writer.member("name", name)
    }
}

extension ApplicationState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("evaluations", evaluations)
        try writer.optionalMember("rejected", rejected)
        try writer.member("submission", submission)
        try writer.optionalMember("withdrawn", withdrawn)
    }
}

extension GrantState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("award", award)
        try writer.optionalMember("closed", closed)
        try writer.member("disbursed", disbursed)
        try writer.member("tranches", tranches)
    }
}

extension SubGrantState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("award", award)
        try writer.optionalMember("cancelled", cancelled)
        try writer.member("disbursed", disbursed)
        try writer.member("payments", payments)
    }
}

extension ActivityState: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try writer.member("recorded", recorded)
        try writer.optionalMember("retracted", retracted)
    }
}
