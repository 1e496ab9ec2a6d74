/// Inputs of indicator I.3 (docs/domain.md §4) besides the cut-off.
public struct I3Query: Sendable, Hashable {
    /// First business date of the period, inclusive.
    public var from: BusinessDate
    /// Last business date of the period, inclusive.
    public var to: BusinessDate
    /// Only accesses under calls of this programme.
    public var programme: String?
    /// Only accesses under this call.
    public var callId: String?

    public init(from: BusinessDate, to: BusinessDate, programme: String? = nil, callId: String? = nil) {
        self.from = from
        self.to = to
        self.programme = programme
        self.callId = callId
    }
}

/// The channel through which an organisation accessed EU funding.
public enum AccessChannel: String, Sendable, Codable, CaseIterable {
    case consortium, subGrant
}

/// One non-zero combination of the disaggregation dimensions.
public struct I3Cell: Sendable, Hashable, Codable {
    public var leadershipGender: LeadershipGender
    public var regionCode: String
    public var settlement: Settlement
    public var registrationStatus: RegistrationStatus
    public var count: Int

    public init(
        leadershipGender: LeadershipGender, regionCode: String, settlement: Settlement,
        registrationStatus: RegistrationStatus, count: Int
    ) {
        self.leadershipGender = leadershipGender
        self.regionCode = regionCode
        self.settlement = settlement
        self.registrationStatus = registrationStatus
        self.count = count
    }

    /// docs/domain.md order: region, then leadership gender, settlement, registration status.
    static func ordered(_ a: I3Cell, _ b: I3Cell) -> Bool {
        (a.regionCode, a.leadershipGender.rawValue, a.settlement.rawValue, a.registrationStatus.rawValue)
            < (b.regionCode, b.leadershipGender.rawValue, b.settlement.rawValue, b.registrationStatus.rawValue)
    }
}

/// The figures of indicator I.3; marginals are derived from the cells, so they always add up.
public struct I3Figures: Sendable, Hashable {
    /// The reporting rules in force at the cut-off.
    public var rules: ReportingRules
    /// Distinct organisations with at least one qualifying access through each channel.
    public var byChannel: [AccessChannel: Int]
    /// Every non-zero combination, sorted as docs/domain.md §4 says.
    public var cells: [I3Cell]

    public init(rules: ReportingRules, byChannel: [AccessChannel: Int], cells: [I3Cell]) {
        self.rules = rules
        self.byChannel = byChannel
        self.cells = cells.filter { $0.count > 0 }.sorted(by: I3Cell.ordered)
    }

    public var total: Int { cells.map(\.count).reduce(0, +) }

    public var byLeadershipGender: [LeadershipGender: Int] { margin(LeadershipGender.allCases) { $0.leadershipGender } }
    public var byRegistrationStatus: [RegistrationStatus: Int] {
        margin(RegistrationStatus.allCases) { $0.registrationStatus }
    }
    public var bySettlement: [Settlement: Int] { margin(Settlement.allCases) { $0.settlement } }
    public var byRegion: [String: Int] { margin(Region.codes) { $0.regionCode } }

    /// The cells' counts summed per value of one dimension, every value present.
    @inline(__always)
    private func margin<Key: Hashable>(_ keys: [Key], _ dimension: (I3Cell) -> Key) -> [Key: Int] {
        var counts = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })
        for cell in cells {
            let key = dimension(cell)
            if let count = counts[key] { counts[key] = count + cell.count }
        }
        return counts
    }
}

/// The reference computation of I.3: a direct fold of the log, clause by clause of
/// docs/domain.md §4. Projections must give the same figures; tests hold them to it.
public enum I3Reference {
    /// - Parameters:
    ///   - log: events with their positions, in log order.
    ///   - cutoff: only events with position ≤ cutoff exist.
    public static func compute(_ log: [(position: Int64, event: DomainEvent)], query: I3Query, cutoff: Int64)
        -> I3Figures
    {
        let (rules, rows) = organisations(log, query: query, cutoff: cutoff)
        return I3Figures(rules: rules, rows: rows)
    }

    /// The counted organisations (docs/domain.md §8), each with its first qualifying access,
    /// in report order, and the reporting rules in force at the cut-off.
    public static func organisations(_ log: [(position: Int64, event: DomainEvent)], query: I3Query, cutoff: Int64)
        -> (rules: ReportingRules, rows: [I3OrganisationRow])
    {
        var fold = I3Fold()
        for (position, event) in log where position <= cutoff { fold.apply(event, at: position) }
        return fold.organisations(query)
    }
}

/// The reference computation as a fold: `apply` every event of the log up to a cut-off in
/// order, then ask for any number of queries. Holds one entry per access (award member or
/// sub-grant), not the log, so that a sign-off or an export can compute its figures from
/// the events themselves at any size of log.
public struct I3Fold: Sendable {
    struct Access: Sendable {
        let organisationId: String
        var profile: OrganisationProfile
        let small: Bool
        let first: I3FirstAccess
    }
    private var profiles: [String: OrganisationProfile] = [:]
    private var rules = ReportingRules.initial
    private var programmes: [String: String] = [:]
    private var accesses: [Access] = []
    /// A sub-grant cancelled at or before the cut-off never gave access.
    private var cancelled = Set<String>()

    public init() {}

    /// Folds the event recorded at `position` (events must come in log order).
    public mutating func apply(_ event: DomainEvent, at position: Int64) {
        switch event {
        case .organisationRegistered(let e):
            profiles[e.organisationId] = e
        case .organisationProfileUpdated(let e):
            profiles[e.organisationId] = profiles[e.organisationId]?.applying(e)
        case .personalDataErased(let e):
            profiles[e.organisationId]?.name = PersonalData.erased
            for index in accesses.indices where accesses[index].organisationId == e.organisationId {
                accesses[index].profile.name = PersonalData.erased
            }
        case .reportingRulesSet(let e):
            rules = e
        case .callPublished(let e):
            programmes[e.callId] = e.programme
        case .grantAwarded(let e):
            for member in e.members where member.role != .associate {
                guard let profile = profiles[member.organisationId] else { continue }
                accesses.append(
                    Access(
                        organisationId: member.organisationId, profile: profile, small: profile.isSmall(under: rules),
                        first: I3FirstAccess(
                            channel: .consortium, businessDate: e.awardedOn, position: position, callId: e.callId,
                            grantId: e.grantId, subGrantId: nil)))
            }
        case .subGrantAwarded(let e):
            guard let profile = profiles[e.organisationId] else { return }
            accesses.append(
                Access(
                    organisationId: e.organisationId, profile: profile, small: profile.isSmall(under: rules),
                    first: I3FirstAccess(
                        channel: .subGrant, businessDate: e.awardedOn, position: position, callId: e.callId,
                        grantId: e.grantId, subGrantId: e.subGrantId)))
        case .subGrantCancelled(let c):
            cancelled.insert(c.subGrantId)
        default:
            break
        }
    }

    /// The §4 figures of `query` over what was folded.
    public func figures(_ query: I3Query) -> I3Figures {
        let (rules, rows) = organisations(query)
        return I3Figures(rules: rules, rows: rows)
    }

    /// The counted organisations (docs/domain.md §8), each with its first qualifying access,
    /// in report order, and the reporting rules in force.
    public func organisations(_ query: I3Query) -> (rules: ReportingRules, rows: [I3OrganisationRow]) {
        let qualifying = accesses.filter { access in
            !(access.first.subGrantId.map(cancelled.contains) ?? false)
                && access.first.businessDate >= query.from && access.first.businessDate <= query.to
                && access.profile.country == "KZ" && access.small
                && (query.callId == nil || access.first.callId == query.callId)
                && (query.programme == nil || programmes[access.first.callId] == query.programme)
        }
        var first: [String: Access] = [:]
        var channels: [String: Set<AccessChannel>] = [:]
        for access in qualifying {
            channels[access.organisationId, default: []].insert(access.first.channel)
            if let current = first[access.organisationId],
                (current.first.businessDate, current.first.position)
                    <= (access.first.businessDate, access.first.position)
            {
                continue
            }
            first[access.organisationId] = access
        }
        let rows = first.values.compactMap { access -> I3OrganisationRow? in
            guard let region = access.profile.regionCode, let settlement = access.profile.settlement else { return nil }
            return I3OrganisationRow(
                organisationId: access.organisationId, name: access.profile.name,
                place: I3Place(
                    regionCode: region, leadershipGender: access.profile.leadershipGender, settlement: settlement,
                    registrationStatus: access.profile.registrationStatus),
                channels: AccessChannel.allCases.filter { channels[access.organisationId]?.contains($0) ?? false },
                firstAccess: access.first)
        }
        return (rules, rows.sorted(by: I3OrganisationRow.ordered))
    }
}
