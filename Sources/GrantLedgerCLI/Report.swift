import ArgumentParser
import EventStore
import Exports
import Foundation
import GrantDomain
import Ledger
import Projections

/// `grantledger report ...`.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Indicator reports.",
        subcommands: [
            ReportI3.self, ReportIndicator.self, ReportFramework.self, ReportRestatement.self, ReportProgress.self,
        ])
}

/// `grantledger report framework`: every indicator of the results framework at once
/// (docs/domain.md §13), with its targets and latest sign-off.
struct ReportFramework: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "framework",
        abstract: "The Roadmap's results framework: every indicator's value, targets and latest sign-off.",
        discussion: """
            Every value is counted from the events up to --as-of (default: the head). --format \
            html writes one printable page (no scripts, no external resources) in --lang en, kk \
            or ru; the Kazakh and Russian indicator titles are marked as working translations.
            """)

    @OptionGroup var period: I3QueryOptions
    @Option(help: "json, csv, table or html (a printable page).") var format: FrameworkFormat = .json
    @Option(help: "The language of html: en, kk or ru.") var lang: ReportLanguage = .en
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let query = IndicatorQuery(
            from: period.from, to: period.to, programme: period.programme?.value, callId: period.callId?.value)
        let output = try await withReporter(database, json: format == .json) { reporter -> String in
            let framework = try await FrameworkReport.make(query, cutOff: period.asOf ?? .head, pool: reporter.pool)
            switch format {
            case .json: return ResponseJSON.text(framework) + "\n"
            case .csv: return CSV.document(framework.csv, byteOrderMark: bom)
            case .table: return framework.table + "\n"
            case .html: return FrameworkPage(framework, language: lang).html
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// The formats of the results framework: the report formats and the printable page.
enum FrameworkFormat: String, ExpressibleByArgument, CaseIterable {
    case json, csv, table, html
}

/// `grantledger report restatement --report-id R`: a sign-off of any indicator against the
/// figures at a later cut-off (docs/domain.md §9, §14).
struct ReportRestatement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restatement",
        abstract: "A signed-off figure of any indicator against the figure now, with what changed and why.",
        discussion: """
            I.3's sign-offs give §9's restatement (as `report i3 restatement`). Another \
            indicator's gives its value signed off and now, the delta of the value and of every \
            disaggregation key, and the activities (III.3: organisations; I.5: index values) \
            that changed, with the events recorded after the sign-off's position that changed \
            them. Everything is folded from the log up to --as-of (default: the head).
            """)

    @Option(help: "The sign-off to restate.") var reportId: IdentifierArgument
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let output = try await withReporter(database, json: format == .json) { reporter -> String in
            guard let record = try await IndicatorEngine.recordedSignOff(reportId.value, pool: reporter.pool) else {
                throw DomainError(.notFound, "sign-off \"\(reportId.value)\" does not exist")
            }
            if record.base.indicator == .i3 {
                let restatement = try await reporter.restatement(reportId.value, cutOff: asOf ?? .head)
                switch format {
                case .json: return ResponseJSON.text(restatement) + "\n"
                case .csv: return CSV.document(restatement.csv, byteOrderMark: bom)
                case .table: return restatement.table
                }
            }
            let restatement = try await IndicatorEngine.restatement(
                of: record, cutOff: asOf ?? .head, pool: reporter.pool)
            switch format {
            case .json: return ResponseJSON.text(restatement) + "\n"
            case .csv: return CSV.document(restatement.csv, byteOrderMark: bom)
            case .table: return restatement.table
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// `grantledger report progress [--indicator CODE]`: every target in force of every
/// indicator (or one) against its actual figure (docs/domain.md §10, §14).
struct ReportProgress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Progress against every target in force, of every indicator or of one.",
        discussion: """
            For every target in force at --as-of (default: the head; the latest revision of each \
            targetId recorded by then), the indicator's value for the target's period and \
            programme (I.3: the §4 total, with its minimum shares), and achieved = actual ÷ \
            target to 4 decimals, rounding half away from zero. Folded from the log.
            """)

    @Option(help: "Only targets of this indicator, e.g. II.2.") var indicator: Indicator?
    @Option(help: "Only targets of this programme; 1-200 characters.") var programme: FilterArgument?
    @OptionGroup var report: ReportOptions

    func run() async throws {
        let progress = try await withReporter(report.database, json: report.format == .json) {
            try await IndicatorEngine.progress(
                indicator: indicator, programme: programme?.value, cutOff: report.asOf ?? .head, pool: $0.pool)
        }
        switch report.format {
        case .json: print(ResponseJSON.text(progress))
        case .csv: print(report.byteOrderMark + progress.csv, terminator: "")
        case .table: print(progress.table, terminator: "")
        }
    }
}

extension Indicator: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}

/// `grantledger report indicator CODE`: any indicator of the results framework
/// (docs/domain.md §13), folded from the log at the cut-off. `I.3` gives the §4 report.
struct ReportIndicator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indicator",
        abstract: "One indicator of the Roadmap's results framework (I.1 ... III.6).",
        discussion: "The indicators: "
            + ResultsFramework.indicators.map { "\($0.code) (\($0.measure.rawValue))" }.joined(separator: ", ")
            + ". Counted per docs/domain.md §13 from the events up to --as-of (default: the head).")

    @Argument(help: "The indicator's code, e.g. II.2.") var code: String
    @Argument(
        help:
            "activities (or organisations for III.3): what stands behind the number, instead of the number.")
    var list: String?
    @OptionGroup var period: I3QueryOptions
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func validate() throws {
        guard ResultsFramework.indicator(code) != nil else {
            throw ValidationError(
                "unknown indicator \(code); one of " + ResultsFramework.indicators.map(\.code).joined(separator: ", "))
        }
    }

    func run() async throws {
        guard let definition = ResultsFramework.indicator(code) else { return }
        let query = IndicatorQuery(
            from: period.from, to: period.to, programme: period.programme?.value, callId: period.callId?.value)
        let output = try await withReporter(database, json: format == .json) { reporter -> String in
            if let list {
                let drillDown = try await IndicatorEngine.drillDown(
                    definition, list, query, cutOff: period.asOf ?? .head, pool: reporter.pool)
                switch format {
                case .json: return ResponseJSON.text(drillDown) + "\n"
                case .csv: return CSV.document(drillDown.csv, byteOrderMark: bom)
                case .table: return drillDown.table + "\n"
                }
            }
            if definition.measure == .smallOrganisations {
                let report = try await reporter.report(period.query, cutOff: period.asOf ?? .head)
                switch format {
                case .json: return report.json + "\n"
                case .csv: return CSV.document(report.csv, byteOrderMark: bom)
                case .table: return report.table + "\n"
                }
            }
            let report = try await IndicatorEngine.report(
                definition, query, cutOff: period.asOf ?? .head, pool: reporter.pool)
            switch format {
            case .json: return ResponseJSON.text(report) + "\n"
            case .csv: return CSV.document(report.csv, byteOrderMark: bom)
            case .table: return report.table + "\n"
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// `grantledger report i3`: indicator I.3 and the reports built on it.
struct ReportI3: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "i3",
        abstract: "Number of small Kazakhstani CSOs accessing EU funding (Roadmap indicator I.3).",
        subcommands: [
            ReportI3Figures.self, ReportI3Organisations.self, ReportI3SignOffs.self, ReportI3Restatement.self,
            ReportI3Progress.self,
        ],
        defaultSubcommand: ReportI3Figures.self)
}

/// The inputs of an I.3 query (docs/domain.md §4): period, cut-off, programme, call.
struct I3QueryOptions: ParsableArguments {
    @Option(help: "First business date of the period (YYYY-MM-DD), inclusive.") var from: BusinessDate
    @Option(help: "Last business date of the period (YYYY-MM-DD), inclusive.") var to: BusinessDate
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "Only calls of this programme (e.g. CSO-LA); 1-200 characters.") var programme: FilterArgument?
    @Option(name: .customLong("call"), help: "Only this call; 1-200 characters.") var callId: FilterArgument?

    func validate() throws {
        if to < from { throw ValidationError("--to \(to) is before --from \(from)") }
    }

    var query: I3Query { I3Query(from: from, to: to, programme: programme?.value, callId: callId?.value) }
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
    @Option(help: "json, csv, table, svg (a picture) or html (a printable page).") var format: FigureFormat = .json
    @Option(help: "The language of svg and html: en, kk or ru.") var lang: ReportLanguage = .en
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions
    @OptionGroup(title: "Server") var server: ServerOptions

    func validate() throws {
        if try server.server() != nil, format != .json, format != .csv {
            throw ValidationError("--server answers --format json or csv; \(format.rawValue) is made from the database")
        }
    }

    func run() async throws {
        if let client = try server.server() {
            // The server's answer is the report this command would print, byte for byte.
            var query = [("from", i3.from.description), ("to", i3.to.description)]
            if let asOf = i3.asOf {
                switch asOf {
                case .head: break
                case .position(let position): query.append(("asOf", String(position)))
                case .time(let time): query.append(("asOf", time.rfc3339))
                }
            }
            if let programme = i3.programme { query.append(("programme", programme.value)) }
            if let call = i3.callId { query.append(("call", call.value)) }
            if bom { query.append(("bom", "true")) }
            let body = try await withServer {
                try await client.get(
                    "/v1/indicators/i3", query: query, accept: format == .csv ? "text/csv" : "application/json")
            }
            FileHandle.standardOutput.write(Data(body + (format == .json ? [0x0A] : [])))
            return
        }
        let output = try await withReporter(database, json: format == .json) { reporter -> String in
            var report = try await reporter.report(i3.query, cutOff: i3.asOf ?? .head)
            switch format {
            case .json: return report.json + "\n"
            case .csv: return CSV.document(report.csv, byteOrderMark: bom)
            case .table: return report.table + "\n"
            case .svg, .html:
                // A picture or page is made to be published: its figures are folded from the
                // log itself at the report's cut-off, never taken from a read model.
                let (fold, _) = try await LogFigures.i3(upTo: report.asOf.position, pool: reporter.pool)
                report.figures = fold.figures(report.query)
                if format == .svg { return I3Picture(report: report, language: lang).svgDocument }
                return try await I3PicturePage.make(
                    report, language: lang, reporter: reporter, figures: { fold.figures($0) }
                ).html
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// The formats of the I.3 figure: the report formats and the two pictures.
enum FigureFormat: String, ExpressibleByArgument, CaseIterable {
    case json, csv, table, svg, html
}

extension ReportLanguage: ExpressibleByArgument {}

extension LeadershipGender: ExpressibleByArgument {}
extension Settlement: ExpressibleByArgument {}
extension RegistrationStatus: ExpressibleByArgument {}
extension AccessChannel: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}

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
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
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
        let output = BufferedOutput()
        var count = 0
        try await withReporter(database, json: format == .json) {
            try await $0.organisations(
                i3.query, filter: filter, cutOff: i3.asOf ?? .head,
                header: { output.write(list.header(asOf: $0)) },
                row: { row in
                    output.write(list.row(row, index: count))
                    count += 1
                })
        }
        output.write(list.footer(count: count))
        output.flush()
    }
}

/// `grantledger report i3 sign-offs`: the figures signed off (docs/domain.md §9).
struct ReportI3SignOffs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-offs",
        abstract: "The signed-off I.3 figures, or one of them with --report-id.",
        discussion: """
            A sign-off (command sign-off-indicator-report) records the figures the system \
            computed at a position of the log, with the chain hash there. JSON gives each sign-off \
            as recorded (figures, asOf, recorded.actor); table and CSV give one line each.
            """)

    @Option(help: "Show this sign-off only.") var reportId: IdentifierArgument?
    @OptionGroup var report: ReportOptions

    func run() async throws {
        let records: [SignOffRecord] = try await withReporter(report.database, json: report.format == .json) {
            reporter in
            if let reportId = reportId?.value {
                guard let record = try await reporter.signOff(reportId) else {
                    throw DomainError(.notFound, "sign-off \"\(reportId)\" does not exist")
                }
                return [record]
            }
            return try await reporter.signOffs(cutOff: report.asOf ?? .head).signOffs
        }
        switch report.format {
        case .json: print(reportId != nil ? ResponseJSON.text(records[0]) : ResponseJSON.text(records))
        case .csv: print(report.byteOrderMark + SignOffList.csv(records), terminator: "")
        case .table: print(SignOffList.table(records), terminator: "")
        }
    }
}

/// `grantledger report i3 restatement`: how a signed-off figure moved since (docs/domain.md §9).
struct ReportI3Restatement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restatement",
        abstract: "A signed-off I.3 figure against the figure now, with every organisation that changed and why.",
        discussion: """
            Compares the sign-off's figures with those at --as-of (default: the head): the delta \
            of every key, and per organisation added, removed, moved (another cell) or with other \
            channels, with the events that caused it (new qualifying accesses and cancellations \
            recorded after the sign-off's position). The table format says it in words, one line \
            per organisation, ready to paste into a report.
            """)

    @Option(help: "The sign-off to restate.") var reportId: IdentifierArgument
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    func run() async throws {
        let restatement = try await withReporter(database, json: format == .json) {
            try await $0.restatement(reportId.value, cutOff: asOf ?? .head)
        }
        switch format {
        case .json: print(ResponseJSON.text(restatement))
        case .csv: print(CSV.document(restatement.csv, byteOrderMark: bom), terminator: "")
        case .table: print(restatement.table, terminator: "")
        }
    }
}

/// `grantledger report i3 progress`: targets in force against the actual figures (docs/domain.md §10).
struct ReportI3Progress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Progress against every I.3 target in force: actual, achieved and minimum shares.",
        discussion: """
            For every target in force at --as-of (default: the head; the latest revision of each \
            targetId recorded by then), the I.3 total for its period and programme, achieved = \
            actual ÷ target and each minimum share against the actual share, in exact decimal \
            arithmetic to 4 decimals, rounding half away from zero.
            """)

    @Option(help: "Only targets of this programme; 1-200 characters.") var programme: FilterArgument?
    @OptionGroup var report: ReportOptions

    func run() async throws {
        let progress = try await withReporter(report.database, json: report.format == .json) {
            try await $0.progress(programme: programme?.value, cutOff: report.asOf ?? .head)
        }
        switch report.format {
        case .json: print(ResponseJSON.text(progress))
        case .csv: print(report.byteOrderMark + progress.csv, terminator: "")
        case .table: print(progress.table, terminator: "")
        }
    }
}

/// The cut-off, format and connection of a report.
struct ReportOptions: ParsableArguments {
    @Option(help: "Knowledge cut-off: a log position or an RFC 3339 timestamp.") var asOf: CutOff?
    @Option(help: "json, csv or table.") var format: ReportFormat = .json
    @Flag(help: "Start csv with a UTF-8 byte-order mark, for spreadsheet programs that need one.") var bom = false
    @OptionGroup(title: "Database") var database: DatabaseOptions

    /// What a CSV starts with: U+FEFF with --bom, else nothing.
    var byteOrderMark: String { bom && format == .csv ? CSV.byteOrderMark : "" }
}

/// Runs `body` with a reporter on its own small pool; database errors and §5 rejections end
/// the command the CLI's way (exit status, and the §5 JSON body when `json`).
func withReporter<T>(_ database: DatabaseOptions, json: Bool, _ body: (I3Reporter) async throws -> T) async throws
    -> T
{
    let pool = database.makePool(maxConnections: 2)
    defer { pool.close() }
    do {
        return try await withDatabaseErrors { try await body(I3Reporter(pool: pool)) }
    } catch let error as DomainError {
        throw reportRejection(error, format: json ? .json : .text)
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
