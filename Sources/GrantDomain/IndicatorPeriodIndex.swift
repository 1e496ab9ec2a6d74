/// Cumulative counts of one indicator's admitted activities in `startedOn` order, so that
/// the figures of any period without a programme or call filter are two binary searches and
/// a subtraction (activity and people measures; docs/domain.md §13). Built from
/// `ActivityLedger.admitted` for one position of the log; `IndicatorPeriodIndexTests` hold
/// it to `ActivityLedger.figures`.
public struct IndicatorPeriodIndex: Sendable {
    let definition: IndicatorDefinition
    let dates: [BusinessDate]
    /// The counters, `(dimension, key)`: `value` first, then the measure's disaggregations.
    let counters: [(dimension: String, key: String)]
    /// `(dates.count + 1) × counters.count` running totals, row i before the i-th activity.
    let prefix: [Int64]

    /// nil for measures that cannot be summed by period (III.3's first supports, I.5, I.3).
    public init?(_ definition: IndicatorDefinition, admitted: [(activity: RecordActivity, position: Int64)]) {
        var counters: [(String, String)] = [("value", "")]
        let contributions: (RecordActivity) -> [Int64]
        switch definition.measure {
        case .activities:
            counters += Organiser.allCases.map { ("byOrganiser", $0.rawValue) }
            counters += (Region.codes + ["national"]).map { ("byRegion", $0) }
            counters += definition.byTheme.map { ("byTheme", $0.rawValue) }
            if definition.byGenderFocus { counters += [("byGenderFocus", "gender"), ("byGenderFocus", "other")] }
            let regionIndex = Dictionary(
                uniqueKeysWithValues: (Region.codes + ["national"]).enumerated().map { ($1, $0) })
            let themes = definition.byTheme
            let genderFocus = definition.byGenderFocus
            let width = counters.count
            contributions = { activity in
                var row = [Int64](repeating: 0, count: width)
                row[0] = 1
                row[1 + (activity.organiser == .eu ? 0 : 1)] = 1
                row[3 + (regionIndex[activity.regionCode ?? "national"] ?? 20)] = 1
                for (offset, theme) in themes.enumerated() where activity.themes.contains(theme) {
                    row[24 + offset] = 1
                }
                if genderFocus { row[24 + themes.count + (activity.themes.contains(.gender) ? 0 : 1)] = 1 }
                return row
            }
        case .people:
            for group in PeopleSupported.Group.allCases {
                for gender in PeopleSupported.Gender.allCases {
                    counters.append(("cells", "\(group.rawValue).\(gender.rawValue)"))
                }
            }
            contributions = { activity in
                var row: [Int64] = [0]
                for group in PeopleSupported.Group.allCases {
                    for gender in PeopleSupported.Gender.allCases {
                        row.append(activity.peopleSupported?[group][gender] ?? 0)
                    }
                }
                row[0] = row.dropFirst().reduce(0, +)
                return row
            }
        case .organisations, .indices, .smallOrganisations:
            return nil
        }
        let width = counters.count
        var prefix = [Int64](repeating: 0, count: (admitted.count + 1) * width)
        for (index, entry) in admitted.enumerated() {
            let row = contributions(entry.activity)
            for column in 0..<width {
                prefix[(index + 1) * width + column] = prefix[index * width + column] + row[column]
            }
        }
        self.definition = definition
        self.dates = admitted.map(\.activity.startedOn)
        self.counters = counters
        self.prefix = prefix
    }

    /// The figures of the period `from`...`to` (no programme or call filter).
    public func figures(from: BusinessDate, to: BusinessDate) -> IndicatorFigures {
        let width = counters.count
        let (low, high) = dates.period(from: from, to: to)
        var totals: [String: [String: Int64]] = [:]
        var value: Int64 = 0
        for (column, counter) in counters.enumerated() {
            let count = prefix[high * width + column] - prefix[low * width + column]
            if column == 0 { value = count } else { totals[counter.dimension, default: [:]][counter.key] = count }
        }
        var figures = IndicatorFigures(
            indicator: definition.code, title: definition.title, measure: definition.measure)
        figures.value = value
        if definition.measure == .people {
            var cells: [IndicatorFigures.Cell] = []
            for group in PeopleSupported.Group.allCases {
                for gender in PeopleSupported.Gender.allCases {
                    cells.append(
                        .init(
                            group: group.rawValue, gender: gender.rawValue,
                            count: totals["cells"]?["\(group.rawValue).\(gender.rawValue)"] ?? 0))
                }
            }
            figures.setPeople(cells)
        } else {
            figures.byOrganiser = totals["byOrganiser"]
            figures.byRegion = totals["byRegion"]
            if !definition.byTheme.isEmpty { figures.byTheme = totals["byTheme"] }
            if definition.byGenderFocus { figures.byGenderFocus = totals["byGenderFocus"] }
        }
        return figures
    }
}

/// III.3's organisations in `startedOn` order of their supports, compact: for each admitted
/// activity, the participants whose profile at that activity counts (in Kazakhstan,
/// women-led) with that profile's dimensions. The figures of any period without a programme
/// or call filter are then one pass over the period's slice, counting each organisation at
/// its first support (docs/domain.md §13), with no string hashing.
public struct FirstSupportIndex: Sendable {
    struct Support: Sendable {
        var organisation: Int32
        var region: Int16  // index in Region.codes, -1 for none
        var settlement: Int8  // index in Settlement.allCases, -1 for none
        var status: Int8  // index in RegistrationStatus.allCases
    }

    let definition: IndicatorDefinition
    let dates: [BusinessDate]
    /// The supports of activity i are `supports[offsets[i]..<offsets[i + 1]]`.
    let offsets: [Int]
    let supports: [Support]
    let organisationCount: Int

    /// nil for any measure but III.3's.
    public init?(
        _ definition: IndicatorDefinition, admitted: [(activity: RecordActivity, position: Int64)],
        ledger: ActivityLedger
    ) {
        guard definition.measure == .organisations else { return nil }
        let regions = Dictionary(uniqueKeysWithValues: Region.codes.enumerated().map { ($1, Int16($0)) })
        let settlements = Dictionary(uniqueKeysWithValues: Settlement.allCases.enumerated().map { ($1, Int8($0)) })
        let statuses = Dictionary(uniqueKeysWithValues: RegistrationStatus.allCases.enumerated().map { ($1, Int8($0)) })
        var numbers: [String: Int32] = [:]
        var offsets = [0]
        var supports: [Support] = []
        for (activity, _) in admitted {
            for profile in ledger.snapshots(of: activity.activityId)
            where profile.country == "KZ" && profile.leadershipGender == .women {
                let number: Int32
                if let known = numbers[profile.organisationId] {
                    number = known
                } else {
                    number = Int32(numbers.count)
                    numbers[profile.organisationId] = number
                }
                supports.append(
                    Support(
                        organisation: number, region: profile.regionCode.flatMap { regions[$0] } ?? -1,
                        settlement: profile.settlement.flatMap { settlements[$0] } ?? -1,
                        status: statuses[profile.registrationStatus] ?? 0))
            }
            offsets.append(supports.count)
        }
        self.definition = definition
        self.dates = admitted.map(\.activity.startedOn)
        self.offsets = offsets
        self.supports = supports
        self.organisationCount = numbers.count
    }

    /// The figures of the period `from`...`to` (no programme or call filter).
    public func figures(from: BusinessDate, to: BusinessDate) -> IndicatorFigures {
        let (low, high) = dates.period(from: from, to: to)
        var seen = [Bool](repeating: false, count: organisationCount)
        var value: Int64 = 0
        var byRegion = [Int64](repeating: 0, count: Region.codes.count)
        var bySettlement = [Int64](repeating: 0, count: Settlement.allCases.count)
        var byStatus = [Int64](repeating: 0, count: RegistrationStatus.allCases.count)
        for support in supports[offsets[low]..<offsets[high]] where !seen[Int(support.organisation)] {
            seen[Int(support.organisation)] = true
            value += 1
            if support.region >= 0 { byRegion[Int(support.region)] += 1 }
            if support.settlement >= 0 { bySettlement[Int(support.settlement)] += 1 }
            byStatus[Int(support.status)] += 1
        }
        var figures = IndicatorFigures(indicator: definition.code, title: definition.title, measure: definition.measure)
        figures.value = value
        figures.byRegion = Dictionary(uniqueKeysWithValues: zip(Region.codes, byRegion))
        figures.bySettlement = Dictionary(uniqueKeysWithValues: zip(Settlement.allCases.map(\.rawValue), bySettlement))
        figures.byRegistrationStatus = Dictionary(
            uniqueKeysWithValues: zip(RegistrationStatus.allCases.map(\.rawValue), byStatus))
        return figures
    }
}

extension Array {
    /// The index of the first element for which `isBefore` is false, in an array whose
    /// elements for which it is true all come first (a binary search).
    func partitionPoint(_ isBefore: (Element) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if isBefore(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

extension Array where Element == BusinessDate {
    /// The slice `low..<high` of these sorted dates that lie in `from`...`to`.
    func period(from: BusinessDate, to: BusinessDate) -> (low: Int, high: Int) {
        let low = partitionPoint { $0 < from }
        return (low, Swift.max(low, partitionPoint { $0 <= to }))
    }
}
