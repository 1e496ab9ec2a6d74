/// Urban or rural settlement.
public enum Settlement: String, Sendable, Codable, CaseIterable {
    case urban, rural
}

/// Whether the organisation is legally registered.
public enum RegistrationStatus: String, Sendable, Codable, CaseIterable {
    case registered, unregistered
}

/// Who leads the organisation.
public enum LeadershipGender: String, Sendable, Codable, CaseIterable {
    case women, men, mixed, undisclosed
}

/// The legal or social form of the organisation.
public enum OrganisationKind: String, Sendable, Codable, CaseIterable {
    case ingo, ngo, publicAssociation, foundation, informalGroup, other
}

/// A member's role in a consortium; associates receive no funds.
public enum MemberRole: String, Sendable, Codable, CaseIterable {
    case lead, coApplicant, affiliatedEntity, associate
}

/// One consortium member.
public struct Member: Sendable, Hashable, Codable {
    public var organisationId: String
    public var role: MemberRole
}
