import Foundation

// What the command table (Commands.table) cannot say: the rules between a command's fields
// that need code, constants its field types name, and the data of events that carry more
// than their command. The payload types themselves are generated from the table.

extension RegisterOrganisation {
    public func validate() throws(DomainError) {
        try self.validate(command: Self.spec.name)
    }
}

extension UpdateOrganisationProfile {
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
}

extension ReportingRules {
    /// The rules in force until the first `ReportingRulesSet`.
    public static let initial = ReportingRules(smallMaxAnnualBudgetEur: Money(cents: 10_000_000), smallMaxStaff: 10)
}

extension PublishCall {
    /// The EU cap on financial support to one third party.
    public static let subGrantCap = Money(cents: 6_000_000)
}

extension RecordActivity {
    public func validate() throws(DomainError) {
        if let endedOn, endedOn < startedOn {
            throw .invalid("recordActivity: \"endedOn\" \(endedOn) is before \"startedOn\" \(startedOn)")
        }
        if let regionCode, !Region.isValid(regionCode) {
            throw .invalid(
                "recordActivity: field \"regionCode\" is \"\(regionCode)\", not an ISO 3166-2:KZ region code")
        }
    }
}

extension FormConsortium {
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
}

extension AddConsortiumMember {
    public func validate() throws(DomainError) {
        if role == .lead {
            throw .rule(
                "addConsortiumMember: field \"role\" is \"lead\"; a consortium has exactly one lead, set when it is formed"
            )
        }
    }
}

extension AwardGrant {
    public func validate() throws(DomainError) {
        if endDate < startDate {
            throw .rule("awardGrant: \"endDate\" \(endDate) is before \"startDate\" \(startDate)")
        }
        if subGrantingEnvelope > amount {
            throw .rule("awardGrant: \"subGrantingEnvelope\" \(subGrantingEnvelope) exceeds \"amount\" \(amount)")
        }
    }
}

/// The data of `GrantAwarded`: the command's fields and what the award derived.
public typealias GrantAwarded = Flat<AwardGrant, AwardDerived>

/// What `awardGrant` derives from the history.
public struct AwardDerived: Codable, Sendable, Hashable {
    /// The call of the application.
    public var callId: String
    /// The applying consortium.
    public var consortiumId: String
    /// The consortium's members and roles as they stood at the award.
    public var members: [Member]
}

/// The data of `SubGrantAwarded`: the command's fields and the call of the grant.
public typealias SubGrantAwarded = Flat<AwardSubGrant, SubGrantDerived>

/// What `awardSubGrant` derives from the history.
public struct SubGrantDerived: Codable, Sendable, Hashable {
    /// The call the grant was awarded under.
    public var callId: String
}
