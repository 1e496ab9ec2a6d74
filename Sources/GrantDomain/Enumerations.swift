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

/// What an activity is (docs/domain.md §12).
public enum ActivityKind: String, Sendable, Codable, CaseIterable {
    case dialogue, policyDiscussion, researchOrMonitoring, participationInitiative, sustainabilityInitiative
    case outreachInitiative, capacityDevelopment, networkingInitiative, protectionSupport
}

/// Who organised an activity: the EU (its Delegation or a member state), or a grantee under
/// an EU grant.
public enum Organiser: String, Sendable, Codable, CaseIterable {
    case eu, grantee
}

/// The themes an activity addresses (docs/domain.md §12).
public enum Theme: String, Sendable, Codable, CaseIterable {
    case enablingEnvironment, greenDeal, digitalisation, goodGovernance, humanRights, csoSustainability
    case beneficiaryInteraction, investigativeJournalism, disinformation, socialServicesAdvocacy, accountability
    case gender
}

/// The international indices indicator I.5 follows.
public enum IndexId: String, Sendable, Codable, CaseIterable {
    case civicusMonitor, freedomInTheWorld, enablingEnvironmentIndex
}

/// The people a protection activity newly supported, as counts only: by group, then by
/// gender. The system never records who they are.
public struct PeopleSupported: Sendable, Hashable, Codable {
    public enum Group: String, Sendable, Codable, CaseIterable { case hrd, activist, journalist }
    public enum Gender: String, Sendable, Codable, CaseIterable { case women, men, undisclosed }

    public struct Counts: Sendable, Hashable, Codable {
        public var women: Int64
        public var men: Int64
        public var undisclosed: Int64

        public init(women: Int64, men: Int64, undisclosed: Int64) {
            (self.women, self.men, self.undisclosed) = (women, men, undisclosed)
        }

        public subscript(gender: Gender) -> Int64 {
            switch gender {
            case .women: women
            case .men: men
            case .undisclosed: undisclosed
            }
        }
    }

    public var hrd: Counts
    public var activist: Counts
    public var journalist: Counts

    public init(hrd: Counts, activist: Counts, journalist: Counts) {
        (self.hrd, self.activist, self.journalist) = (hrd, activist, journalist)
    }

    public subscript(group: Group) -> Counts {
        switch group {
        case .hrd: hrd
        case .activist: activist
        case .journalist: journalist
        }
    }

    /// The most people one count may hold.
    public static let maximum: Int64 = 100_000
}
