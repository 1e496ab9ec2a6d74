import Foundation

/// `registerOrganisation`; also the data of `OrganisationRegistered`.
public struct RegisterOrganisation: Sendable, Hashable, Codable {
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

    public init(organisationId: String, name: String, country: String, regionCode: String? = nil, settlement: Settlement? = nil, registrationStatus: RegistrationStatus, bin: String? = nil, leadershipGender: LeadershipGender, kind: OrganisationKind, annualBudgetEur: Money? = nil, staffCount: Int64? = nil) {
        self.organisationId = organisationId
        self.name = name
        self.country = country
        self.regionCode = regionCode
        self.settlement = settlement
        self.registrationStatus = registrationStatus
        self.bin = bin
        self.leadershipGender = leadershipGender
        self.kind = kind
        self.annualBudgetEur = annualBudgetEur
        self.staffCount = staffCount
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            organisationId: try r.identifier("organisationId"),
            name: try r.string("name", length: 1...300),
            country: try r.string("country", length: 2...2),
            regionCode: try r.optionalString("regionCode"),
            settlement: try r.optionalEnumeration("settlement", Settlement.self),
            registrationStatus: try r.enumeration("registrationStatus", RegistrationStatus.self),
            bin: try r.optionalString("bin"),
            leadershipGender: try r.enumeration("leadershipGender", LeadershipGender.self),
            kind: try r.enumeration("kind", OrganisationKind.self),
            annualBudgetEur: try r.optionalMoney("annualBudgetEur"),
            staffCount: try r.optionalInteger("staffCount", in: 0...10_000_000))
        guard value.country.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw .invalid("registerOrganisation: field \"country\" is \"\(value.country)\", expected an ISO 3166-1 alpha-2 code such as \"KZ\"")
        }
        try OrganisationProfile(registration: value).validate(command: "registerOrganisation")
        return value
    }
}

/// `updateOrganisationProfile`; also the data of `OrganisationProfileUpdated`.
public struct UpdateOrganisationProfile: Sendable, Hashable, Codable {
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

    public init(organisationId: String, name: String? = nil, regionCode: String? = nil, settlement: Settlement? = nil, registrationStatus: RegistrationStatus? = nil, bin: String? = nil, leadershipGender: LeadershipGender? = nil, kind: OrganisationKind? = nil, annualBudgetEur: Money? = nil, staffCount: Int64? = nil) {
        self.organisationId = organisationId
        self.name = name
        self.regionCode = regionCode
        self.settlement = settlement
        self.registrationStatus = registrationStatus
        self.bin = bin
        self.leadershipGender = leadershipGender
        self.kind = kind
        self.annualBudgetEur = annualBudgetEur
        self.staffCount = staffCount
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            organisationId: try r.identifier("organisationId"),
            name: try r.optionalString("name", length: 1...300),
            regionCode: try r.optionalString("regionCode"),
            settlement: try r.optionalEnumeration("settlement", Settlement.self),
            registrationStatus: try r.optionalEnumeration("registrationStatus", RegistrationStatus.self),
            bin: try r.optionalString("bin"),
            leadershipGender: try r.optionalEnumeration("leadershipGender", LeadershipGender.self),
            kind: try r.optionalEnumeration("kind", OrganisationKind.self),
            annualBudgetEur: try r.optionalMoney("annualBudgetEur"),
            staffCount: try r.optionalInteger("staffCount", in: 0...10_000_000))
        if Set(r.fields.keys).subtracting(["command", "commandId", "organisationId"]).isEmpty {
            throw .invalid("updateOrganisationProfile: give at least one field to change besides \"organisationId\"")
        }
        if let regionCode = value.regionCode, !Region.isValid(regionCode) {
            throw .invalid("updateOrganisationProfile: field \"regionCode\" is \"\(regionCode)\", not an ISO 3166-2:KZ region code")
        }
        if let bin = value.bin, !BIN.isValid(bin) {
            throw .invalid("updateOrganisationProfile: field \"bin\" is \"\(bin)\", not a valid BIN (12 digits with check digit)")
        }
        return value
    }
}

/// `setReportingRules`; also the data of `ReportingRulesSet`.
public struct ReportingRules: Sendable, Hashable, Codable {
    public var smallMaxAnnualBudgetEur: Money
    public var smallMaxStaff: Int64

    public init(smallMaxAnnualBudgetEur: Money, smallMaxStaff: Int64) {
        self.smallMaxAnnualBudgetEur = smallMaxAnnualBudgetEur
        self.smallMaxStaff = smallMaxStaff
    }

    /// The rules in force until the first `ReportingRulesSet`.
    public static let initial = ReportingRules(smallMaxAnnualBudgetEur: Money(cents: 10_000_000), smallMaxStaff: 10)

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(
            smallMaxAnnualBudgetEur: try r.money("smallMaxAnnualBudgetEur"),
            smallMaxStaff: try r.integer("smallMaxStaff", in: 0...10_000_000))
    }
}

/// `publishCall`; also the data of `CallPublished`.
public struct PublishCall: Sendable, Hashable, Codable {
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

    public init(callId: String, reference: String, title: String, programme: String, publishedOn: BusinessDate, deadline: BusinessDate, budget: Money, minGrant: Money, maxGrant: Money, subGrantingAllowed: Bool, maxSubGrant: Money? = nil) {
        self.callId = callId
        self.reference = reference
        self.title = title
        self.programme = programme
        self.publishedOn = publishedOn
        self.deadline = deadline
        self.budget = budget
        self.minGrant = minGrant
        self.maxGrant = maxGrant
        self.subGrantingAllowed = subGrantingAllowed
        self.maxSubGrant = maxSubGrant
    }

    /// The EU cap on financial support to one third party.
    public static let subGrantCap = Money(cents: 6_000_000)

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            callId: try r.identifier("callId"),
            reference: try r.string("reference", length: 1...200),
            title: try r.string("title", length: 1...500),
            programme: try r.string("programme", length: 1...100),
            publishedOn: try r.date("publishedOn"),
            deadline: try r.date("deadline"),
            budget: try r.money("budget"),
            minGrant: try r.money("minGrant"),
            maxGrant: try r.money("maxGrant"),
            subGrantingAllowed: try r.bool("subGrantingAllowed"),
            maxSubGrant: try r.optionalMoney("maxSubGrant"))
        if value.subGrantingAllowed && value.maxSubGrant == nil {
            throw .invalid("publishCall: missing field \"maxSubGrant\" (required when \"subGrantingAllowed\" is true)")
        }
        if !value.subGrantingAllowed, let maxSubGrant = value.maxSubGrant {
            throw .invalid("publishCall: field \"maxSubGrant\" is \"\(maxSubGrant)\" but \"subGrantingAllowed\" is false")
        }
        return value
    }
}

/// `closeCall`; also the data of `CallClosed`.
public struct CloseCall: Sendable, Hashable, Codable {
    public var callId: String
    public var closedOn: BusinessDate

    public init(callId: String, closedOn: BusinessDate) {
        self.callId = callId
        self.closedOn = closedOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(callId: try r.identifier("callId"), closedOn: try r.date("closedOn"))
    }
}

/// `formConsortium`; also the data of `ConsortiumFormed`.
public struct FormConsortium: Sendable, Hashable, Codable {
    public var consortiumId: String
    public var name: String
    public var members: [Member]

    public init(consortiumId: String, name: String, members: [Member]) {
        self.consortiumId = consortiumId
        self.name = name
        self.members = members
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            consortiumId: try r.identifier("consortiumId"),
            name: try r.string("name", length: 1...300),
            members: try r.members("members"))
        let leads = value.members.filter { $0.role == .lead }.count
        if leads != 1 {
            throw .rule("formConsortium: field \"members\" has \(leads) members with role \"lead\", expected exactly one")
        }
        var seen = Set<String>()
        for member in value.members where !seen.insert(member.organisationId).inserted {
            throw .rule("formConsortium: organisation \"\(member.organisationId)\" appears twice in \"members\"")
        }
        return value
    }
}

/// `addConsortiumMember`; also the data of `ConsortiumMemberAdded`.
public struct AddConsortiumMember: Sendable, Hashable, Codable {
    public var consortiumId: String
    public var organisationId: String
    public var role: MemberRole

    public init(consortiumId: String, organisationId: String, role: MemberRole) {
        self.consortiumId = consortiumId
        self.organisationId = organisationId
        self.role = role
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            consortiumId: try r.identifier("consortiumId"),
            organisationId: try r.identifier("organisationId"),
            role: try r.enumeration("role", MemberRole.self))
        if value.role == .lead {
            throw .rule("addConsortiumMember: field \"role\" is \"lead\"; a consortium has exactly one lead, set when it is formed")
        }
        return value
    }
}

/// `removeConsortiumMember`; also the data of `ConsortiumMemberRemoved`.
public struct RemoveConsortiumMember: Sendable, Hashable, Codable {
    public var consortiumId: String
    public var organisationId: String

    public init(consortiumId: String, organisationId: String) {
        self.consortiumId = consortiumId
        self.organisationId = organisationId
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(consortiumId: try r.identifier("consortiumId"), organisationId: try r.identifier("organisationId"))
    }
}

/// `submitApplication`; also the data of `ApplicationSubmitted`.
public struct SubmitApplication: Sendable, Hashable, Codable {
    public var applicationId: String
    public var callId: String
    public var consortiumId: String
    public var submittedOn: BusinessDate
    public var requestedAmount: Money

    public init(applicationId: String, callId: String, consortiumId: String, submittedOn: BusinessDate, requestedAmount: Money) {
        self.applicationId = applicationId
        self.callId = callId
        self.consortiumId = consortiumId
        self.submittedOn = submittedOn
        self.requestedAmount = requestedAmount
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(
            applicationId: try r.identifier("applicationId"),
            callId: try r.identifier("callId"),
            consortiumId: try r.identifier("consortiumId"),
            submittedOn: try r.date("submittedOn"),
            requestedAmount: try r.money("requestedAmount"))
    }
}

/// `evaluateApplication`; also the data of `ApplicationEvaluated`.
public struct EvaluateApplication: Sendable, Hashable, Codable {
    public var applicationId: String
    public var score: Int64
    public var evaluatedOn: BusinessDate

    public init(applicationId: String, score: Int64, evaluatedOn: BusinessDate) {
        self.applicationId = applicationId
        self.score = score
        self.evaluatedOn = evaluatedOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(
            applicationId: try r.identifier("applicationId"),
            score: try r.integer("score", in: 0...100),
            evaluatedOn: try r.date("evaluatedOn"))
    }
}

/// `rejectApplication`; also the data of `ApplicationRejected`.
public struct RejectApplication: Sendable, Hashable, Codable {
    public var applicationId: String
    public var rejectedOn: BusinessDate
    public var reason: String

    public init(applicationId: String, rejectedOn: BusinessDate, reason: String) {
        self.applicationId = applicationId
        self.rejectedOn = rejectedOn
        self.reason = reason
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(
            applicationId: try r.identifier("applicationId"),
            rejectedOn: try r.date("rejectedOn"),
            reason: try r.string("reason", length: 1...2000))
    }
}

/// `withdrawApplication`; also the data of `ApplicationWithdrawn`.
public struct WithdrawApplication: Sendable, Hashable, Codable {
    public var applicationId: String
    public var withdrawnOn: BusinessDate

    public init(applicationId: String, withdrawnOn: BusinessDate) {
        self.applicationId = applicationId
        self.withdrawnOn = withdrawnOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(applicationId: try r.identifier("applicationId"), withdrawnOn: try r.date("withdrawnOn"))
    }
}

/// `awardGrant`.
public struct AwardGrant: Sendable, Hashable, Codable {
    public var grantId: String
    public var applicationId: String
    public var contractNumber: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var startDate: BusinessDate
    public var endDate: BusinessDate
    public var subGrantingEnvelope: Money

    public init(grantId: String, applicationId: String, contractNumber: String, awardedOn: BusinessDate, amount: Money, startDate: BusinessDate, endDate: BusinessDate, subGrantingEnvelope: Money) {
        self.grantId = grantId
        self.applicationId = applicationId
        self.contractNumber = contractNumber
        self.awardedOn = awardedOn
        self.amount = amount
        self.startDate = startDate
        self.endDate = endDate
        self.subGrantingEnvelope = subGrantingEnvelope
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            grantId: try r.identifier("grantId"),
            applicationId: try r.identifier("applicationId"),
            contractNumber: try r.string("contractNumber", length: 1...100),
            awardedOn: try r.date("awardedOn"),
            amount: try r.money("amount"),
            startDate: try r.date("startDate"),
            endDate: try r.date("endDate"),
            subGrantingEnvelope: try r.money("subGrantingEnvelope"))
        if value.endDate < value.startDate {
            throw .rule("awardGrant: \"endDate\" \(value.endDate) is before \"startDate\" \(value.startDate)")
        }
        if value.subGrantingEnvelope > value.amount {
            throw .rule("awardGrant: \"subGrantingEnvelope\" \(value.subGrantingEnvelope) exceeds \"amount\" \(value.amount)")
        }
        return value
    }
}

/// The data of `GrantAwarded`: the command's fields plus what the award derived.
public struct GrantAwarded: Sendable, Hashable, Codable {
    public var grantId: String
    public var applicationId: String
    public var contractNumber: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var startDate: BusinessDate
    public var endDate: BusinessDate
    public var subGrantingEnvelope: Money
    /// Derived: the call of the application.
    public var callId: String
    /// Derived: the applying consortium.
    public var consortiumId: String
    /// Derived: the consortium's members and roles as they stood at the award.
    public var members: [Member]

    public init(grantId: String, applicationId: String, contractNumber: String, awardedOn: BusinessDate, amount: Money, startDate: BusinessDate, endDate: BusinessDate, subGrantingEnvelope: Money, callId: String, consortiumId: String, members: [Member]) {
        self.grantId = grantId
        self.applicationId = applicationId
        self.contractNumber = contractNumber
        self.awardedOn = awardedOn
        self.amount = amount
        self.startDate = startDate
        self.endDate = endDate
        self.subGrantingEnvelope = subGrantingEnvelope
        self.callId = callId
        self.consortiumId = consortiumId
        self.members = members
    }
}

/// `disburseGrant`; also the data of `GrantTrancheDisbursed`.
public struct DisburseGrant: Sendable, Hashable, Codable {
    public var grantId: String
    public var amount: Money
    public var paidOn: BusinessDate

    public init(grantId: String, amount: Money, paidOn: BusinessDate) {
        self.grantId = grantId
        self.amount = amount
        self.paidOn = paidOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(grantId: try r.identifier("grantId"), amount: try r.money("amount"), paidOn: try r.date("paidOn"))
        if value.amount == .zero { throw .rule("disburseGrant: field \"amount\" is \"0\"; a tranche must be positive") }
        return value
    }
}

/// `closeGrant`; also the data of `GrantClosed`.
public struct CloseGrant: Sendable, Hashable, Codable {
    public var grantId: String
    public var closedOn: BusinessDate

    public init(grantId: String, closedOn: BusinessDate) {
        self.grantId = grantId
        self.closedOn = closedOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(grantId: try r.identifier("grantId"), closedOn: try r.date("closedOn"))
    }
}

/// `awardSubGrant`.
public struct AwardSubGrant: Sendable, Hashable, Codable {
    public var subGrantId: String
    public var grantId: String
    public var organisationId: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var purpose: String

    public init(subGrantId: String, grantId: String, organisationId: String, awardedOn: BusinessDate, amount: Money, purpose: String) {
        self.subGrantId = subGrantId
        self.grantId = grantId
        self.organisationId = organisationId
        self.awardedOn = awardedOn
        self.amount = amount
        self.purpose = purpose
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            subGrantId: try r.identifier("subGrantId"),
            grantId: try r.identifier("grantId"),
            organisationId: try r.identifier("organisationId"),
            awardedOn: try r.date("awardedOn"),
            amount: try r.money("amount"),
            purpose: try r.string("purpose", length: 1...2000))
        if value.amount == .zero { throw .rule("awardSubGrant: field \"amount\" is \"0\"; it must be more than 0") }
        return value
    }
}

/// The data of `SubGrantAwarded`: the command's fields plus the call of the grant.
public struct SubGrantAwarded: Sendable, Hashable, Codable {
    public var subGrantId: String
    public var grantId: String
    public var organisationId: String
    public var awardedOn: BusinessDate
    public var amount: Money
    public var purpose: String
    /// Derived: the call the grant was awarded under.
    public var callId: String

    public init(subGrantId: String, grantId: String, organisationId: String, awardedOn: BusinessDate, amount: Money, purpose: String, callId: String) {
        self.subGrantId = subGrantId
        self.grantId = grantId
        self.organisationId = organisationId
        self.awardedOn = awardedOn
        self.amount = amount
        self.purpose = purpose
        self.callId = callId
    }
}

/// `disburseSubGrant`; also the data of `SubGrantDisbursed`.
public struct DisburseSubGrant: Sendable, Hashable, Codable {
    public var subGrantId: String
    public var amount: Money
    public var paidOn: BusinessDate

    public init(subGrantId: String, amount: Money, paidOn: BusinessDate) {
        self.subGrantId = subGrantId
        self.amount = amount
        self.paidOn = paidOn
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        let value = Self(
            subGrantId: try r.identifier("subGrantId"), amount: try r.money("amount"), paidOn: try r.date("paidOn"))
        if value.amount == .zero { throw .rule("disburseSubGrant: field \"amount\" is \"0\"; a payment must be positive") }
        return value
    }
}

/// `cancelSubGrant`; also the data of `SubGrantCancelled`.
public struct CancelSubGrant: Sendable, Hashable, Codable {
    public var subGrantId: String
    public var cancelledOn: BusinessDate
    public var reason: String

    public init(subGrantId: String, cancelledOn: BusinessDate, reason: String) {
        self.subGrantId = subGrantId
        self.cancelledOn = cancelledOn
        self.reason = reason
    }

    static func read(_ r: inout FieldReader) throws(DomainError) -> Self {
        Self(
            subGrantId: try r.identifier("subGrantId"), cancelledOn: try r.date("cancelledOn"),
            reason: try r.string("reason", length: 1...2000))
    }
}
