import EventStore
import GrantDomain
import PostgresClient

/// The results framework for a period and filters (docs/domain.md §13): every indicator in
/// the Roadmap's order with its value, its targets in force and its latest sign-off for the
/// same period and filters. Every figure is folded from the log at one cut-off (I.3 by the
/// §4 fold, the others by `ActivityLedger`), never read from a table the application role
/// can write: the sign-offs are the events themselves, and each target's actual and shares
/// are recomputed from the fold.
public struct FrameworkReport: Sendable, Encodable {
    public struct LatestSignOff: Sendable, Hashable, Codable {
        public var reportId: String
        public var position: Int64
        /// Null for I.5, which reports index values.
        @NullEncoded public var value: Int64?
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

    public var period: ReportFrame.Period
    public var filters: ReportFrame.Filters
    public var asOf: LogPoint
    public var indicators: [Entry]

    /// I.3's figures for a query at a position, from the server's index (the one behind
    /// `/v1/indicators/i3`).
    public typealias I3Source = @Sendable (I3Query, Int64) async throws -> I3Figures

    /// The framework for `query` as the log stood at `cutOff`.
    /// - Throws: `DomainError.invalid` for a period whose end is before its start or a
    ///   cut-off beyond the head.
    /// - Parameters:
    ///   - memory: the server's fold kept in memory; a report at the head reads it, with
    ///     I.3 from `i3` (both or neither). Otherwise every figure is folded from the log.
    public static func make(
        _ query: IndicatorQuery, cutOff: CutOff, pool: ConnectionPool, memory: IndicatorMemory? = nil,
        i3: I3Source? = nil
    ) async throws -> FrameworkReport {
        guard query.from <= query.to else {
            throw DomainError(.invalid, "\"to\" \(query.to) is before \"from\" \(query.from)")
        }
        let i3Query = I3Query(from: query.from, to: query.to, programme: query.programme, callId: query.callId)
        let fold: IndicatorLogFold
        let asOf: LogPoint
        let figures: (IndicatorDefinition, IndicatorQuery) -> IndicatorFigures
        var i3Figures: [I3Query: I3Figures] = [:]
        if let memory, let i3, cutOff == .head {
            let snapshot = try await memory.atHead()
            (fold, asOf) = (snapshot.fold, snapshot.asOf)
            figures = { snapshot.figures($0, $1) }
            // I.3 for the period and for each I.3 target's, at the same position.
            let queries = [i3Query] + fold.inForce(indicator: .i3, programme: query.programme).map(\.base.query)
            for wanted in Set(queries) { i3Figures[wanted] = try await i3(wanted, asOf.position) }
        } else {
            (fold, asOf) = try await IndicatorEngine.logFold(cutOff: cutOff, pool: pool)
            figures = { fold.ledger.figures($0, $1) }
            i3Figures[i3Query] = fold.i3.figures(i3Query)
        }
        let known = i3Figures
        let entries = ResultsFramework.indicators.map { definition -> Entry in
            var entry = Entry(
                indicator: definition.code, objective: definition.objective, title: definition.title,
                measure: definition.measure, value: nil, targets: [], latestSignOff: nil)
            let indicator = Indicator(rawValue: definition.code)
            if definition.measure == .smallOrganisations {
                entry.value = (known[i3Query]?.total).map(Int64.init)
            } else {
                entry.value = figures(definition, query).value
            }
            if let indicator {
                entry.targets = fold.progress(
                    indicator: indicator, programme: query.programme,
                    i3Figures: known.isEmpty ? nil : { known[$0] ?? fold.i3.figures($0) }, figures: figures)
                entry.latestSignOff = fold.signOffs.last {
                    $0.base.indicator == indicator && $0.base.base.indicatorQuery == query
                }.map {
                    LatestSignOff(reportId: $0.base.reportId, position: $0.base.position, value: $0.base.figures.value)
                }
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
            let signOff =
                entry.latestSignOff.map { "signed off \($0.value.map(String.init) ?? "") (\($0.reportId))" } ?? ""
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
                entry.latestSignOff.flatMap { $0.value.map(String.init) } ?? "", entry.title,
            ]
        }
        return ([header] + rows).map { $0.map(CSV.field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
}

extension FrameworkReport {
    /// The same report without the names of who recorded the targets (for viewers,
    /// docs/domain.md §15).
    public var withoutActors: FrameworkReport {
        var copy = self
        for entry in copy.indicators.indices {
            for target in copy.indicators[entry].targets.indices {
                copy.indicators[entry].targets[target].recorded.actor = nil
            }
        }
        return copy
    }
}
