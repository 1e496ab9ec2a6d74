/// A value encoded as one JSON object holding the keys of a base value and its own, side by
/// side: event data that adds derived fields to a command's (`GrantAwarded`), read-model
/// documents that add figures to a domain state (`CallView`).
public protocol Flattened: Codable {
    associatedtype Base: Codable
    associatedtype ExtraKeys: CodingKey
    /// The value whose keys come first.
    var base: Base { get }
    /// Rebuilds the value from its base and the container of its own keys.
    init(base: Base, extras: KeyedDecodingContainer<ExtraKeys>) throws
    /// Writes its own keys.
    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws
}

extension Flattened {
    public init(from decoder: any Decoder) throws {
        try self.init(base: try Base(from: decoder), extras: try decoder.container(keyedBy: ExtraKeys.self))
    }

    public func encode(to encoder: any Encoder) throws {
        try base.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try encodeExtras(into: &container)
    }
}

/// A base value and the fields derived beside it, written as one JSON object with the keys
/// of both: event data that adds what a command derived to the command's fields
/// (`GrantAwarded`), a record that adds where an event was recorded (`SignOffRecord`).
/// Both sides' fields read through (`event.grantId`, `event.callId`).
@dynamicMemberLookup
public struct Flat<Base: Codable & Sendable & Hashable, Extras: Codable & Sendable & Hashable>: Codable, Sendable,
    Hashable
{
    public var base: Base
    public var extras: Extras

    public init(_ base: Base, _ extras: Extras) {
        self.base = base
        self.extras = extras
    }

    public init(from decoder: any Decoder) throws {
        base = try Base(from: decoder)
        extras = try Extras(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try base.encode(to: encoder)
        try extras.encode(to: encoder)
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<Base, T>) -> T { base[keyPath: keyPath] }
    public subscript<T>(dynamicMember keyPath: KeyPath<Extras, T>) -> T { extras[keyPath: keyPath] }
}
