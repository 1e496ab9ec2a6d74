import Foundation

/// The project's JSON text: keys sorted by their UTF-8 bytes, no spaces, slashes unescaped,
/// byte for byte what `ResponseJSON.encoder` (Foundation's `JSONEncoder` with `.sortedKeys`
/// and `.withoutEscapingSlashes`) writes, which the tests check over random values and every
/// event type. It builds a small tree and writes it in one pass, several times faster than
/// Foundation: event data, the idempotency digest's payload and the answers use it.
///
/// Floating-point numbers, `Date`, `Data`, `URL` and `Decimal` are written by Foundation
/// itself, so their spelling cannot differ.
public enum CanonicalJSON {
    /// `value` as JSON text.
    public static func text(_ value: some Encodable) throws -> String {
        String(decoding: try bytes(value), as: UTF8.self)
    }

    /// `value` as JSON bytes.
    public static func data(_ value: some Encodable) throws -> Data {
        Data(try bytes(value))
    }

    /// `value` as JSON bytes.
    public static func bytes(_ value: some Encodable) throws -> [UInt8] {
        if let direct = value as? any CanonicalValue { return try CanonicalWriter.bytes(of: direct) }
        return try treeBytes(value)
    }

    /// `value` as JSON bytes through its `Encodable` conformance, never its own writer
    /// (`CanonicalValue`) at the top: the form the tests hold the writers to.
    public static func treeBytes(_ value: some Encodable) throws -> [UInt8] {
        let node = try TreeEncoder.node(for: value, codingPath: [])
        var out: [UInt8] = []
        out.reserveCapacity(256)
        node.write(into: &out)
        return out
    }
}

/// One value being encoded. Objects and arrays are boxes so that containers taken from one
/// encoder (a `Flat` value writes two sets of keys into one object) add to the same value.
private indirect enum Node {
    case null
    case bool(Bool)
    case integer(String)
    case string(String)
    case raw([UInt8])
    case array(ArrayBox)
    case object(ObjectBox)

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let digits): out.append(contentsOf: digits.utf8)
        case .string(let text): CanonicalJSON.writeString(text, into: &out)
        case .raw(let bytes): out.append(contentsOf: bytes)
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (offset, item) in box.items.enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let box):
            out.append(UInt8(ascii: "{"))
            for (offset, index) in box.sortedOrder().enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                CanonicalJSON.writeString(box.keys[index], into: &out)
                out.append(UInt8(ascii: ":"))
                box.values[index].write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Whether `a` sorts before `b` by their UTF-8 bytes (the order of `.sortedKeys`).
    static func precedes(_ a: String, _ b: String) -> Bool {
        let compared = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right -> Bool in
                let common = min(left.count, right.count)
                if common > 0, let l = left.baseAddress, let r = right.baseAddress {
                    let order = memcmp(l, r, common)
                    if order != 0 { return order < 0 }
                }
                return left.count < right.count
            }
        }
        return (compared ?? nil) ?? a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

private final class ArrayBox {
    var items: [Node] = []
}

/// An object's fields in the order they were first set; written sorted by key
/// (`Node.write`). Keys behave as a dictionary's: a key set again (or one canonically
/// equivalent to it, as Swift compares strings) keeps its first spelling and takes the new
/// value. Most objects have a few keys, found by a scan cheaper than hashing; past 32 a
/// dictionary finds them.
private final class ObjectBox {
    private(set) var keys: [String] = []
    private(set) var values: [Node] = []
    private var index: [String: Int]?

    func set(_ key: String, _ value: Node) {
        if let index {
            if let at = index[key] {
                values[at] = value
                return
            }
        } else if let at = keys.firstIndex(of: key) {
            values[at] = value
            return
        }
        keys.append(key)
        values.append(value)
        if index != nil {
            index?[key] = keys.count - 1
        } else if keys.count == 32 {
            index = Dictionary(uniqueKeysWithValues: zip(keys, keys.indices))
        }
    }

    /// The fields' indices sorted by key.
    func sortedOrder() -> [Int] {
        keys.indices.sorted { Node.precedes(keys[$0], keys[$1]) }
    }
}

/// The `Encoder` that builds a `Node`. A value encoding itself takes one container (or, for
/// flattened values, several keyed ones, which share one object).
private final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var node: Node?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
    }

    /// Foundation's spelling of a value it encodes specially (floating-point numbers, dates,
    /// data, URLs, decimals).
    static func foundation(_ value: some Encodable) throws -> Node {
        .raw(Array(try ResponseJSON.encoder.encode(value)))
    }

    /// The types written other than by their own `encode(to:)`: recognised by comparing
    /// the value's type first (a pointer comparison), cast only then. Every other value
    /// (the project's structs, most of all) used to fail eleven dynamic casts on its way
    /// to `encode(to:)`.
    static let foundationTypes: [Any.Type] = [Double.self, Float.self, Date.self, Data.self, URL.self, Decimal.self]

    static func node(for value: some Encodable, codingPath: [any CodingKey]) throws -> Node {
        let kind: Any.Type = type(of: value)
        if kind == String.self, let text = value as? String { return .string(text) }
        if kind == Int64.self, let integer = value as? Int64 { return .integer(String(integer)) }
        if kind == Int.self, let integer = value as? Int { return .integer(String(integer)) }
        if kind == Bool.self, let flag = value as? Bool { return .bool(flag) }
        if kind == JSONValue.self, let json = value as? JSONValue { return try node(for: json) }
        if foundationTypes.contains(where: { $0 == kind }) { return try foundation(value) }
        if let direct = value as? any CanonicalValue { return .raw(try CanonicalWriter.bytes(of: direct)) }
        let encoder = TreeEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        // A value that encoded nothing is an empty object, as with Foundation.
        return encoder.node ?? .object(ObjectBox())
    }

    static func node(for json: JSONValue) throws -> Node {
        switch json {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .integer(let integer): return .integer(String(integer))
        case .number(let double): return try foundation(double)
        case .string(let text): return .string(text)
        case .array(let items):
            let box = ArrayBox()
            box.items = try items.map { try node(for: $0) }
            return .array(box)
        case .object(let fields):
            let box = ObjectBox()
            for (key, value) in fields { box.set(key, try node(for: value)) }
            return .object(box)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: ObjectBox
        if case .object(let existing)? = node {
            box = existing
        } else {
            box = ObjectBox()
            node = .object(box)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: ArrayBox
        if case .array(let existing)? = node {
            box = existing
        } else {
            box = ArrayBox()
            node = .array(box)
        }
        return UnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(encoder: self) }
}

private struct IndexKey: CodingKey {
    var stringValue: String { String(index) }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: ObjectBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, .integer(String(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: Int16, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: Int32, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        box.set(key.stringValue, .integer(String(value)))
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        box.set(key.stringValue, try TreeEncoder.foundation(value))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        box.set(key.stringValue, try TreeEncoder.foundation(value))
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.set(key.stringValue, try TreeEncoder.node(for: value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = ObjectBox()
        box.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        box.set(key.stringValue, .array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(codingPath: codingPath) { [box] node in box.set("super", node) }
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SlotEncoder(codingPath: codingPath + [key]) { [box] node in box.set(key.stringValue, node) }
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let box: ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.null) }
    mutating func encode(_ value: Bool) throws { box.items.append(.bool(value)) }
    mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
    mutating func encode(_ value: Int64) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: Int) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: Int8) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: Int16) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: Int32) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: UInt) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: UInt8) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: UInt16) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: UInt32) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: UInt64) throws { box.items.append(.integer(String(value))) }
    mutating func encode(_ value: Double) throws { box.items.append(try TreeEncoder.foundation(value)) }
    mutating func encode(_ value: Float) throws { box.items.append(try TreeEncoder.foundation(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try TreeEncoder.node(for: value, codingPath: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = ObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        box.items.append(.array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        let index = box.items.count
        box.items.append(.null)
        return SlotEncoder(codingPath: codingPath) { [box] node in box.items[index] = node }
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let encoder: TreeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func encodeNil() throws { encoder.node = .null }
    func encode(_ value: Bool) throws { encoder.node = .bool(value) }
    func encode(_ value: String) throws { encoder.node = .string(value) }
    func encode(_ value: Int64) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: Int) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: Int8) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: Int16) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: Int32) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: UInt) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: UInt8) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: UInt16) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: UInt32) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: UInt64) throws { encoder.node = .integer(String(value)) }
    func encode(_ value: Double) throws { encoder.node = try TreeEncoder.foundation(value) }
    func encode(_ value: Float) throws { encoder.node = try TreeEncoder.foundation(value) }
    func encode<T: Encodable>(_ value: T) throws {
        encoder.node = try TreeEncoder.node(for: value, codingPath: codingPath)
    }
}

/// An encoder for a `superEncoder()`: what is encoded through it lands in its parent's slot
/// once it is written (on every container call the parent sees the latest value).
private final class SlotEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private let inner: TreeEncoder
    private let store: (Node) -> Void

    init(codingPath: [any CodingKey], store: @escaping (Node) -> Void) {
        self.codingPath = codingPath
        self.inner = TreeEncoder(codingPath: codingPath)
        self.store = store
    }

    deinit { store(inner.node ?? .object(ObjectBox())) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        inner.container(keyedBy: type)
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner.singleValueContainer() }
}

extension CanonicalJSON {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `text` as a JSON string: the runs that need no escape are copied whole.
    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var run = 0
            for (at, byte) in bytes.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<at]))
                run = at + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default:
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0x0F)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
