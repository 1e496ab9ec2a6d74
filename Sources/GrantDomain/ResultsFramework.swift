/// How an indicator is counted (docs/domain.md §13).
public enum IndicatorMeasure: String, Sendable, Codable {
    /// I.3: the §4 counting rule.
    case smallOrganisations
    /// The number of qualifying activities.
    case activities
    /// The people qualifying activities supported, summed.
    case people
    /// The women's organisations whose capacities qualifying activities supported.
    case organisations
    /// The international indices' values.
    case indices
}

/// One indicator of the Roadmap's results framework: its code, objective, the Roadmap's
/// words, how it is counted and which activities it counts. The CLI, the HTTP routes and
/// the reports read this table; an indicator of an existing measure is one entry.
public struct IndicatorDefinition: Sendable, Hashable {
    public let code: String
    /// `I`, `II` or `III`.
    public let objective: String
    /// The Roadmap's words.
    public let title: String
    public let measure: IndicatorMeasure
    /// Conditions on a qualifying activity.
    public var kind: ActivityKind? = nil
    public var organiser: Organiser? = nil
    public var withGovernment = false
    /// Themes the activity must all have.
    public var themes: [Theme] = []
    /// Themes of which the activity must have at least one.
    public var anyTheme: [Theme] = []
    /// `byTheme` over these themes (empty: no `byTheme`).
    public var byTheme: [Theme] = []
    /// `byGenderFocus` (`gender`: has the theme `gender`; `other`).
    public var byGenderFocus = false

    /// Whether the activity meets this indicator's conditions (period and filters aside).
    public func admits(_ activity: RecordActivity) -> Bool {
        if let kind, activity.kind != kind { return false }
        if let organiser, activity.organiser != organiser { return false }
        if withGovernment && !activity.withGovernment { return false }
        if !themes.allSatisfy(activity.themes.contains) { return false }
        if !anyTheme.isEmpty && !anyTheme.contains(where: activity.themes.contains) { return false }
        return true
    }
}

/// The 14 indicators of the Roadmap's Part III, in its order (docs/domain.md §13).
public enum ResultsFramework {
    public static let indicators: [IndicatorDefinition] = [
        IndicatorDefinition(
            code: "I.1", objective: "I",
            title:
                "Number of dialogues between the EU and GoK addressing the question of the enabling environment for CSOs",
            measure: .activities, kind: .dialogue, organiser: .eu, withGovernment: true,
            themes: [.enablingEnvironment]),
        IndicatorDefinition(
            code: "I.2", objective: "I",
            title:
                "Number of CS activities supported by the EU to undertake research and/or monitor the trends of the enabling environment",
            measure: .activities, kind: .researchOrMonitoring, themes: [.enablingEnvironment]),
        IndicatorDefinition(
            code: "I.3", objective: "I",
            title:
                "Number of small Kazakhstani CSOs (disaggregated by gender, by location) accessing EU funding",
            measure: .smallOrganisations),
        IndicatorDefinition(
            code: "I.4", objective: "I", title: "Number of HRDs, activists and journalists supported",
            measure: .people, kind: .protectionSupport),
        IndicatorDefinition(
            code: "I.5", objective: "I",
            title:
                "Level of improvement of Kazakhstan's ranking in the worldwide commonly accepted indicators on enabling environment",
            measure: .indices),
        IndicatorDefinition(
            code: "II.1", objective: "II",
            title:
                "Number of initiatives organised by the EU with a view to discussing public policies, sharing good practices and knowledge on inclusive policy development and on civil society inclusion in public policy formulation",
            measure: .activities, kind: .policyDiscussion, organiser: .eu),
        IndicatorDefinition(
            code: "II.2", objective: "II",
            title:
                "Number of policy dialogue initiatives between the Government of Kazakhstan and Kazakhstani CSOs around a) the green deal, b) digitalisation, c) good governance, accountability and independent judiciary, d) human rights and rule of law",
            measure: .activities, kind: .dialogue, organiser: .grantee, withGovernment: true,
            anyTheme: [.greenDeal, .digitalisation, .goodGovernance, .humanRights],
            byTheme: [.greenDeal, .digitalisation, .goodGovernance, .humanRights]),
        IndicatorDefinition(
            code: "II.3", objective: "II",
            title:
                "Number of EU-supported initiatives with a view to promoting the roles and participation of CSOs in public policy",
            measure: .activities, kind: .participationInitiative),
        IndicatorDefinition(
            code: "III.1", objective: "III",
            title:
                "Number of policy dialogue initiatives organised with a view to engaging in discussions with the Kazakhstani Government on financial sustainability and capacity development of Kazakhstani CSOs",
            measure: .activities, kind: .dialogue, withGovernment: true, themes: [.csoSustainability]),
        IndicatorDefinition(
            code: "III.2", objective: "III",
            title:
                "Number of EU-supported initiatives with a view to supporting sustainability in the mid to long term",
            measure: .activities, kind: .sustainabilityInitiative),
        IndicatorDefinition(
            code: "III.3", objective: "III", title: "Number of women's organisations whose capacities are supported",
            measure: .organisations, kind: .capacityDevelopment),
        IndicatorDefinition(
            code: "III.4", objective: "III",
            title:
                "Number of EU-supported initiatives increasing the EU reach out to new emerging civil society actors, including those working on gender issues",
            measure: .activities, kind: .outreachInitiative, byGenderFocus: true),
        IndicatorDefinition(
            code: "III.5", objective: "III",
            title:
                "Number of capacity development activities launched by the EU aiming at reinforcing Kazakhstani CSOs' capacity",
            measure: .activities, kind: .capacityDevelopment,
            byTheme: [
                .beneficiaryInteraction, .investigativeJournalism, .disinformation, .socialServicesAdvocacy,
                .accountability, .greenDeal, .digitalisation, .goodGovernance, .humanRights,
            ]),
        IndicatorDefinition(
            code: "III.6", objective: "III",
            title: "Number of initiatives supported by the EU focused on networking/alliance-building skills",
            measure: .activities, kind: .networkingInitiative),
    ]

    /// The indicator with this code (`II.2`), nil for none.
    public static func indicator(_ code: String) -> IndicatorDefinition? { indicators.first { $0.code == code } }
}

/// The period and filters of an indicator report (docs/domain.md §13).
public struct IndicatorQuery: Sendable, Hashable {
    public var from: BusinessDate
    public var to: BusinessDate
    public var programme: String?
    public var callId: String?

    public init(from: BusinessDate, to: BusinessDate, programme: String? = nil, callId: String? = nil) {
        (self.from, self.to, self.programme, self.callId) = (from, to, programme, callId)
    }
}

/// The period, filters and cut-off of an indicator report (docs/domain.md §13).
public struct ReportFrame: Sendable, Hashable, Codable {
    public struct Period: Sendable, Hashable, Codable {
        public var from: BusinessDate
        public var to: BusinessDate

        public init(from: BusinessDate, to: BusinessDate) { (self.from, self.to) = (from, to) }
    }
    public struct Filters: Sendable, Hashable, Codable {
        @NullEncoded public var programme: String?
        @NullEncoded public var callId: String?

        public init(programme: String?, callId: String?) {
            self.programme = programme
            self.callId = callId
        }
    }

    public var period: Period
    public var filters: Filters
    public var asOf: LogPoint

    public init(_ query: IndicatorQuery, asOf: LogPoint) {
        period = Period(from: query.from, to: query.to)
        filters = Filters(programme: query.programme, callId: query.callId)
        self.asOf = asOf
    }
}

/// One indicator's figures (docs/domain.md §13), for every measure but I.3's (which keeps
/// its §4 shape): what a sign-off records (§14). Keys a measure does not have are absent.
public struct IndicatorFigures: Sendable, Hashable, Codable {
    public struct Cell: Sendable, Hashable, Codable {
        public var group: String
        public var gender: String
        public var count: Int64
    }
    public struct IndexPoint: Sendable, Hashable, Codable {
        public var year: Int64
        public var value: String
        @NullEncoded public var rating: String?
    }
    public struct IndexChange: Sendable, Hashable, Codable {
        @NullEncoded public var baseline: IndexPoint?
        @NullEncoded public var latest: IndexPoint?
        @NullEncoded public var change: String?
    }

    public var indicator: String
    public var title: String
    public var measure: IndicatorMeasure
    public var value: Int64?
    public var byOrganiser: [String: Int64]?
    public var byRegion: [String: Int64]?
    public var byTheme: [String: Int64]?
    public var byGenderFocus: [String: Int64]?
    public var byGroup: [String: Int64]?
    public var byGender: [String: Int64]?
    public var cells: [Cell]?
    public var bySettlement: [String: Int64]?
    public var byRegistrationStatus: [String: Int64]?
    public var indices: [String: IndexChange]?

    /// A people measure's figures from its nine cells: the cells, their sum as `value`, and
    /// the sums by group and by gender.
    mutating func setPeople(_ cells: [Cell]) {
        self.cells = cells
        value = cells.reduce(0) { $0 + $1.count }
        byGroup = Dictionary(grouping: cells, by: \.group).mapValues { $0.reduce(0) { $0 + $1.count } }
        byGender = Dictionary(grouping: cells, by: \.gender).mapValues { $0.reduce(0) { $0 + $1.count } }
    }

    /// Every disaggregation the measure has, by name, in the report's order.
    public var disaggregations: [(name: String, counts: [String: Int64])] {
        var result: [(String, [String: Int64])] = [
            ("byOrganiser", byOrganiser), ("byRegion", byRegion), ("byTheme", byTheme),
            ("byGenderFocus", byGenderFocus), ("byGroup", byGroup), ("byGender", byGender),
            ("bySettlement", bySettlement), ("byRegistrationStatus", byRegistrationStatus),
        ].compactMap { name, counts in counts.map { (name, $0) } }
        if let cells {
            result.append(
                ("cells", Dictionary(uniqueKeysWithValues: cells.map { ("\($0.group).\($0.gender)", $0.count) })))
        }
        return result
    }
}

/// One indicator's report (docs/domain.md §13): its figures, for a period and filters, as
/// the log stood at `asOf`. Both sides' fields read through (`report.value`, `report.period`).
public typealias IndicatorReport = Flat<ReportFrame, IndicatorFigures>

/// What the activity indicators read of the log, folded event by event up to a cut-off:
/// activities (with the participants' profiles as they stood when each was recorded),
/// retractions, which call each grant is under and which programme each call is of, and
/// index values. `report` then computes any indicator of §13 but I.3.
public struct ActivityLedger: Sendable {
    struct Recorded: Sendable {
        var activity: RecordActivity
        var position: Int64
        /// Each participant's profile after all earlier events (§13, III.3).
        var snapshots: [OrganisationProfile]
    }

    var recorded: [String: Recorded] = [:]
    var retracted: Set<String> = []
    var grantCalls: [String: String] = [:]
    var callProgrammes: [String: String] = [:]
    var profiles: [String: OrganisationProfile] = [:]
    /// The value in force of each index and year (the latest recorded).
    var indexValues: [IndexId: [Int64: RecordIndexValue]] = [:]

    /// How many activities were recorded or retracted: indexes built over the activities stay
    /// valid while it does not change.
    public private(set) var activityChanges = 0

    public init() {}

    public mutating func apply(_ event: DomainEvent, at position: Int64) {
        switch event {
        case .organisationRegistered(let e): profiles[e.organisationId] = e
        case .organisationProfileUpdated(let e): profiles[e.organisationId] = profiles[e.organisationId]?.applying(e)
        case .personalDataErased(let e):
            profiles[e.organisationId]?.name = PersonalData.erased
            for (id, entry) in recorded where entry.activity.participants.contains(e.organisationId) {
                for index in entry.snapshots.indices where entry.snapshots[index].organisationId == e.organisationId {
                    recorded[id]?.snapshots[index].name = PersonalData.erased
                }
            }
        case .callPublished(let e): callProgrammes[e.callId] = e.programme
        case .grantAwarded(let e): grantCalls[e.grantId] = e.callId
        case .activityRecorded(let e):
            activityChanges += 1
            recorded[e.activityId] = Recorded(
                activity: e, position: position, snapshots: e.participants.compactMap { profiles[$0] })
        case .activityRetracted(let e):
            activityChanges += 1
            retracted.insert(e.activityId)
        case .indexValueRecorded(let e): indexValues[e.indexId, default: [:]][e.year] = e
        default: break
        }
    }

    /// The activities that qualify for `definition` under `query`, by `startedOn` then
    /// position (docs/domain.md §13).
    /// - Parameter admitted: `admitted(definition)` of this ledger, when the caller keeps it
    ///   (the server does, per log position): the period is then a binary search in it.
    public func qualifying(
        _ definition: IndicatorDefinition, _ query: IndicatorQuery,
        admitted: [(activity: RecordActivity, position: Int64)]? = nil
    ) -> [(activity: RecordActivity, position: Int64)] {
        guard let admitted else {
            return recorded.values.filter { entry in
                !retracted.contains(entry.activity.activityId) && matches(entry.activity, definition, query)
            }
            .sorted { ($0.activity.startedOn, $0.position) < ($1.activity.startedOn, $1.position) }
            .map { ($0.activity, $0.position) }
        }
        // From the first entry starting on or after `from` to the first after `to`.
        let low = admitted.partitionPoint { $0.activity.startedOn < query.from }
        let range = admitted[low..<max(low, admitted.partitionPoint { $0.activity.startedOn <= query.to })]
        guard query.programme != nil || query.callId != nil else { return Array(range) }
        return range.filter { matches($0.activity, definition, query) }
    }

    /// The activities standing now (not retracted) that meet `definition`'s conditions, by
    /// `startedOn` then position: what `qualifying` narrows to a period and filters.
    public func admitted(_ definition: IndicatorDefinition) -> [(activity: RecordActivity, position: Int64)] {
        recorded.values.filter { !retracted.contains($0.activity.activityId) && definition.admits($0.activity) }
            .sorted { ($0.activity.startedOn, $0.position) < ($1.activity.startedOn, $1.position) }
            .map { ($0.activity, $0.position) }
    }

    /// Whether `activity` meets `definition`'s conditions, the period and the filters,
    /// retractions aside.
    public func matches(_ activity: RecordActivity, _ definition: IndicatorDefinition, _ query: IndicatorQuery)
        -> Bool
    {
        guard activity.startedOn >= query.from, activity.startedOn <= query.to, definition.admits(activity) else {
            return false
        }
        if query.programme != nil || query.callId != nil {
            guard let grantId = activity.grantId, let callId = grantCalls[grantId] else { return false }
            if let wanted = query.callId, wanted != callId { return false }
            if let programme = query.programme, callProgrammes[callId] != programme { return false }
        }
        return true
    }

    /// The participants' profiles as they stood when the activity was recorded.
    public func snapshots(of activityId: String) -> [OrganisationProfile] { recorded[activityId]?.snapshots ?? [] }

    /// An organisation's profile as it stands after every folded event.
    public func profile(_ organisationId: String) -> OrganisationProfile? { profiles[organisationId] }

    /// The recorded activity `activityId` (retracted or not).
    public func activity(_ activityId: String) -> RecordActivity? { recorded[activityId]?.activity }

    /// The value in force of an index for a year.
    public func indexValue(_ index: IndexId, _ year: Int64) -> RecordIndexValue? { indexValues[index]?[year] }

    /// Every index and year with a value in force.
    public var indexYears: [(index: IndexId, year: Int64)] {
        indexValues.flatMap { index, years in years.keys.map { (index, $0) } }
    }

    /// The report of `definition` (any measure but I.3's) for `query`, standing on `asOf`.
    public func report(_ definition: IndicatorDefinition, _ query: IndicatorQuery, asOf: LogPoint) -> IndicatorReport {
        IndicatorReport(ReportFrame(query, asOf: asOf), figures(definition, query))
    }

    /// The figures of `definition` (any measure but I.3's) for `query`.
    /// - Parameter admitted: as `qualifying`'s.
    public func figures(
        _ definition: IndicatorDefinition, _ query: IndicatorQuery,
        admitted: [(activity: RecordActivity, position: Int64)]? = nil
    ) -> IndicatorFigures {
        var report = IndicatorFigures(indicator: definition.code, title: definition.title, measure: definition.measure)
        let qualifying =
            definition.measure == .indices ? [] : qualifying(definition, query, admitted: admitted)
        func zeros(_ keys: [String]) -> [String: Int64] { Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) }) }
        switch definition.measure {
        case .smallOrganisations:
            break  // I.3 is reported by its own engine (§4)
        case .activities:
            report.value = Int64(qualifying.count)
            var byOrganiser = zeros(Organiser.allCases.map(\.rawValue))
            var byRegion = zeros(Region.codes + ["national"])
            var byTheme = zeros(definition.byTheme.map(\.rawValue))
            var byGenderFocus = zeros(["gender", "other"])
            for (a, _) in qualifying {
                byOrganiser[a.organiser.rawValue, default: 0] += 1
                byRegion[a.regionCode ?? "national", default: 0] += 1
                for theme in definition.byTheme where a.themes.contains(theme) {
                    byTheme[theme.rawValue, default: 0] += 1
                }
                byGenderFocus[a.themes.contains(.gender) ? "gender" : "other", default: 0] += 1
            }
            report.byOrganiser = byOrganiser
            report.byRegion = byRegion
            if !definition.byTheme.isEmpty { report.byTheme = byTheme }
            if definition.byGenderFocus { report.byGenderFocus = byGenderFocus }
        case .people:
            var cells: [IndicatorFigures.Cell] = []
            for group in PeopleSupported.Group.allCases {
                for gender in PeopleSupported.Gender.allCases {
                    let count = qualifying.reduce(Int64(0)) { $0 + ($1.activity.peopleSupported?[group][gender] ?? 0) }
                    cells.append(.init(group: group.rawValue, gender: gender.rawValue, count: count))
                }
            }
            report.setPeople(cells)
        case .organisations:
            let firsts = womenLedFirsts(qualifying)
            report.value = Int64(firsts.count)
            var byRegion = zeros(Region.codes)
            var bySettlement = zeros(Settlement.allCases.map(\.rawValue))
            var byStatus = zeros(RegistrationStatus.allCases.map(\.rawValue))
            for (_, first) in firsts {
                if let region = first.profile.regionCode { byRegion[region, default: 0] += 1 }
                if let settlement = first.profile.settlement { bySettlement[settlement.rawValue, default: 0] += 1 }
                byStatus[first.profile.registrationStatus.rawValue, default: 0] += 1
            }
            report.byRegion = byRegion
            report.bySettlement = bySettlement
            report.byRegistrationStatus = byStatus
        case .indices:
            var indices: [String: IndicatorFigures.IndexChange] = [:]
            for index in IndexId.allCases {
                let years = indexValues[index] ?? [:]
                func point(_ year: Int64?) -> IndicatorFigures.IndexPoint? {
                    guard let year, let value = years[year] else { return nil }
                    return .init(year: year, value: value.value, rating: value.rating)
                }
                let baseline = point(years.keys.filter { $0 < Int64(query.from.year) }.max())
                let latest = point(years.keys.filter { $0 <= Int64(query.to.year) }.max())
                var change: String?
                if let baseline, let latest, let was = Money(baseline.value), let now = Money(latest.value) {
                    change = Self.twoDecimals(now.cents - was.cents)
                }
                indices[index.rawValue] = .init(baseline: baseline, latest: latest, change: change)
            }
            report.indices = indices
        }
        return report
    }

    /// Each organisation with a qualifying snapshot (KZ, women-led) and its first one:
    /// earliest `startedOn`, ties by lower position (docs/domain.md §13, III.3).
    public func womenLedFirsts(_ qualifying: [(activity: RecordActivity, position: Int64)]) -> [String: (
        profile: OrganisationProfile, activity: RecordActivity, position: Int64
    )] {
        var firsts: [String: (profile: OrganisationProfile, activity: RecordActivity, position: Int64)] = [:]
        for (activity, position) in qualifying {  // by startedOn, then position
            for profile in recorded[activity.activityId]?.snapshots ?? []
            where profile.country == "KZ" && profile.leadershipGender == .women && firsts[profile.organisationId] == nil
            {
                firsts[profile.organisationId] = (profile, activity, position)
            }
        }
        return firsts
    }

    /// Hundredths as a decimal with exactly 2 decimals, signed (`-1.50`).
    static func twoDecimals(_ hundredths: Int128) -> String {
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = hundredths.magnitude
        let rest = magnitude % 100
        return "\(sign)\(magnitude / 100).\(rest < 10 ? "0" : "")\(rest)"
    }
}

/// Behind every number (docs/domain.md §13): the qualifying activities of an activity or
/// people measure, by `startedOn` then position; for III.3, the organisations with their
/// first qualifying support, by `organisationId`.
public struct IndicatorDrillDown: Sendable, Hashable, Codable {
    public struct Activity: Sendable, Hashable, Codable {
        public var activityId: String
        public var title: String
        public var kind: ActivityKind
        public var organiser: Organiser
        @NullEncoded public var grantId: String?
        public var startedOn: BusinessDate
        @NullEncoded public var regionCode: String?
        public var themes: [Theme]
        public var position: Int64
    }
    public struct FirstSupport: Sendable, Hashable, Codable {
        public var activityId: String
        public var startedOn: BusinessDate
        public var position: Int64
    }
    public struct Organisation: Sendable, Hashable, Codable {
        public var organisationId: String
        public var name: String
        @NullEncoded public var regionCode: String?
        @NullEncoded public var settlement: Settlement?
        public var registrationStatus: RegistrationStatus
        public var firstSupport: FirstSupport
    }

    public var indicator: String
    public var period: ReportFrame.Period
    public var filters: ReportFrame.Filters
    public var asOf: LogPoint
    public var activities: [Activity]?
    public var organisations: [Organisation]?
}

extension IndicatorDefinition {
    /// What stands behind the indicator's number: `activities`, `organisations` (III.3), or
    /// nil (I.3 has its own list, §8; I.5 counts no activity).
    public var drillDown: String? {
        switch measure {
        case .activities, .people: "activities"
        case .organisations: "organisations"
        case .smallOrganisations, .indices: nil
        }
    }
}

extension ActivityLedger {
    /// What stands behind `definition`'s number for `query` (nil when nothing does).
    public func drillDown(
        _ definition: IndicatorDefinition, _ query: IndicatorQuery, asOf: LogPoint,
        admitted: [(activity: RecordActivity, position: Int64)]? = nil
    ) -> IndicatorDrillDown? {
        guard definition.drillDown != nil else { return nil }
        let qualifying = qualifying(definition, query, admitted: admitted)
        var result = IndicatorDrillDown(
            indicator: definition.code, period: .init(from: query.from, to: query.to),
            filters: .init(programme: query.programme, callId: query.callId), asOf: asOf)
        if definition.measure == .organisations {
            result.organisations = womenLedFirsts(qualifying).sorted { $0.key < $1.key }.map { id, first in
                IndicatorDrillDown.Organisation(
                    organisationId: id, name: first.profile.name, regionCode: first.profile.regionCode,
                    settlement: first.profile.settlement, registrationStatus: first.profile.registrationStatus,
                    firstSupport: .init(
                        activityId: first.activity.activityId, startedOn: first.activity.startedOn,
                        position: first.position))
            }
        } else {
            result.activities = qualifying.map { a, position in
                IndicatorDrillDown.Activity(
                    activityId: a.activityId, title: a.title, kind: a.kind, organiser: a.organiser, grantId: a.grantId,
                    startedOn: a.startedOn, regionCode: a.regionCode, themes: a.themes, position: position)
            }
        }
        return result
    }
}
