/// An organisation's profile: its registration as amended by later profile updates. It has
/// exactly the registration's fields, so it is the same type.
public typealias OrganisationProfile = RegisterOrganisation

extension OrganisationProfile {
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
        if let v = update.confidential { next.confidential = v }
        return next
    }

    /// Whether the organisation is shown only as a pseudonym outside managers and auditors
    /// (docs/domain.md §15): as recorded, else exactly when it is unregistered.
    public var isConfidential: Bool { confidential ?? (registrationStatus == .unregistered) }

    /// Checks the registration rules of docs/domain.md §2 on the whole profile.
    public func validate(command: String) throws(DomainError) {
        if country == "KZ" {
            guard let regionCode else {
                throw .invalid("\(command): missing field \"regionCode\" (required when \"country\" is \"KZ\")")
            }
            guard Region.isValid(regionCode) else {
                throw .invalid(
                    "\(command): field \"regionCode\" is \"\(regionCode)\", not an ISO 3166-2:KZ region code")
            }
            guard settlement != nil else {
                throw .invalid("\(command): missing field \"settlement\" (required when \"country\" is \"KZ\")")
            }
        } else if let regionCode {
            throw .invalid(
                "\(command): field \"regionCode\" is \"\(regionCode)\" but \"country\" is \"\(country)\"; region codes are for KZ only"
            )
        }
        switch registrationStatus {
        case .unregistered:
            if let bin {
                throw .invalid(
                    "\(command): field \"bin\" is \"\(bin)\" but the organisation is unregistered; a BIN is forbidden")
            }
        case .registered:
            if country == "KZ" && bin == nil {
                throw .invalid("\(command): missing field \"bin\" (required for a registered organisation in KZ)")
            }
        }
        if let bin, !BIN.isValid(bin) {
            throw .invalid(
                "\(command): field \"bin\" is \"\(bin)\", not a valid BIN (12 digits with a valid check digit)")
        }
    }

    /// docs/domain.md §4 step 2: unregistered, or a budget within the rules and (no staff count
    /// or a staff count within the rules). Registered without a budget is not small.
    public func isSmall(under rules: ReportingRules) -> Bool {
        if registrationStatus == .unregistered { return true }
        guard let annualBudgetEur, annualBudgetEur <= rules.smallMaxAnnualBudgetEur else { return false }
        guard let staffCount else { return true }
        return staffCount <= rules.smallMaxStaff
    }
}

/// A call for proposals.
public struct CallState: Sendable, Hashable, Codable {
    public var call: PublishCall
    public var closed: CloseCall?

    public init(call: PublishCall) { self.call = call }
}

/// A consortium and its current members.
public struct ConsortiumState: Sendable, Hashable, Codable {
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
public struct ApplicationState: Sendable, Hashable, Codable {
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
public struct GrantState: Sendable, Hashable, Codable {
    public var award: GrantAwarded
    public var disbursed: Money = .zero
    public var tranches: [DisburseGrant] = []
    public var closed: CloseGrant?

    public init(award: GrantAwarded) { self.award = award }
}

/// A sub-grant with its payments.
public struct SubGrantState: Sendable, Hashable, Codable {
    public var award: SubGrantAwarded
    public var disbursed: Money = .zero
    public var payments: [DisburseSubGrant] = []
    public var cancelled: CancelSubGrant?

    public init(award: SubGrantAwarded) { self.award = award }

    /// The sub-grant after its organisation's texts were erased (docs/domain.md §15).
    public mutating func erasePersonalTexts() {
        award.base.purpose = PersonalData.erased
        cancelled?.reason = PersonalData.erased
    }

    /// `awarded`, `cancelled`, `disbursing` or `paid`.
    public var status: String {
        if cancelled != nil { return "cancelled" }
        if disbursed == .zero { return "awarded" }
        return disbursed == award.amount ? "paid" : "disbursing"
    }
}

extension CallState {
    /// Applies a later event of the call's stream.
    public mutating func apply(_ event: DomainEvent) {
        if case .callClosed(let e) = event { closed = e }
    }
}

extension ConsortiumState {
    /// Applies a later event of the consortium's stream.
    public mutating func apply(_ event: DomainEvent) {
        switch event {
        case .consortiumMemberAdded(let e): members.append(Member(organisationId: e.organisationId, role: e.role))
        case .consortiumMemberRemoved(let e): members.removeAll { $0.organisationId == e.organisationId }
        default: break
        }
    }
}

extension ApplicationState {
    /// Applies a later event of the application's stream.
    public mutating func apply(_ event: DomainEvent) {
        switch event {
        case .applicationEvaluated(let e): evaluations.append(e)
        case .applicationRejected(let e): rejected = e
        case .applicationWithdrawn(let e): withdrawn = e
        default: break
        }
    }
}

extension GrantState {
    /// Applies a later event of the grant's stream.
    public mutating func apply(_ event: DomainEvent) {
        switch event {
        case .grantTrancheDisbursed(let e):
            disbursed += e.amount
            tranches.append(e)
        case .grantClosed(let e): closed = e
        default: break
        }
    }
}

extension SubGrantState {
    /// Applies a later event of the sub-grant's stream.
    public mutating func apply(_ event: DomainEvent) {
        switch event {
        case .subGrantDisbursed(let e):
            disbursed += e.amount
            payments.append(e)
        case .subGrantCancelled(let e): cancelled = e
        default: break
        }
    }
}

/// An activity (docs/domain.md §12): as recorded, and its retraction if any.
public struct ActivityState: Sendable, Hashable, Codable {
    public var recorded: RecordActivity
    public var retracted: RetractActivity?

    public init(recorded: RecordActivity) { self.recorded = recorded }

    /// `recorded` or `retracted`.
    public var status: String { retracted == nil ? "recorded" : "retracted" }
}

extension ActivityState {
    /// Applies a later event of the activity's stream.
    public mutating func apply(_ event: DomainEvent) {
        if case .activityRetracted(let e) = event { retracted = e }
    }
}

/// Folds one entity's events, in stream order, into its state.
public enum Fold {
    public static func organisation(_ events: [DomainEvent]) -> OrganisationProfile? {
        var state: OrganisationProfile?
        for event in events {
            switch event {
            case .organisationRegistered(let e): state = e
            case .organisationProfileUpdated(let e): state = state?.applying(e)
            case .personalDataErased: state?.name = PersonalData.erased
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
        fold(events) {
            if case .callPublished(let e) = $0 { CallState(call: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    public static func consortium(_ events: [DomainEvent]) -> ConsortiumState? {
        fold(events) {
            if case .consortiumFormed(let e) = $0 { ConsortiumState(formed: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    public static func application(_ events: [DomainEvent]) -> ApplicationState? {
        fold(events) {
            if case .applicationSubmitted(let e) = $0 { ApplicationState(submission: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    public static func grant(_ events: [DomainEvent]) -> GrantState? {
        fold(events) {
            if case .grantAwarded(let e) = $0 { GrantState(award: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    public static func subGrant(_ events: [DomainEvent]) -> SubGrantState? {
        fold(events) {
            if case .subGrantAwarded(let e) = $0 { SubGrantState(award: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    public static func activity(_ events: [DomainEvent]) -> ActivityState? {
        fold(events) {
            if case .activityRecorded(let e) = $0 { ActivityState(recorded: e) } else { nil }
        } apply: {
            $0.apply($1)
        }
    }

    private static func fold<State>(
        _ events: [DomainEvent], start: (DomainEvent) -> State?, apply: (inout State, DomainEvent) -> Void
    ) -> State? {
        var state: State?
        for event in events {
            if let created = start(event) {
                state = created
            } else if state != nil {
                apply(&state!, event)
            }
        }
        return state
    }
}
