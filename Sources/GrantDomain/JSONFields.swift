/// The decoders generated from the command table (docs/architecture.md, "JSON coders"):
/// each payload type reads its fields from a parsed object by name, with no `Decoder`, no
/// containers and no coding keys on the way. A stored event is parsed once (`JSONParser`)
/// and each field read once.
///
/// They keep `JSONValueDecoder`'s rules and its errors (the same `DecodingError` case,
/// coding path and description), so that a quarantined event is explained in the same words
/// whichever path read it: an integer reads as `Int64` only when it fits exactly, a string
/// never reads as a number, `null` reads only as an optional's nil, a missing key is
/// `keyNotFound`. A type without a reader of its own (a nested value such as the figures of
/// a sign-off) goes through `JSONValueDecoder` with the path it sits at.

/// A value read straight from its parsed JSON.
public protocol JSONFieldDecodable: Decodable {
    /// Reads the value; an error's coding path is relative to the value.
    static func read(_ value: JSONValue) throws -> Self
}

/// A value written as a JSON object whose fields are read by name: every payload of the
/// command table (generated), and the event data that adds derived fields to one (`Flat`).
public protocol JSONObjectDecodable: JSONFieldDecodable {
    init(object: JSONObject) throws
}

extension JSONObjectDecodable {
    public static func read(_ value: JSONValue) throws -> Self {
        guard case .object(let fields) = value else { throw JSONObject.mismatch([String: JSONValue].self, value) }
        return try Self(object: JSONObject(fields))
    }

    /// Reads the value from what `JSONParser.parseObject` found, as `read` reads `parsed.value`.
    public static func read(_ parsed: JSONParser.Parsed) throws -> Self {
        switch parsed {
        case .object(let object): return try Self(object: object)
        case .value(let value): return try read(value)
        }
    }

    /// Reads the value from a parsed object.
    public init(fields: [String: JSONValue]) throws { try self.init(object: JSONObject(fields)) }
}

/// The fields of one JSON object, read by name.
public struct JSONObject {
    private enum Storage {
        case dictionary([String: JSONValue])
        /// In their order in the text, a repeated key as often as it came (`JSONParser.parseObject`).
        case members([(key: String, value: JSONValue)])
    }

    private var storage: Storage

    public init(_ fields: [String: JSONValue]) { storage = .dictionary(fields) }

    init(members: [(key: String, value: JSONValue)]) { storage = .members(members) }

    /// The fields by name; of a key given twice, the first value.
    public var fields: [String: JSONValue] {
        switch storage {
        case .dictionary(let fields): return fields
        case .members(let members):
            var fields: [String: JSONValue] = [:]
            for (key, value) in members where fields[key] == nil { fields[key] = value }
            return fields
        }
    }

    /// The value of `key`; of a key given twice, the first value. Keys compare as Swift
    /// strings do (canonically equivalent texts are one key), as in a dictionary.
    public subscript(key: String) -> JSONValue? {
        switch storage {
        case .dictionary(let fields): return fields[key]
        case .members(let members):
            for member in members where member.key == key { return member.value }
            return nil
        }
    }

    /// Sets the value `self[key]` reads; nothing when there is no such key. (The storage lets
    /// go of the dictionary or array before it changes, so that it is changed in place, not
    /// copied.)
    mutating func replace(_ key: String, with value: JSONValue) {
        switch storage {
        case .dictionary(var fields):
            guard fields[key] != nil else { return }
            storage = .members([])
            fields[key] = value
            storage = .dictionary(fields)
        case .members(var members):
            guard let index = members.firstIndex(where: { $0.key == key }) else { return }
            storage = .members([])
            members[index].value = value
            storage = .members(members)
        }
    }

    /// A required field.
    public func required<T: JSONFieldDecodable>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let value = self[key] else { throw Self.missing(key) }
        do { return try T.read(value) } catch let error as DecodingError { throw error.under(key) }
    }

    /// A required field of a type without a reader of its own.
    public func required<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let value = self[key] else { throw Self.missing(key) }
        return try Self.decoded(value, under: key)
    }

    /// An optional field: nil when absent or `null`.
    public func optional<T: JSONFieldDecodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        guard let value = self[key], value != .null else { return nil }
        do { return try T.read(value) } catch let error as DecodingError { throw error.under(key) }
    }

    /// An optional field of a type without a reader of its own.
    public func optional<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        guard let value = self[key], value != .null else { return nil }
        return try Self.decoded(value, under: key)
    }

    /// `value` through `JSONValueDecoder`, an error placed under `key`.
    static func decoded<T: Decodable>(_ value: JSONValue, under key: String) throws -> T {
        do { return try JSONValueDecoder.decode(T.self, from: value) } catch let error as DecodingError {
            throw error.under(key)
        }
    }

    static func missing(_ key: String) -> DecodingError {
        .keyNotFound(FieldKey(key), .init(codingPath: [], debugDescription: "no value for \"\(key)\""))
    }

    static func mismatch<T>(_ type: T.Type, _ value: JSONValue) -> DecodingError {
        .typeMismatch(type, .init(codingPath: [], debugDescription: "found \(value.shortDescription)"))
    }
}

/// A field's name or an array's index in an error's coding path.
struct FieldKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ name: String) { self.stringValue = name }
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension DecodingError {
    /// The same error one level down: under the field `key`.
    func under(_ key: String) -> DecodingError { under(FieldKey(key)) }

    func under(_ key: some CodingKey) -> DecodingError {
        func moved(_ context: Context) -> Context {
            Context(
                codingPath: [key] + context.codingPath, debugDescription: context.debugDescription,
                underlyingError: context.underlyingError)
        }
        switch self {
        case .typeMismatch(let type, let context): return .typeMismatch(type, moved(context))
        case .valueNotFound(let type, let context): return .valueNotFound(type, moved(context))
        case .keyNotFound(let missing, let context): return .keyNotFound(missing, moved(context))
        case .dataCorrupted(let context): return .dataCorrupted(moved(context))
        @unknown default: return self
        }
    }
}

extension String: JSONFieldDecodable {
    public static func read(_ value: JSONValue) throws -> String {
        guard case .string(let text) = value else { throw JSONObject.mismatch(String.self, value) }
        return text
    }
}

extension Bool: JSONFieldDecodable {
    public static func read(_ value: JSONValue) throws -> Bool {
        guard case .bool(let flag) = value else { throw JSONObject.mismatch(Bool.self, value) }
        return flag
    }
}

extension Int64: JSONFieldDecodable {
    public static func read(_ value: JSONValue) throws -> Int64 {
        switch value {
        case .integer(let integer): return integer
        case .number(let double): if let fitting = Int64(exactly: double) { return fitting }
        default: break
        }
        throw JSONObject.mismatch(Int64.self, value)
    }
}

extension Array: JSONFieldDecodable where Element: JSONFieldDecodable {
    public static func read(_ value: JSONValue) throws -> [Element] {
        guard case .array(let items) = value else { throw JSONObject.mismatch([JSONValue].self, value) }
        var elements: [Element] = []
        elements.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do { elements.append(try Element.read(item)) } catch let error as DecodingError {
                throw error.under(FieldKey(intValue: index))
            }
        }
        return elements
    }
}

extension JSONFieldDecodable where Self: TextCoded {
    /// A text that parses as the type (`Money`, `BusinessDate`), as `TextCoded` decodes it.
    public static func read(_ value: JSONValue) throws -> Self { try parsing(try String.read(value)) }
}

extension JSONFieldDecodable where Self: RawRepresentable, RawValue == String {
    /// One of the enumeration's values, as its synthesized `Decodable` reads it.
    public static func read(_ value: JSONValue) throws -> Self {
        let text = try String.read(value)
        guard let parsed = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [], debugDescription: "Cannot initialize \(Self.self) from invalid String value \(text)"
                ))
        }
        return parsed
    }
}

extension Money: JSONFieldDecodable {}
extension BusinessDate: JSONFieldDecodable {}
extension Settlement: JSONFieldDecodable {}
extension RegistrationStatus: JSONFieldDecodable {}
extension LeadershipGender: JSONFieldDecodable {}
extension OrganisationKind: JSONFieldDecodable {}
extension MemberRole: JSONFieldDecodable {}
extension ActivityKind: JSONFieldDecodable {}
extension Organiser: JSONFieldDecodable {}
extension Theme: JSONFieldDecodable {}
extension IndexId: JSONFieldDecodable {}
extension Indicator: JSONFieldDecodable {}

extension Member: JSONObjectDecodable {
    public init(object: JSONObject) throws {
        self.init(organisationId: try object.required("organisationId"), role: try object.required("role"))
    }
}

extension PeopleSupported.Counts: JSONObjectDecodable {
    public init(object: JSONObject) throws {
        self.init(
            women: try object.required("women"), men: try object.required("men"),
            undisclosed: try object.required("undisclosed"))
    }
}

extension PeopleSupported: JSONObjectDecodable {
    public init(object: JSONObject) throws {
        self.init(
            hrd: try object.required("hrd"), activist: try object.required("activist"),
            journalist: try object.required("journalist"))
    }
}

extension AwardDerived: JSONObjectDecodable {
    public init(object: JSONObject) throws {
        self.init(
            callId: try object.required("callId"), consortiumId: try object.required("consortiumId"),
            members: try object.required("members"))
    }
}

extension SubGrantDerived: JSONObjectDecodable {
    public init(object: JSONObject) throws { self.init(callId: try object.required("callId")) }
}

extension Flat: JSONFieldDecodable, JSONObjectDecodable where Base: JSONObjectDecodable, Extras: JSONObjectDecodable {
    public init(object: JSONObject) throws {
        self.init(try Base(object: object), try Extras(object: object))
    }
}
