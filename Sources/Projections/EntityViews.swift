import GrantDomain

// The documents of `rm_entities`: each is the domain's own state of the entity (the same
// fold the rules use, `GrantDomain/Entities.swift`) with what only a read model keeps
// beside it — figures across entities (amounts awarded under a call, a grant's envelope
// used) and a status for filtering. The state's fields and the extra ones sit side by side
// in one JSON object.

/// Encodes and decodes a view as its state's JSON object plus the view's own keys.
protocol FlattenedView: Codable {
    associatedtype State: Codable
    associatedtype ExtraKeys: CodingKey
    var state: State { get }
    init(state: State, extras: KeyedDecodingContainer<ExtraKeys>) throws
    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws
}

extension FlattenedView {
    public init(from decoder: any Decoder) throws {
        try self.init(state: try State(from: decoder), extras: try decoder.container(keyedBy: ExtraKeys.self))
    }

    public func encode(to encoder: any Encoder) throws {
        try state.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try encodeExtras(into: &container)
    }
}

/// A call as read models show it.
public struct CallView: Sendable, Hashable, FlattenedView {
    public var state: CallState
    public var grantsAwarded = 0
    public var amountAwarded = Money.zero
    public var budgetFree: Money { state.call.budget - amountAwarded }
    public var status: String { state.closed == nil ? "open" : "closed" }

    init(state: CallState) { self.state = state }

    enum ExtraKeys: String, CodingKey { case grantsAwarded, amountAwarded, budgetFree }

    init(state: CallState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        grantsAwarded = try extras.decode(Int.self, forKey: .grantsAwarded)
        amountAwarded = try extras.decode(Money.self, forKey: .amountAwarded)
    }

    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(grantsAwarded, forKey: .grantsAwarded)
        try container.encode(amountAwarded, forKey: .amountAwarded)
        try container.encode(budgetFree, forKey: .budgetFree)
    }
}

/// A consortium as read models show it.
public struct ConsortiumView: Sendable, Hashable, FlattenedView {
    public var state: ConsortiumState
    /// Set once an application of the consortium was awarded: membership is then fixed.
    public var awardedGrantIds: [String] = []
    public var status: String { awardedGrantIds.isEmpty ? "forming" : "awarded" }

    init(state: ConsortiumState) { self.state = state }

    enum ExtraKeys: String, CodingKey { case awardedGrantIds }

    init(state: ConsortiumState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        awardedGrantIds = try extras.decode([String].self, forKey: .awardedGrantIds)
    }

    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(awardedGrantIds, forKey: .awardedGrantIds)
    }
}

/// An application as read models show it.
public struct ApplicationView: Sendable, Hashable, FlattenedView {
    public var state: ApplicationState
    public var grantId: String?
    /// The domain's status, or `awarded` once a grant was awarded on it.
    public var status: String { grantId != nil ? "awarded" : state.status }

    init(state: ApplicationState) { self.state = state }

    enum ExtraKeys: String, CodingKey { case grantId, status }

    init(state: ApplicationState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        grantId = try extras.decodeIfPresent(String.self, forKey: .grantId)
    }

    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encodeIfPresent(grantId, forKey: .grantId)
        try container.encode(status, forKey: .status)
    }
}

/// A grant with its tranches and sub-granting envelope use.
public struct GrantView: Sendable, Hashable, FlattenedView {
    public var state: GrantState
    public var envelopeUsed = Money.zero
    public var subGrants = 0
    public var envelopeFree: Money { state.award.subGrantingEnvelope - envelopeUsed }
    public var status: String { state.closed == nil ? "open" : "closed" }

    init(state: GrantState) { self.state = state }

    enum ExtraKeys: String, CodingKey { case envelopeUsed, envelopeFree, subGrants }

    init(state: GrantState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        envelopeUsed = try extras.decode(Money.self, forKey: .envelopeUsed)
        subGrants = try extras.decode(Int.self, forKey: .subGrants)
    }

    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(envelopeUsed, forKey: .envelopeUsed)
        try container.encode(envelopeFree, forKey: .envelopeFree)
        try container.encode(subGrants, forKey: .subGrants)
    }
}

/// A sub-grant with its payments.
public struct SubGrantView: Sendable, Hashable, FlattenedView {
    public var state: SubGrantState
    public var status: String { state.status }

    init(state: SubGrantState) { self.state = state }

    enum ExtraKeys: String, CodingKey { case status }

    init(state: SubGrantState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
    }

    func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(status, forKey: .status)
    }
}

/// The kinds of entity read models hold.
public enum EntityKind: String, Sendable, CaseIterable {
    case organisation, call, consortium, application, grant, subGrant
}
