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
