import EventStore
import GrantDomain
import PostgresClient

/// The results framework's indicators (docs/domain.md §13) but I.3, folded from the log
/// itself (`LogReplay`: sealed, gap-free, decoded in parallel) at a cut-off: figures an
/// auditor gets again from `audit export` alone. I.3 keeps its own engines (§4).
public enum IndicatorEngine {
    /// The report of `definition` for `query` as the log stood at `cutOff`.
    /// - Throws: `DomainError.invalid` for I.3 (its own report), for I.5 with a programme or
    ///   call (§13), for a period whose end is before its start, and for a cut-off beyond
    ///   the head.
    /// - Parameter memory: the server's fold kept in memory; a report at the head reads it.
    public static func report(
        _ definition: IndicatorDefinition, _ query: IndicatorQuery, cutOff: CutOff, pool: ConnectionPool,
        memory: IndicatorMemory? = nil
    ) async throws -> IndicatorReport {
        guard definition.measure != .smallOrganisations else {
            throw DomainError(.invalid, "I.3 has its own report (report i3, /v1/indicators/i3)")
        }
        if definition.measure == .indices, query.programme != nil || query.callId != nil {
            // Not a malformed request: the figure asked for does not exist (the indices are national).
            throw DomainError(.notFound, "\(definition.code): programme and call do not apply to the indices")
        }
        guard query.from <= query.to else {
            throw DomainError(.invalid, "\"to\" \(query.to) is before \"from\" \(query.from)")
        }
        if let memory, cutOff == .head {
            let snapshot = try await memory.atHead()
            return IndicatorReport(ReportFrame(query, asOf: snapshot.asOf), snapshot.figures(definition, query))
        }
        let (ledger, asOf) = try await fold(cutOff: cutOff, pool: pool)
        return ledger.report(definition, query, asOf: asOf)
    }

    /// What stands behind the number (docs/domain.md §13): the activities, or III.3's
    /// organisations.
    /// - Throws: `DomainError.notFound` for an indicator with nothing of that name behind it
    ///   (I.3 has its own list, I.5 none), `.invalid` as `report`.
    public static func drillDown(
        _ definition: IndicatorDefinition, _ list: String, _ query: IndicatorQuery, cutOff: CutOff,
        pool: ConnectionPool, memory: IndicatorMemory? = nil
    ) async throws -> IndicatorDrillDown {
        guard definition.drillDown == list else {
            throw DomainError(
                .notFound,
                "\(definition.code) has no \(list) behind it"
                    + (definition.drillDown.map { "; its number stands on \($0)" } ?? ""))
        }
        guard query.from <= query.to else {
            throw DomainError(.invalid, "\"to\" \(query.to) is before \"from\" \(query.from)")
        }
        var found: IndicatorDrillDown?
        if let memory, cutOff == .head {
            let snapshot = try await memory.atHead()
            found = snapshot.fold.ledger.drillDown(
                definition, query, asOf: snapshot.asOf, admitted: snapshot.admitted[definition.code])
        } else {
            let (ledger, asOf) = try await fold(cutOff: cutOff, pool: pool)
            found = ledger.drillDown(definition, query, asOf: asOf)
        }
        guard let drillDown = found else {
            throw DomainError(.notFound, "\(definition.code) has no \(list) behind it")
        }
        return drillDown
    }

    static func fold(cutOff: CutOff, pool: ConnectionPool) async throws -> (ActivityLedger, LogPoint) {
        var ledger = ActivityLedger()
        let asOf = try await LogReplay.replay(pool: pool, cutOff: cutOff) { ledger.apply($0.event, at: $0.position) }
        return (ledger, asOf)
    }
}

extension IndicatorFigures {
    /// Every figure as `(dimension, key, value)`: `value` first, then each disaggregation by
    /// its keys in order, the cells, the indices.
    public var rows: [(dimension: String, key: String, value: String)] {
        var rows: [(String, String, String)] = []
        if let value { rows.append(("value", "", String(value))) }
        for (name, counts) in disaggregations where name != "cells" {
            for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
                rows.append((name, key, String(count)))
            }
        }
        for cell in cells ?? [] { rows.append(("cells", "\(cell.group).\(cell.gender)", String(cell.count))) }
        for (index, change) in (indices ?? [:]).sorted(by: { $0.key < $1.key }) {
            rows.append(("indices", "\(index).baseline", change.baseline.map { "\($0.year): \($0.value)" } ?? ""))
            rows.append(("indices", "\(index).latest", change.latest.map { "\($0.year): \($0.value)" } ?? ""))
            rows.append(("indices", "\(index).change", change.change ?? ""))
        }
        return rows
    }
}

extension IndicatorReport {
    /// The report as CSV: `indicator,dimension,key,value`, one row per figure.
    public var csv: String {
        let code = extras.indicator
        return
            ([["indicator", "dimension", "key", "value"]] + extras.rows.map { [code, $0.dimension, $0.key, $0.value] })
            .map { $0.map(CSV.field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// The report as a text table for a terminal.
    public var table: String {
        var lines = [
            "\(extras.indicator)  \(extras.title)",
            "period \(base.period.from)..\(base.period.to)  as of position \(base.asOf.position)", "",
        ]
        let rows = extras.rows
        let width = rows.map { ($0.dimension + " " + $0.key).count }.max() ?? 0
        for row in rows {
            let label = row.key.isEmpty ? row.dimension : row.dimension + " " + row.key
            lines.append(label.padding(toLength: width + 2, withPad: " ", startingAt: 0) + row.value)
        }
        return lines.joined(separator: "\n")
    }
}

extension IndicatorDrillDown {
    /// The columns and cells of the list, in its order.
    var grid: (header: [String], rows: [[String]]) {
        if let organisations {
            return (
                [
                    "organisationId", "name", "regionCode", "settlement", "registrationStatus", "firstActivityId",
                    "firstStartedOn", "firstPosition",
                ],
                organisations.map {
                    [
                        $0.organisationId, $0.name, $0.regionCode ?? "", $0.settlement?.rawValue ?? "",
                        $0.registrationStatus.rawValue, $0.firstSupport.activityId,
                        $0.firstSupport.startedOn.description, String($0.firstSupport.position),
                    ]
                }
            )
        }
        return (
            ["activityId", "title", "kind", "organiser", "grantId", "startedOn", "regionCode", "themes", "position"],
            (activities ?? []).map {
                [
                    $0.activityId, $0.title, $0.kind.rawValue, $0.organiser.rawValue, $0.grantId ?? "",
                    $0.startedOn.description, $0.regionCode ?? "", $0.themes.map(\.rawValue).joined(separator: " "),
                    String($0.position),
                ]
            }
        )
    }

    /// One row per activity (or organisation), cells by `CSV.field`.
    public var csv: String {
        let (header, rows) = grid
        return ([header] + rows).map { $0.map(CSV.field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Tab-separated, for a terminal.
    public var table: String {
        let (header, rows) = grid
        return ([header] + rows).map { $0.joined(separator: "\t") }.joined(separator: "\n")
    }
}
