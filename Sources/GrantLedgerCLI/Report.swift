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

/// `grantledger report i3`: indicator I.3 and the reports built on it.
struct ReportI3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "i3",
        abstract: "Number of small Kazakhstani CSOs accessing EU funding (Roadmap indicator I.3).",
        subcommands: [ReportI3Figures.self, ReportI3Organisations.self],
        defaultSubcommand: ReportI3Figures.self)
}

/// The inputs of an I.3 query (docs/domain.md §4): period, cut-off, programme, call.
struct I3QueryOptions: ParsableArguments {
    @Option(help: "First business date of the period (YYYY-MM-DD), inclusive.") var from: BusinessDate
    @Option(help: "Last business date of the period (YYYY-MM-DD), inclusive.") var to: BusinessDate
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "Only calls of this programme (e.g. CSO-LA).") var programme: String?
    @Option(name: .customLong("call"), help: "Only this call.") var callId: String?

    func validate() throws {
        if to < from { throw ValidationError("--to \(to) is before --from \(from)") }
        for (flag, value) in [("--programme", programme), ("--call", callId)] {
            if let value, !FilterText.isValid(value) {
                throw ValidationError("\(flag) must have 1-\(FilterText.maxLength) characters")
            }
        }
    }

    var query: I3Query { I3Query(from: from, to: to, programme: programme, callId: callId) }
}

/// `grantledger report i3 [figures]`: the figure exactly as docs/domain.md §4 defines it.
struct ReportI3Figures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "figures",
        abstract: "The I.3 figure with its disaggregations (the default of `report i3`).",
        discussion: """
            Counts organisations per docs/domain.md §4, at the head of the log or as the log stood \
            at --as-of (a position, or an RFC 3339 time: the last event recorded at or before \
            it). The JSON carries asOf.position, asOf.recordedAt and asOf.hash (the chain hash \
            at that position) so the figure can be replayed and checked.
            """)

    @OptionGroup var i3: I3QueryOptions
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let report: I3Report
        do {
            report = try await withDatabaseErrors {
                try await I3Reporter(pool: pool).report(i3.query, cutOff: i3.asOf ?? .head)
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

extension LeadershipGender: ExpressibleByArgument {}
extension Settlement: ExpressibleByArgument {}
extension RegistrationStatus: ExpressibleByArgument {}
extension AccessChannel: ExpressibleByArgument {}
extension I3ListFormat: ExpressibleByArgument {}

/// `grantledger report i3 organisations`: who is behind the figure (docs/domain.md §8).
struct ReportI3Organisations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "organisations",
        abstract: "The organisations counted in I.3, one row each with its first qualifying access.",
        discussion: """
            Lists, per docs/domain.md §8, every organisation the figure counts, described as it \
            stood at its first qualifying access, in the order of the report's cells. The \
            dimension filters select the rows of one cell or margin, so their number equals that \
            cell's count; --channel selects organisations with a qualifying access through it \
            (their number equals byChannel). The list streams: any length prints in bounded memory.
            """)

    @OptionGroup var i3: I3QueryOptions
    @Option(help: "Only organisations counted in this region (ISO 3166-2:KZ code).") var regionCode: String?
    @Option(help: "Only this leadership gender.") var leadershipGender: LeadershipGender?
    @Option(help: "Only this settlement type.") var settlement: Settlement?
    @Option(help: "Only this registration status.")
    var registrationStatus: RegistrationStatus?
    @Option(help: "Only organisations with a qualifying access through this channel.")
    var channel: AccessChannel?
    @Option(help: "json, csv or table.") var format: I3ListFormat = .json
    @Flag(help: "Start CSV with a UTF-8 byte-order mark (for spreadsheet programs).") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        if let regionCode, !Region.isValid(regionCode) {
            throw ValidationError("--region-code \(regionCode) is not an ISO 3166-2:KZ region code")
        }
    }

    func run() async throws {
        let filter = I3RowFilter(
            regionCode: regionCode, leadershipGender: leadershipGender, settlement: settlement,
            registrationStatus: registrationStatus, channel: channel)
        let list = I3OrganisationList(query: i3.query, filter: filter, format: format, byteOrderMark: bom)
        let pool = database.makePool(maxConnections: 2)
        defer { pool.close() }
        let output = BufferedOutput()
        var count = 0
        do {
            try await withDatabaseErrors {
                try await I3Reporter(pool: pool).organisations(
                    i3.query, filter: filter, cutOff: i3.asOf ?? .head,
                    header: { output.write(list.header(asOf: $0)) },
                    row: { row in
                        output.write(list.row(row, index: count))
                        count += 1
                    })
            }
        } catch let error as DomainError {
            throw reportRejection(error, format: format == .json ? .json : .text)
        }
        output.write(list.footer(count: count))
        output.flush()
    }
}

/// Standard output written in blocks of 64 KiB, for long streamed lists.
final class BufferedOutput {
    private var buffer: [UInt8] = []

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 64 << 10 { flush() }
    }

    func flush() {
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
