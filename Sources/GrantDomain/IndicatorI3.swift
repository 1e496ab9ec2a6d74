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

    public var byLeadershipGender: [LeadershipGender: Int] {
        Dictionary(
            uniqueKeysWithValues: LeadershipGender.allCases.map { g in
                (g, cells.filter { $0.leadershipGender == g }.map(\.count).reduce(0, +))
            })
    }

    public var byRegistrationStatus: [RegistrationStatus: Int] {
        Dictionary(
            uniqueKeysWithValues: RegistrationStatus.allCases.map { s in
                (s, cells.filter { $0.registrationStatus == s }.map(\.count).reduce(0, +))
            })
    }

    public var bySettlement: [Settlement: Int] {
        Dictionary(
            uniqueKeysWithValues: Settlement.allCases.map { s in
                (s, cells.filter { $0.settlement == s }.map(\.count).reduce(0, +))
            })
    }

    public var byRegion: [String: Int] {
        Dictionary(
            uniqueKeysWithValues: Region.codes.map { r in
                (r, cells.filter { $0.regionCode == r }.map(\.count).reduce(0, +))
            })
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
        let visible = log.filter { $0.position <= cutoff }
        // A sub-grant cancelled at or before the cut-off never gave access.
        var cancelled = Set<String>()
        for case (_, .subGrantCancelled(let c)) in visible { cancelled.insert(c.subGrantId) }

        struct Access {
            let organisationId: String
            let channel: AccessChannel
            let date: BusinessDate
            let position: Int64
            let profile: OrganisationProfile
            let small: Bool
            let callId: String
        }
        var profiles: [String: OrganisationProfile] = [:]
        var rules = ReportingRules.initial
        var programmes: [String: String] = [:]
        var accesses: [Access] = []
        for (position, event) in visible {
            switch event {
            case .organisationRegistered(let e):
                profiles[e.organisationId] = e
            case .organisationProfileUpdated(let e):
                profiles[e.organisationId] = profiles[e.organisationId]?.applying(e)
            case .reportingRulesSet(let e):
                rules = e
            case .callPublished(let e):
                programmes[e.callId] = e.programme
            case .grantAwarded(let e):
                for member in e.members where member.role != .associate {
                    guard let profile = profiles[member.organisationId] else { continue }
                    accesses.append(
                        Access(
                            organisationId: member.organisationId, channel: .consortium, date: e.awardedOn,
                            position: position, profile: profile, small: profile.isSmall(under: rules), callId: e.callId
                        ))
                }
            case .subGrantAwarded(let e):
                guard !cancelled.contains(e.subGrantId), let profile = profiles[e.organisationId] else { continue }
                accesses.append(
                    Access(
                        organisationId: e.organisationId, channel: .subGrant, date: e.awardedOn, position: position,
                        profile: profile, small: profile.isSmall(under: rules), callId: e.callId))
            default:
                break
            }
        }
        let qualifying = accesses.filter { access in
            access.date >= query.from && access.date <= query.to && access.profile.country == "KZ" && access.small
                && (query.callId == nil || access.callId == query.callId)
                && (query.programme == nil || programmes[access.callId] == query.programme)
        }
        var first: [String: Access] = [:]
        var channels: [AccessChannel: Set<String>] = [:]
        for access in qualifying {
            channels[access.channel, default: []].insert(access.organisationId)
            if let current = first[access.organisationId],
                (current.date, current.position) <= (access.date, access.position)
            {
                continue
            }
            first[access.organisationId] = access
        }
        var counts: [I3Cell: Int] = [:]
        for access in first.values {
            guard let region = access.profile.regionCode, let settlement = access.profile.settlement else { continue }
            let key = I3Cell(
                leadershipGender: access.profile.leadershipGender, regionCode: region, settlement: settlement,
                registrationStatus: access.profile.registrationStatus, count: 0)
            counts[key, default: 0] += 1
        }
        let cells = counts.map { key, count in
            I3Cell(
                leadershipGender: key.leadershipGender, regionCode: key.regionCode, settlement: key.settlement,
                registrationStatus: key.registrationStatus, count: count)
        }
        return I3Figures(
            rules: rules,
            byChannel: Dictionary(uniqueKeysWithValues: AccessChannel.allCases.map { ($0, channels[$0]?.count ?? 0) }),
            cells: cells)
    }
}
