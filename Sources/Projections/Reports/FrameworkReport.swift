import EventStore
import GrantDomain
import PostgresClient

/// The results framework for a period and filters (docs/domain.md §13): every indicator in
/// the Roadmap's order with its value, its targets in force and its latest sign-off for the
/// same period and filters. Every value is folded from the log at one cut-off (I.3 by the
/// §4 fold, the others by `ActivityLedger`); targets and sign-offs are the recorded ones up
/// to that cut-off.
public struct FrameworkReport: Sendable, Encodable {
    public struct LatestSignOff: Sendable, Hashable, Codable {
        public var reportId: String
        public var position: Int64
        public var value: Int64
    }
    public struct Entry: Sendable, Encodable {
        public var indicator: String
        public var objective: String
        public var title: String
        public var measure: IndicatorMeasure
        @NullEncoded public var value: Int64?
        public var targets: [I3Progress.TargetProgress]
        @NullEncoded public var latestSignOff: LatestSignOff?
    }

    public var period: IndicatorReport.Period
    public var filters: IndicatorReport.Filters
    public var asOf: LogPoint
    public var indicators: [Entry]

    /// The framework for `query` as the log stood at `cutOff`.
    /// - Throws: `DomainError.invalid` for a period whose end is before its start or a
    ///   cut-off beyond the head.
    public static func make(_ query: IndicatorQuery, cutOff: CutOff, pool: ConnectionPool) async throws
        -> FrameworkReport
    {
        guard query.from <= query.to else {
            throw DomainError(.invalid, "\"to\" \(query.to) is before \"from\" \(query.from)")
        }
        var ledger = ActivityLedger()
        var i3 = I3Fold()
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff) {
            ledger.apply($0.event, at: $0.position)
            i3.apply($0.event, at: $0.position)
        }
        let i3Query = I3Query(from: query.from, to: query.to, programme: query.programme, callId: query.callId)
        let reporter = I3Reporter(pool: pool)
        let at = CutOff.position(asOf.position)
        let progress = try await reporter.progress(programme: query.programme, cutOff: at)
        let signOffs = try await reporter.signOffs(cutOff: at).signOffs
        let entries = ResultsFramework.indicators.map { definition -> Entry in
            var entry = Entry(
                indicator: definition.code, objective: definition.objective, title: definition.title,
                measure: definition.measure, value: nil, targets: [], latestSignOff: nil)
            switch definition.measure {
            case .smallOrganisations:
                entry.value = Int64(i3.figures(i3Query).total)
                entry.targets = progress.targets
                if let latest = signOffs.last(where: { $0.base.base.query == i3Query }) {
                    entry.latestSignOff = LatestSignOff(
                        reportId: latest.base.base.reportId, position: latest.base.base.position,
                        value: Int64(latest.base.extras.figures.total))
                }
            default:
                entry.value = ledger.report(definition, query, asOf: asOf).value
            }
            return entry
        }
        return FrameworkReport(
            period: .init(from: query.from, to: query.to),
            filters: .init(programme: query.programme, callId: query.callId), asOf: asOf, indicators: entries)
    }

    /// A text table: objective, code, value, the latest sign-off, the title.
    public var table: String {
        var lines = ["results framework  \(period.from)..\(period.to)  as of position \(asOf.position)", ""]
        for entry in indicators {
            let value = entry.value.map(String.init) ?? "-"
            let signOff = entry.latestSignOff.map { "signed off \($0.value) (\($0.reportId))" } ?? ""
            lines.append(
                entry.indicator.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + value.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + signOff.padding(toLength: 36, withPad: " ", startingAt: 0) + String(entry.title.prefix(70)))
        }
        return lines.joined(separator: "\n")
    }

    /// One row per indicator: `objective,indicator,measure,value,latestSignOff,title`.
    public var csv: String {
        let header = ["objective", "indicator", "measure", "value", "latestSignOff", "title"]
        let rows = indicators.map { entry in
            [
                entry.objective, entry.indicator, entry.measure.rawValue, entry.value.map(String.init) ?? "",
                entry.latestSignOff.map { String($0.value) } ?? "", entry.title,
            ]
        }
        return ([header] + rows).map { $0.map(CSV.field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}
