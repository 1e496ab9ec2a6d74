import GrantDomain

/// A call as read models show it.
public struct CallView: Sendable, Codable, Hashable {
    public var call: PublishCall
    public var closed: CloseCall?
    public var grantsAwarded: Int
    public var amountAwarded: Money
    public var budgetFree: Money
}

/// A consortium as read models show it.
public struct ConsortiumView: Sendable, Codable, Hashable {
    public var consortiumId: String
    public var name: String
    public var members: [Member]
    /// Set once an application of the consortium was awarded: membership is then fixed.
    public var awardedGrantIds: [String]
}

/// An application as read models show it.
public struct ApplicationView: Sendable, Codable, Hashable {
    public var submission: SubmitApplication
    public var evaluations: [EvaluateApplication]
    public var rejected: RejectApplication?
    public var withdrawn: WithdrawApplication?
    public var grantId: String?
    public var status: String
}

/// A grant with its tranches and sub-granting envelope use.
public struct GrantView: Sendable, Codable, Hashable {
    public var award: GrantAwarded
    public var disbursed: Money
    public var tranches: [DisburseGrant]
    public var closed: CloseGrant?
    public var envelopeUsed: Money
    public var envelopeFree: Money
    public var subGrants: Int
}

/// A sub-grant with its payments.
public struct SubGrantView: Sendable, Codable, Hashable {
    public var award: SubGrantAwarded
    public var disbursed: Money
    public var payments: [DisburseSubGrant]
    public var cancelled: CancelSubGrant?
    public var status: String
}

/// The kinds of entity read models hold.
public enum EntityKind: String, Sendable, CaseIterable {
    case organisation, call, consortium, application, grant, subGrant
}
