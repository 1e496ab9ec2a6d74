import ArgumentParser
import EventStore
import Foundation
import GrantDomain
import Projections

/// `grantledger report ...`.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Indicator reports.", subcommands: [ReportI3.self])
}

/// Output formats of reports.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case json, csv, table
}

/// `grantledger report i3`: indicator I.3 exactly as docs/domain.md §4 defines it.
struct ReportI3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "i3",
        abstract: "Number of small Kazakhstani CSOs accessing EU funding (Roadmap indicator I.3).",
        discussion: """
            Counts organisations per docs/domain.md §4, at the head of the log or as the log stood \
            at --as-of (a position, or an RFC 3339 time: the last event recorded at or before \
            it). The JSON carries asOf.position, asOf.recordedAt and asOf.hash (the chain hash \
            at that position) so the figure can be replayed and checked.
            """)

    @Option(help: "First business date of the period (YYYY-MM-DD), inclusive.") var from: BusinessDate
    @Option(help: "Last business date of the period (YYYY-MM-DD), inclusive.") var to: BusinessDate
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "Only calls of this programme (e.g. CSO-LA).") var programme: String?
    @Option(name: .customLong("call"), help: "Only this call.") var callId: String?
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        if to < from { throw ValidationError("--to \(to) is before --from \(from)") }
        for (flag, value) in [("--programme", programme), ("--call", callId)] {
            if let value, !FilterText.isValid(value) {
                throw ValidationError("\(flag) must have 1-\(FilterText.maxLength) characters")
            }
        }
    }

    func run() async throws {
        let query = I3Query(from: from, to: to, programme: programme, callId: callId)
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let report: I3Report
        do {
            report = try await withDatabaseErrors {
                try await I3Reporter(pool: pool).report(query, cutOff: asOf ?? .head)
            }
        } catch let error as DomainError {
            throw reportRejection(error, format: format == .json ? .json : .text)
        }
        switch format {
        case .json: print(report.json)
        case .csv: print(report.csv, terminator: "")
        case .table: print(report.table)
        }
    }
}
