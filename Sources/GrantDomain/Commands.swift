import Foundation

/// `registerOrganisation`; also the data of `OrganisationRegistered`.
public struct RegisterOrganisation: CommandPayload {
    public var organisationId: String
    public var name: String
    public var country: String
    public var regionCode: String?
    public var settlement: Settlement?
    public var registrationStatus: RegistrationStatus
    public var bin: String?
    public var leadershipGender: LeadershipGender
    public var kind: OrganisationKind
    public var annualBudgetEur: Money?
    public var staffCount: Int64?

    public static let spec = CommandSpec(
        name: "registerOrganisation", event: "OrganisationRegistered", summary: "Register an organisation.",
        fields: [
            FieldSpec("organisationId", .identifier),
            FieldSpec("name", .text(1...300)),
            FieldSpec("country", .country),
            .optional("regionCode", .region, help: "required in KZ, absent elsewhere"),
            .choice("settlement", Settlement.self, required: false, help: "required in KZ"),
            .choice("registrationStatus", RegistrationStatus.self),
            .optional("bin", .bin, help: "required for a registered organisation in KZ, forbidden when unregistered"),
            .choice("leadershipGender", LeadershipGender.self, help: "who leads the organisation"),
            .choice("kind", OrganisationKind.self),
            .optional("annualBudgetEur", .money(maximum: nil)),
            .optional("staffCount", .integer(0...10_000_000)),
        ],
        conditions: [
            FieldCondition(when: ["country": "KZ"], required: ["regionCode", "settlement"]),
            FieldCondition(when: ["country": "KZ"], otherwise: true, forbidden: ["regionCode"]),
            FieldCondition(when: ["country": "KZ", "registrationStatus": "registered"], required: ["bin"]),
            FieldCondition(when: ["registrationStatus": "unregistered"], forbidden: ["bin"]),
        ])

    public func validate() throws(DomainError) {
        try self.validate(command: Self.spec.name)
    }

    public var command: Command { .registerOrganisation(self) }
}

/// `updateOrganisationProfile`; also the data of `OrganisationProfileUpdated`.
public struct UpdateOrganisationProfile: CommandPayload {
    public var organisationId: String
    public var name: String?
    public var regionCode: String?
    public var settlement: Settlement?
    public var registrationStatus: RegistrationStatus?
    public var bin: String?
    public var leadershipGender: LeadershipGender?
    public var kind: OrganisationKind?
    public var annualBudgetEur: Money?
    public var staffCount: Int64?

    public static let spec = CommandSpec(
        name: "updateOrganisationProfile", event: "OrganisationProfileUpdated",
        summary: "Change some fields of an organisation's profile.",
        fields: [
            FieldSpec("organisationId", .identifier),
            .optional("name", .text(1...300)),
            .optional("regionCode", .region),
            .choice("settlement", Settlement.self, required: false),
            .choice("registrationStatus", RegistrationStatus.self, required: false),
            .optional("bin", .bin),
            .choice("leadershipGender", LeadershipGender.self, required: false),
            .choice("kind", OrganisationKind.self, required: false),
            .optional("annualBudgetEur", .money(maximum: nil)),
            .optional("staffCount", .integer(0...10_000_000)),
        ],
        atLeastOneOf: [
            "name", "regionCode", "settlement", "registrationStatus", "bin", "leadershipGender", "kind",
            "annualBudgetEur",
            "staffCount",
        ],
        notes: "The resulting profile must pass the rules of a registration.")

    public func validate() throws(DomainError) {
        if let regionCode, !Region.isValid(regionCode) {
            throw .invalid(
                "updateOrganisationProfile: field \"regionCode\" is \"\(regionCode)\", not an ISO 3166-2:KZ region code"
            )
        }
        if let bin, !BIN.isValid(bin) {
            throw .invalid(
                "updateOrganisationProfile: field \"bin\" is \"\(bin)\", not a valid BIN (12 digits with check digit)")
        }
    }

    public var command: Command { .updateOrganisationProfile(self) }
}

/// `setReportingRules`; also the data of `ReportingRulesSet`.
public struct ReportingRules: CommandPayload {
    public var smallMaxAnnualBudgetEur: Money
    public var smallMaxStaff: Int64

    public init(smallMaxAnnualBudgetEur: Money, smallMaxStaff: Int64) {
        self.smallMaxAnnualBudgetEur = smallMaxAnnualBudgetEur
        self.smallMaxStaff = smallMaxStaff
    }

    /// The rules in force until the first `ReportingRulesSet`.
    public static let initial = ReportingRules(smallMaxAnnualBudgetEur: Money(cents: 10_000_000), smallMaxStaff: 10)

    public static let spec = CommandSpec(
        name: "setReportingRules", event: "ReportingRulesSet", summary: "Set the thresholds of a small CSO.",
        fields: [
            FieldSpec("smallMaxAnnualBudgetEur", .money(maximum: nil)),
            FieldSpec("smallMaxStaff", .integer(0...10_000_000)),
        ])

    public var command: Command { .setReportingRules(self) }
}

/// `publishCall`; also the data of `CallPublished`.
public struct PublishCall: CommandPayload {
    public var callId: String
    public var reference: String
    public var title: String
    public var programme: String
    public var publishedOn: BusinessDate
    public var deadline: BusinessDate
    public var budget: Money
    public var minGrant: Money
    public var maxGrant: Money
    public var subGrantingAllowed: Bool
    public var maxSubGrant: Money?

    /// The EU cap on financial support to one third party.
    public static let subGrantCap = Money(cents: 6_000_000)

    public static let spec = CommandSpec(
        name: "publishCall", event: "CallPublished", summary: "Publish a call for proposals.",
        fields: [
            FieldSpec("callId", .identifier),
            FieldSpec("reference", .text(1...200), help: "e.g. EuropeAid/178123/DD/ACT/KZ"),
            FieldSpec("title", .text(1...500)),
            FieldSpec("programme", .text(1...100), help: "e.g. CSO-LA, EIDHR"),
            FieldSpec("publishedOn", .date),
            FieldSpec("deadline", .date, help: "not before publishedOn"),
            FieldSpec("budget", .money(maximum: nil)),
            FieldSpec("minGrant", .money(maximum: nil)),
            FieldSpec("maxGrant", .money(maximum: nil), help: "minGrant ≤ maxGrant ≤ budget"),
            FieldSpec("subGrantingAllowed", .bool),
            .optional(
                "maxSubGrant", .money(maximum: subGrantCap),
                help: "required when sub-granting is allowed, absent otherwise; the EU cap per third party"),
        ],
        conditions: [
            FieldCondition(when: ["subGrantingAllowed": true], required: ["maxSubGrant"]),
            FieldCondition(when: ["subGrantingAllowed": false], forbidden: ["maxSubGrant"]),
        ])

    public var command: Command { .publishCall(self) }
}

/// `closeCall`; also the data of `CallClosed`.
public struct CloseCall: CommandPayload {
    public var callId: String
    public var closedOn: BusinessDate

    public static let spec = CommandSpec(
        name: "closeCall", event: "CallClosed", summary: "Close a call: it takes no new applications.",
        fields: [FieldSpec("callId", .identifier), FieldSpec("closedOn", .date)])

    public var command: Command { .closeCall(self) }
}

/// `formConsortium`; also the data of `ConsortiumFormed`.
public struct FormConsortium: CommandPayload {
    public var consortiumId: String
    public var name: String
    public var members: [Member]

    public static let spec = CommandSpec(
        name: "formConsortium", event: "ConsortiumFormed", summary: "Form a consortium.",
        fields: [
            FieldSpec("consortiumId", .identifier),
            FieldSpec("name", .text(1...300)),
            FieldSpec("members", .members, help: "exactly one lead; each organisation registered, none twice"),
        ])

    public func validate() throws(DomainError) {
        let leads = members.filter { $0.role == .lead }.count
        if leads != 1 {
            throw .rule(
                "formConsortium: field \"members\" has \(leads) members with role \"lead\", expected exactly one")
        }
        var seen = Set<String>()
        for member in members where !seen.insert(member.organisationId).inserted {
            throw .rule("formConsortium: organisation \"\(member.organisationId)\" appears twice in \"members\"")
        }
    }

    public var command: Command { .formConsortium(self) }
}

/// `addConsortiumMember`; also the data of `ConsortiumMemberAdded`.
public struct AddConsortiumMember: CommandPayload {
    public var consortiumId: String
    public var organisationId: String
    public var role: MemberRole

    public static let spec = CommandSpec(
        name: "addConsortiumMember", event: "ConsortiumMemberAdded", summary: "Add a member to a consortium.",
        fields: [
            FieldSpec("consortiumId", .identifier),
            FieldSpec("organisationId", .identifier),
            .choice(
                "role", MemberRole.self, help: "a consortium's one lead is set when it is formed",
                refusedByRule: [.lead]),
        ],
        notes: "Membership is frozen once an application of the consortium was awarded.")

    public func validate() throws(DomainError) {
        if role == .lead {
            throw .rule(
                "addConsortiumMember: field \"role\" is \"lead\"; a consortium has exactly one lead, set when it is formed"
            )
        }
    }

    public var command: Command { .addConsortiumMember(self) }
}

/// `removeConsortiumMember`; also the data of `ConsortiumMemberRemoved`.
public struct RemoveConsortiumMember: CommandPayload {
    public var consortiumId: String
    public var organisationId: String

    public static let spec = CommandSpec(
        name: "removeConsortiumMember", event: "ConsortiumMemberRemoved",
        summary: "Remove a member (not the lead) from a consortium.",
        fields: [FieldSpec("consortiumId", .identifier), FieldSpec("organisationId", .identifier)],
        notes: "Membership is frozen once an application of the consortium was awarded.")

    public var command: Command { .removeConsortiumMember(self) }
}

/// `submitApplication`; also the data of `ApplicationSubmitted`.
public struct SubmitApplication: CommandPayload {
    public var applicationId: String
    public var callId: String
    public var consortiumId: String
    public var submittedOn: BusinessDate
    public var requestedAmount: Money

    public static let spec = CommandSpec(
        name: "submitApplication", event: "ApplicationSubmitted",
        summary: "Submit a consortium's application to a call.",
        fields: [
            FieldSpec("applicationId", .identifier),
            FieldSpec("callId", .identifier),
            FieldSpec("consortiumId", .identifier),
            FieldSpec("submittedOn", .date, help: "by the call's deadline, the call not closed"),
            FieldSpec("requestedAmount", .money(maximum: nil), help: "from the call's minGrant to its maxGrant"),
        ])

    public var command: Command { .submitApplication(self) }
}

/// `evaluateApplication`; also the data of `ApplicationEvaluated`.
public struct EvaluateApplication: CommandPayload {
    public var applicationId: String
    public var score: Int64
    public var evaluatedOn: BusinessDate

    public static let spec = CommandSpec(
        name: "evaluateApplication", event: "ApplicationEvaluated",
        summary: "Record an application's evaluation score.",
        fields: [
            FieldSpec("applicationId", .identifier), FieldSpec("score", .integer(0...100)),
            FieldSpec("evaluatedOn", .date),
        ])

    public var command: Command { .evaluateApplication(self) }
}

/// `rejectApplication`; also the data of `ApplicationRejected`.
public struct RejectApplication: CommandPayload {
    public var applicationId: String
    public var rejectedOn: BusinessDate
    public var reason: String

    public static let spec = CommandSpec(
        name: "rejectApplication", event: "ApplicationRejected", summary: "Reject an application.",
        fields: [
            FieldSpec("applicationId", .identifier), FieldSpec("rejectedOn", .date),
            FieldSpec("reason", .text(1...2000)),
        ])

    public var command: Command { .rejectApplication(self) }
}

/// `withdrawApplication`; also the data of `ApplicationWithdrawn`.
public struct WithdrawApplication: CommandPayload {
    public var applicationId: String
    public var withdrawnOn: BusinessDate

    public static let spec = CommandSpec(
        name: "withdrawApplication", event: "ApplicationWithdrawn", summary: "Withdraw an application.",
        fields: [FieldSpec("applicationId", .identifier), FieldSpec("withdrawnOn", .date)])

    public var command: Command { .withdrawApplication(self) }
}

/// `awardGrant`.
public struct AwardGrant: CommandPayload {
    public var grantId: String
    public var applicationId: String
    public var contractNumber: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var startDate: BusinessDate
    public var endDate: BusinessDate
    public var subGrantingEnvelope: Money

    public static let spec = CommandSpec(
        name: "awardGrant", event: "GrantAwarded", summary: "Award a grant on an application.",
        fields: [
            FieldSpec("grantId", .identifier),
            FieldSpec("applicationId", .identifier),
            FieldSpec("contractNumber", .text(1...100), help: "unique across grants"),
            FieldSpec("awardedOn", .date),
            FieldSpec(
                "amount", .money(maximum: nil),
                help: "at most the requested amount, within the call's limits and budget"),
            FieldSpec("startDate", .date),
            FieldSpec("endDate", .date, help: "not before startDate"),
            FieldSpec(
                "subGrantingEnvelope", .money(maximum: nil),
                help: "at most amount; 0 when the call allows no sub-granting"),
        ])

    public func validate() throws(DomainError) {
        if endDate < startDate {
            throw .rule("awardGrant: \"endDate\" \(endDate) is before \"startDate\" \(startDate)")
        }
        if subGrantingEnvelope > amount {
            throw .rule("awardGrant: \"subGrantingEnvelope\" \(subGrantingEnvelope) exceeds \"amount\" \(amount)")
        }
    }

    public var command: Command { .awardGrant(self) }
}

/// The data of `GrantAwarded`: the command's fields plus what the award derived, side by
/// side in one JSON object. The command's fields read through (`event.grantId`).
@dynamicMemberLookup
public struct GrantAwarded: Sendable, Hashable, Flattened {
    public var command: AwardGrant
    /// Derived: the call of the application.
    public var callId: String
    /// Derived: the applying consortium.
    public var consortiumId: String
    /// Derived: the consortium's members and roles as they stood at the award.
    public var members: [Member]

    public subscript<T>(dynamicMember keyPath: KeyPath<AwardGrant, T>) -> T { command[keyPath: keyPath] }

    public var base: AwardGrant { command }

    public enum ExtraKeys: String, CodingKey { case callId, consortiumId, members }

    init(command: AwardGrant, callId: String, consortiumId: String, members: [Member]) {
        self.command = command
        self.callId = callId
        self.consortiumId = consortiumId
        self.members = members
    }

    public init(base command: AwardGrant, extras derived: KeyedDecodingContainer<ExtraKeys>) throws {
        self.command = command
        callId = try derived.decode(String.self, forKey: .callId)
        consortiumId = try derived.decode(String.self, forKey: .consortiumId)
        members = try derived.decode([Member].self, forKey: .members)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(callId, forKey: .callId)
        try container.encode(consortiumId, forKey: .consortiumId)
        try container.encode(members, forKey: .members)
    }
}

/// `disburseGrant`; also the data of `GrantTrancheDisbursed`.
public struct DisburseGrant: CommandPayload {
    public var grantId: String
    public var amount: Money
    public var paidOn: BusinessDate

    public static let spec = CommandSpec(
        name: "disburseGrant", event: "GrantTrancheDisbursed", summary: "Pay a tranche of a grant.",
        fields: [
            FieldSpec("grantId", .identifier),
            FieldSpec("amount", .positiveMoney(maximum: nil), help: "tranches add up to at most the grant"),
            FieldSpec("paidOn", .date),
        ])

    public var command: Command { .disburseGrant(self) }
}

/// `closeGrant`; also the data of `GrantClosed`.
public struct CloseGrant: CommandPayload {
    public var grantId: String
    public var closedOn: BusinessDate

    public static let spec = CommandSpec(
        name: "closeGrant", event: "GrantClosed", summary: "Close a grant.",
        fields: [FieldSpec("grantId", .identifier), FieldSpec("closedOn", .date)])

    public var command: Command { .closeGrant(self) }
}

/// `awardSubGrant`.
public struct AwardSubGrant: CommandPayload {
    public var subGrantId: String
    public var grantId: String
    public var organisationId: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var purpose: String

    public static let spec = CommandSpec(
        name: "awardSubGrant", event: "SubGrantAwarded",
        summary: "Award a sub-grant from a grant's envelope to a third party.",
        fields: [
            FieldSpec("subGrantId", .identifier),
            FieldSpec("grantId", .identifier),
            FieldSpec("organisationId", .identifier, help: "any registered organisation but the grant's lead"),
            FieldSpec("awardedOn", .date, help: "within the grant's start and end dates"),
            FieldSpec(
                "amount", .positiveMoney(maximum: PublishCall.subGrantCap), help: "at most the call's maxSubGrant"),
            FieldSpec("purpose", .text(1...2000)),
        ],
        notes: "The grant's sub-grants that are not cancelled never add up to more than its envelope.")

    public var command: Command { .awardSubGrant(self) }
}

/// The data of `SubGrantAwarded`: the command's fields plus the call of the grant.
@dynamicMemberLookup
public struct SubGrantAwarded: Sendable, Hashable, Flattened {
    public var command: AwardSubGrant
    /// Derived: the call the grant was awarded under.
    public var callId: String

    public subscript<T>(dynamicMember keyPath: KeyPath<AwardSubGrant, T>) -> T { command[keyPath: keyPath] }

    public var base: AwardSubGrant { command }

    public enum ExtraKeys: String, CodingKey { case callId }

    init(command: AwardSubGrant, callId: String) {
        self.command = command
        self.callId = callId
    }

    public init(base command: AwardSubGrant, extras derived: KeyedDecodingContainer<ExtraKeys>) throws {
        self.command = command
        callId = try derived.decode(String.self, forKey: .callId)
    }

    public func encodeExtras(into container: inout KeyedEncodingContainer<ExtraKeys>) throws {
        try container.encode(callId, forKey: .callId)
    }
}

/// `disburseSubGrant`; also the data of `SubGrantDisbursed`.
public struct DisburseSubGrant: CommandPayload {
    public var subGrantId: String
    public var amount: Money
    public var paidOn: BusinessDate

    public static let spec = CommandSpec(
        name: "disburseSubGrant", event: "SubGrantDisbursed", summary: "Pay (part of) a sub-grant.",
        fields: [
            FieldSpec("subGrantId", .identifier),
            FieldSpec("amount", .positiveMoney(maximum: nil), help: "payments add up to at most the sub-grant"),
            FieldSpec("paidOn", .date),
        ])

    public var command: Command { .disburseSubGrant(self) }
}

/// `cancelSubGrant`; also the data of `SubGrantCancelled`.
public struct CancelSubGrant: CommandPayload {
    public var subGrantId: String
    public var cancelledOn: BusinessDate
    public var reason: String

    public static let spec = CommandSpec(
        name: "cancelSubGrant", event: "SubGrantCancelled",
        summary: "Cancel a sub-grant before its first payment; its amount returns to the envelope.",
        fields: [
            FieldSpec("subGrantId", .identifier), FieldSpec("cancelledOn", .date), FieldSpec("reason", .text(1...2000)),
        ])

    public var command: Command { .cancelSubGrant(self) }
}
