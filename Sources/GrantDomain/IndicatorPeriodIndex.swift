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

    /// The first index whose date is at or after `date` (`after`: after it).
    func bound(_ date: BusinessDate, after: Bool) -> Int {
        var (low, high) = (0, dates.count)
        while low < high {
            let middle = (low + high) / 2
            if after ? dates[middle] <= date : dates[middle] < date { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The figures of the period `from`...`to` (no programme or call filter).
    public func figures(from: BusinessDate, to: BusinessDate) -> IndicatorFigures {
        let width = counters.count
        let low = bound(from, after: false)
        let high = max(low, bound(to, after: true))
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
            figures.cells = cells
            figures.byGroup = Dictionary(grouping: cells, by: \.group).mapValues { $0.reduce(0) { $0 + $1.count } }
            figures.byGender = Dictionary(grouping: cells, by: \.gender).mapValues { $0.reduce(0) { $0 + $1.count } }
        } else {
            figures.byOrganiser = totals["byOrganiser"]
            figures.byRegion = totals["byRegion"]
            if !definition.byTheme.isEmpty { figures.byTheme = totals["byTheme"] }
            if definition.byGenderFocus { figures.byGenderFocus = totals["byGenderFocus"] }
        }
        return figures
    }
}
