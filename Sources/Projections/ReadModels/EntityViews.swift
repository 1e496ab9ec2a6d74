import GrantDomain

// The documents of `rm_entities`: each is the domain's own state of the entity (the same
// fold the rules use, `GrantDomain/Entities.swift`) with what only a read model keeps
// beside it — figures across entities (amounts awarded under a call, a grant's envelope
// used) and a status for filtering — side by side in one JSON object (`Flattened`).

/// A call as read models show it.
public struct CallView: Sendable, Hashable, Flattened {
    public var state: CallState
    public var grantsAwarded = 0
    public var amountAwarded = Money.zero
    public var budgetFree: Money { state.call.budget - amountAwarded }
    public var status: String { state.closed == nil ? "open" : "closed" }

    init(state: CallState) { self.state = state }

    public enum ExtraKeys: String, CodingKey { case grantsAwarded, amountAwarded, budgetFree }

    public var base: CallState { state }

    public init(base state: CallState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        grantsAwarded = try extras.decode(Int.self, forKey: .grantsAwarded)
        amountAwarded = try extras.decode(Money.self, forKey: .amountAwarded)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(grantsAwarded, forKey: .grantsAwarded)
        try container.encode(amountAwarded, forKey: .amountAwarded)
        try container.encode(budgetFree, forKey: .budgetFree)
    }
}

/// A consortium as read models show it.
public struct ConsortiumView: Sendable, Hashable, Flattened {
    public var state: ConsortiumState
    /// Set once an application of the consortium was awarded: membership is then fixed.
    public var awardedGrantIds: [String] = []
    public var status: String { awardedGrantIds.isEmpty ? "forming" : "awarded" }

    init(state: ConsortiumState) { self.state = state }

    public enum ExtraKeys: String, CodingKey { case awardedGrantIds }

    public var base: ConsortiumState { state }

    public init(base state: ConsortiumState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        awardedGrantIds = try extras.decode([String].self, forKey: .awardedGrantIds)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(awardedGrantIds, forKey: .awardedGrantIds)
    }
}

/// An application as read models show it.
public struct ApplicationView: Sendable, Hashable, Flattened {
    public var state: ApplicationState
    public var grantId: String?
    /// The domain's status, or `awarded` once a grant was awarded on it.
    public var status: String { grantId != nil ? "awarded" : state.status }

    init(state: ApplicationState) { self.state = state }

    public enum ExtraKeys: String, CodingKey { case grantId, status }

    public var base: ApplicationState { state }

    public init(base state: ApplicationState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        grantId = try extras.decodeIfPresent(String.self, forKey: .grantId)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encodeIfPresent(grantId, forKey: .grantId)
        try container.encode(status, forKey: .status)
    }
}

/// A grant with its tranches and sub-granting envelope use.
public struct GrantView: Sendable, Hashable, Flattened {
    public var state: GrantState
    public var envelopeUsed = Money.zero
    public var subGrants = 0
    public var envelopeFree: Money { state.award.subGrantingEnvelope - envelopeUsed }
    public var status: String { state.closed == nil ? "open" : "closed" }

    init(state: GrantState) { self.state = state }

    public enum ExtraKeys: String, CodingKey { case envelopeUsed, envelopeFree, subGrants }

    public var base: GrantState { state }

    public init(base state: GrantState, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
        envelopeUsed = try extras.decode(Money.self, forKey: .envelopeUsed)
        subGrants = try extras.decode(Int.self, forKey: .subGrants)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(envelopeUsed, forKey: .envelopeUsed)
        try container.encode(envelopeFree, forKey: .envelopeFree)
        try container.encode(subGrants, forKey: .subGrants)
    }
}

/// A state whose only addition in a read model is its status.
public protocol StatusBearing: Sendable, Hashable, Codable {
    var status: String { get }
}

extension SubGrantState: StatusBearing {}
extension ActivityState: StatusBearing {}

/// A state as read models show it: its own keys, and `status`.
public struct StatusView<State: StatusBearing>: Sendable, Hashable, Flattened {
    public var state: State
    public var status: String { state.status }

    init(state: State) { self.state = state }

    public enum ExtraKeys: String, CodingKey { case status }

    public var base: State { state }

    public init(base state: State, extras: KeyedDecodingContainer<ExtraKeys>) throws {
        self.state = state
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(status, forKey: .status)
    }
}

/// A sub-grant with its payments.
public typealias SubGrantView = StatusView<SubGrantState>

/// An activity (docs/domain.md §12), with its retraction if any.
public typealias ActivityView = StatusView<ActivityState>

/// The kinds of entity read models hold.

// Each document written straight to canonical JSON (GrantDomain/CanonicalWriter.swift): the
// state's members, then the view's own, as `Flattened.encode(to:)` writes them.

extension CallView: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try state.writeMembers(to: &writer)
        try writer.member("grantsAwarded", grantsAwarded)
        try writer.member("amountAwarded", amountAwarded)
        try writer.member("budgetFree", budgetFree)
    }
}

extension ConsortiumView: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try state.writeMembers(to: &writer)
        try writer.member("awardedGrantIds", awardedGrantIds)
    }
}

extension ApplicationView: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try state.writeMembers(to: &writer)
        try writer.optionalMember("grantId", grantId)
        try writer.member("status", status)
    }
}

extension GrantView: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try state.writeMembers(to: &writer)
        try writer.member("envelopeUsed", envelopeUsed)
        try writer.member("envelopeFree", envelopeFree)
        try writer.member("subGrants", subGrants)
    }
}

extension StatusView: CanonicalValue, CanonicalObject where State: CanonicalObject {
    public func writeMembers(to writer: inout CanonicalWriter) throws {
        try state.writeMembers(to: &writer)
        try writer.member("status", status)
    }
}
