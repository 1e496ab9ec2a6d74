/// An organisation's profile: its registration as amended by later profile updates.
public struct OrganisationProfile: Sendable, Hashable, Codable {
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

    public init(registration r: RegisterOrganisation) {
        organisationId = r.organisationId
        name = r.name
        country = r.country
        regionCode = r.regionCode
        settlement = r.settlement
        registrationStatus = r.registrationStatus
        bin = r.bin
        leadershipGender = r.leadershipGender
        kind = r.kind
        annualBudgetEur = r.annualBudgetEur
        staffCount = r.staffCount
    }

    /// The profile after `update`. An organisation that becomes unregistered loses its BIN.
    public func applying(_ update: UpdateOrganisationProfile) -> OrganisationProfile {
        var next = self
        if let v = update.name { next.name = v }
        if let v = update.regionCode { next.regionCode = v }
        if let v = update.settlement { next.settlement = v }
        if let v = update.registrationStatus {
            next.registrationStatus = v
            if v == .unregistered && update.bin == nil { next.bin = nil }
        }
        if let v = update.bin { next.bin = v }
        if let v = update.leadershipGender { next.leadershipGender = v }
        if let v = update.kind { next.kind = v }
        if let v = update.annualBudgetEur { next.annualBudgetEur = v }
        if let v = update.staffCount { next.staffCount = v }
        return next
    }

    /// Checks the registration rules of domain.md §2 on the whole profile.
    public func validate(command: String) throws(DomainError) {
        if country == "KZ" {
            guard let regionCode else {
                throw .invalid("\(command): missing field \"regionCode\" (required when \"country\" is \"KZ\")")
            }
            guard Region.isValid(regionCode) else {
                throw .invalid("\(command): field \"regionCode\" is \"\(regionCode)\", not an ISO 3166-2:KZ region code")
            }
            guard settlement != nil else {
                throw .invalid("\(command): missing field \"settlement\" (required when \"country\" is \"KZ\")")
            }
        } else if let regionCode {
            throw .invalid("\(command): field \"regionCode\" is \"\(regionCode)\" but \"country\" is \"\(country)\"; region codes are for KZ only")
        }
        switch registrationStatus {
        case .unregistered:
            if let bin {
                throw .invalid("\(command): field \"bin\" is \"\(bin)\" but the organisation is unregistered; a BIN is forbidden")
            }
        case .registered:
            if country == "KZ" && bin == nil {
                throw .invalid("\(command): missing field \"bin\" (required for a registered organisation in KZ)")
            }
        }
        if let bin, !BIN.isValid(bin) {
            throw .invalid("\(command): field \"bin\" is \"\(bin)\", not a valid BIN (12 digits with a valid check digit)")
        }
    }

    /// domain.md §4 step 2: unregistered, or a budget within the rules and (no staff count
    /// or a staff count within the rules). Registered without a budget is not small.
    public func isSmall(under rules: ReportingRules) -> Bool {
        if registrationStatus == .unregistered { return true }
        guard let annualBudgetEur, annualBudgetEur <= rules.smallMaxAnnualBudgetEur else { return false }
        guard let staffCount else { return true }
        return staffCount <= rules.smallMaxStaff
    }
}

/// A call for proposals.
public struct CallState: Sendable, Hashable {
    public var call: PublishCall
    public var closed: CloseCall?

    public init(call: PublishCall) { self.call = call }
}

/// A consortium and its current members.
public struct ConsortiumState: Sendable, Hashable {
    public var consortiumId: String
    public var name: String
    public var members: [Member]

    public init(formed: FormConsortium) {
        consortiumId = formed.consortiumId
        name = formed.name
        members = formed.members
    }

    /// The lead's organisation id.
    public var lead: String? { members.first { $0.role == .lead }?.organisationId }
}

/// An application and what happened to it.
public struct ApplicationState: Sendable, Hashable {
    public var submission: SubmitApplication
    public var evaluations: [EvaluateApplication] = []
    public var rejected: RejectApplication?
    public var withdrawn: WithdrawApplication?

    public init(submission: SubmitApplication) { self.submission = submission }

    /// Submitted and neither rejected nor withdrawn.
    public var isLive: Bool { rejected == nil && withdrawn == nil }

    /// `submitted`, `rejected` or `withdrawn` (awards are known from the grants).
    public var status: String { rejected != nil ? "rejected" : withdrawn != nil ? "withdrawn" : "submitted" }
}

/// A grant with its tranches.
public struct GrantState: Sendable, Hashable {
    public var award: GrantAwarded
    public var disbursed: Money = .zero
    public var tranches: [DisburseGrant] = []
    public var closed: CloseGrant?

    public init(award: GrantAwarded) { self.award = award }
}

/// A sub-grant with its payments.
public struct SubGrantState: Sendable, Hashable {
    public var award: SubGrantAwarded
    public var disbursed: Money = .zero
    public var payments: [DisburseSubGrant] = []
    public var cancelled: CancelSubGrant?

    public init(award: SubGrantAwarded) { self.award = award }

    /// `awarded`, `cancelled`, `disbursing` or `paid`.
    public var status: String {
        if cancelled != nil { return "cancelled" }
        if disbursed == .zero { return "awarded" }
        return disbursed == award.amount ? "paid" : "disbursing"
    }
}

/// Folds one entity's events, in stream order, into its state.
public enum Fold {
    public static func organisation(_ events: [DomainEvent]) -> OrganisationProfile? {
        var state: OrganisationProfile?
        for event in events {
            switch event {
            case .organisationRegistered(let e): state = OrganisationProfile(registration: e)
            case .organisationProfileUpdated(let e): state = state?.applying(e)
            default: break
            }
        }
        return state
    }

    public static func reportingRules(_ events: [DomainEvent]) -> ReportingRules {
        var rules = ReportingRules.initial
        for case .reportingRulesSet(let e) in events { rules = e }
        return rules
    }

    public static func call(_ events: [DomainEvent]) -> CallState? {
        var state: CallState?
        for event in events {
            switch event {
            case .callPublished(let e): state = CallState(call: e)
            case .callClosed(let e): state?.closed = e
            default: break
            }
        }
        return state
    }

    public static func consortium(_ events: [DomainEvent]) -> ConsortiumState? {
        var state: ConsortiumState?
        for event in events {
            switch event {
            case .consortiumFormed(let e): state = ConsortiumState(formed: e)
            case .consortiumMemberAdded(let e): state?.members.append(Member(organisationId: e.organisationId, role: e.role))
            case .consortiumMemberRemoved(let e): state?.members.removeAll { $0.organisationId == e.organisationId }
            default: break
            }
        }
        return state
    }

    public static func application(_ events: [DomainEvent]) -> ApplicationState? {
        var state: ApplicationState?
        for event in events {
            switch event {
            case .applicationSubmitted(let e): state = ApplicationState(submission: e)
            case .applicationEvaluated(let e): state?.evaluations.append(e)
            case .applicationRejected(let e): state?.rejected = e
            case .applicationWithdrawn(let e): state?.withdrawn = e
            default: break
            }
        }
        return state
    }

    public static func grant(_ events: [DomainEvent]) -> GrantState? {
        var state: GrantState?
        for event in events {
            switch event {
            case .grantAwarded(let e): state = GrantState(award: e)
            case .grantTrancheDisbursed(let e):
                state?.disbursed += e.amount
                state?.tranches.append(e)
            case .grantClosed(let e): state?.closed = e
            default: break
            }
        }
        return state
    }

    public static func subGrant(_ events: [DomainEvent]) -> SubGrantState? {
        var state: SubGrantState?
        for event in events {
            switch event {
            case .subGrantAwarded(let e): state = SubGrantState(award: e)
            case .subGrantDisbursed(let e):
                state?.disbursed += e.amount
                state?.payments.append(e)
            case .subGrantCancelled(let e): state?.cancelled = e
            default: break
            }
        }
        return state
    }
}
