import Foundation

/// Decodes a `Decodable` value straight from a parsed `JSONValue`, as Foundation's
/// `JSONDecoder` would from its text: commands (whose fields the table has checked already)
/// and stored events are read without turning the tree back into text.
///
/// It keeps that decoder's rules: an integer reads as any integer type it fits and as a
/// floating-point number; a string never reads as a number; `null` reads only as nil; a
/// missing key is `keyNotFound`. `Date`, `Data`, `URL` and `Decimal`, which Foundation
/// treats specially, go through Foundation itself.
public enum JSONValueDecoder {
    /// `type` decoded from `value`.
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, path: nil).decode(type)
    }
}

/// Where a value sits, built only as deep as decoding goes and read only for an error's
/// coding path: a list from the innermost key outwards.
private final class PathNode {
    let key: any CodingKey
    let parent: PathNode?

    init(_ key: any CodingKey, _ parent: PathNode?) {
        self.key = key
        self.parent = parent
    }

    static func codingPath(_ node: PathNode?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = node
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let path: PathNode?
    /// The key of a primitive read in place, without a node of its own.
    var leafKey: (any CodingKey)? = nil
    var codingPath: [any CodingKey] { PathNode.codingPath(path) + (leafKey.map { [$0] } ?? []) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch<T>(_ type: T.Type) -> DecodingError {
        DecodingError.typeMismatch(
            type, .init(codingPath: codingPath, debugDescription: "found \(value.shortDescription)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let fields) = value else { throw mismatch([String: JSONValue].self) }
        return KeyedDecodingContainer(Keyed<Key>(fields: fields, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([JSONValue].self) }
        return Unkeyed(items: items, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // The common leaves without a trip through `init(from:)`.
        if T.self == String.self, let text = try decodeString() as? T { return text }
        if T.self == Int64.self, let integer = try integer(Int64.self) as? T { return integer }
        if T.self == Bool.self, let flag = try decodeBool() as? T { return flag }
        if T.self == JSONValue.self, let value = value as? T { return value }
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            return try JSONDecoder().decode(type, from: CanonicalJSON.data(value))
        }
        return try T(from: self)
    }

    func decodeString() throws -> String {
        guard case .string(let text) = value else { throw mismatch(String.self) }
        return text
    }

    func decodeBool() throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self) }
        return flag
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        switch value {
        case .integer(let integer):
            if let fitting = I(exactly: integer) { return fitting }
        case .number(let double):
            if let fitting = I(exactly: double) { return fitting }
        default: break
        }
        throw mismatch(type)
    }

    func floating<F: BinaryFloatingPoint>(_ type: F.Type) throws -> F {
        switch value {
        case .integer(let integer): return F(integer)
        case .number(let double): return F(double)
        default: throw mismatch(type)
        }
    }
}

extension ValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeBool() }
    func decode(_ type: String.Type) throws -> String { try decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try floating(type) }
    func decode(_ type: Float.Type) throws -> Float { try floating(type) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
}

private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let fields: [String: JSONValue]
    let path: PathNode?
    var codingPath: [any CodingKey] { PathNode.codingPath(path) }

    /// In code-unit order, not the dictionary's: a map with several wrong entries is refused
    /// for the same one whatever the dictionary's capacity or the process's hash seed, so that
    /// every path to a value gives one reason.
    var allKeys: [Key] { fields.keys.sorted().compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { fields[key.stringValue] != nil }

    /// A primitive's value: its decoder carries the key only if it fails.
    func leaf(_ key: Key) throws -> ValueDecoder {
        guard let value = fields[key.stringValue] else { return try child(key) }
        return ValueDecoder(value: value, path: path, leafKey: key)
    }

    func child(_ key: Key) throws -> ValueDecoder {
        guard let value = fields[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "no value for \"\(key.stringValue)\""))
        }
        return ValueDecoder(value: value, path: PathNode(key, path))
    }

    func decodeNil(forKey key: Key) throws -> Bool { try leaf(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try leaf(key).decodeBool() }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try leaf(key).decodeString() }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try leaf(key).floating(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try leaf(key).floating(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try leaf(key).integer(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try leaf(key).integer(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try leaf(key).integer(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try leaf(key).integer(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try leaf(key).integer(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try leaf(key).integer(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try leaf(key).integer(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try leaf(key).integer(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try leaf(key).integer(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try leaf(key).integer(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: fields["super"] ?? .null, path: PathNode(FieldKey(stringValue: "super"), path))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: fields[key.stringValue] ?? .null, path: PathNode(key, path))
    }
}

private struct Unkeyed: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let path: PathNode?
    var codingPath: [any CodingKey] { PathNode.codingPath(path) }
    var currentIndex = 0

    init(items: [JSONValue], path: PathNode?) {
        self.items = items
        self.path = path
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                JSONValue.self, .init(codingPath: codingPath, debugDescription: "the array ends here"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], path: PathNode(FieldKey(intValue: currentIndex), path))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decodeBool() }
    mutating func decode(_ type: String.Type) throws -> String { try next().decodeString() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().floating(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().floating(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().integer(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}
