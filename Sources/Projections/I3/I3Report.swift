import EventStore
import Foundation
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient
import Transparency

/// The point of the log a report stands on, with its integrity fields.
public typealias AsOf = LogPoint

/// A computed I.3 report.
public struct I3Report: Sendable, Hashable {
    public var query: I3Query
    public var asOf: AsOf
    public var figures: I3Figures
}

/// Answers I.3 from the `rm_i3` read model, at the head or at any past cut-off.
public struct I3Reporter: Sendable {
    public let pool: ConnectionPool
    public let runner: ProjectionRunner
    let store: EventStore
    private let cache = ReportCache()
    /// The point of the log at a sealed cut-off (chain hash, tree size and root), which never
    /// changes once sealed: most reports of a server stand on the same few cut-offs.
    private let points = BoundedCache<Int64, AsOf>(maxEntries: 1_024)
    /// The report cache's hits and lookups since the start.
    public var cacheCounts: (hits: Int, lookups: Int) { cache.counts.withLockedValue { $0 } }
    /// The qualifying accesses in memory, for `reportFromReadModel`.
    public let memory = I3MemoryIndex()
    /// Set by a background service that keeps the read model sealed and caught up: the
    /// position it last reached, so requests need not ask the database.
    public let knownHead = KnownHead()

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.runner = ProjectionRunner(pool: pool)
        self.store = EventStore(pool: pool)
    }

    /// Answers from the read model as it stands, for a server whose background service
    /// keeps it sealed and caught up: the head is the projection's checkpoint. Reports are
    /// immutable for a given query and cut-off, so repeated ones come from memory.
    /// A cut-off beyond the checkpoint falls back to `report(_:cutOff:)`.
    public func reportFromReadModel(_ query: I3Query, cutOff: CutOff = .head) async throws -> I3Report {
        try await renderedReportFromReadModel(query, cutOff: cutOff).report
    }

    /// `reportFromReadModel(_:cutOff:)` with the report's JSON and CSV renderings, made once
    /// per (query, cut-off) and kept with it in the one report cache.
    public func renderedReportFromReadModel(_ query: I3Query, cutOff: CutOff = .head) async throws -> RenderedI3Report {
        let checkpoint: Int64
        if let known = knownHead.value {
            checkpoint = known
        } else {
            checkpoint = try await runner.checkpoint(of: "i3")
        }
        let cut: Int64
        switch cutOff {
        case .head: cut = checkpoint
        case .position(let position) where position <= checkpoint: cut = position
        case .time(let time):
            let position = try await store.position(atOrBefore: time)
            guard position <= checkpoint else { return RenderedI3Report(try await report(query, cutOff: cutOff)) }
            cut = position
        default: return RenderedI3Report(try await report(query, cutOff: cutOff))
        }
        if let cached = cache.get(query, cut) { return cached }
        let report: I3Report
        if let known = points[cut], memory.loadedUpTo >= checkpoint {
            // The point is known and the index loaded: no connection needed.
            report = I3Report(query: query, asOf: known, figures: memory.figures(query, cutoff: known.position))
        } else {
            report = try await reportTakingConnection(query, cut: cut, checkpoint: checkpoint)
        }
        let rendered = RenderedI3Report(report)
        _ = rendered.json  // rendered once here, so that the cache knows what the entry weighs
        cache.put(query, cut, rendered)
        return rendered
    }

    /// The report at `cut`, loading the point of the log and the index's rows as needed.
    private func reportTakingConnection(_ query: I3Query, cut: Int64, checkpoint: Int64) async throws -> I3Report {
        try await pool.withConnection { connection in
            let asOf: AsOf
            if let known = points[cut] {
                asOf = known
            } else {
                asOf = try await Self.asOf(cut, on: connection)
                points.set(cut, asOf)
            }
            try await memory.refresh(upTo: checkpoint, on: connection)
            return I3Report(query: query, asOf: asOf, figures: memory.figures(query, cutoff: asOf.position))
        }
    }

    /// Seals the chain, catches the projections up to the sealed head, and reports.
    /// - Throws: `DomainError.invalid` for a cut-off beyond the head.
    public func report(_ query: I3Query, cutOff: CutOff = .head) async throws -> I3Report {
        let head = try await runner.sealAndCatchUp()
        let cut = try await resolveCutOff(cutOff, head: head.position, store: store)
        return try await pool.withConnection { connection in
            let asOf = try await Self.asOf(cut, on: connection)
            let figures = try await Self.figures(query, cutoff: asOf.position, schema: "rm_i3", on: connection)
            return I3Report(query: query, asOf: asOf, figures: figures)
        }
    }

    /// The sealed point of the log at or before `cut`, with its integrity fields.
    public static func asOf(_ cut: Int64, on connection: PostgresConnection) async throws -> AsOf {
        guard let point = try await StoreSession(connection: connection).sealedPoint(atOrBefore: cut) else {
            let empty = TreeHead(treeSize: 0, rootHash: Merkle.emptyRoot)
            return AsOf(
                position: 0, recordedAt: nil, hash: [UInt8](repeating: 0, count: 32).hexString, treeSize: 0,
                rootHash: empty.rootHash)
        }
        return AsOf(
            position: point.position, recordedAt: point.recordedAt?.rfc3339, hash: point.hash,
            treeSize: point.tree.treeSize, rootHash: point.tree.rootHash)
    }

    /// docs/domain.md §4 steps 3-5 over the read model, in SQL.
    static func figures(_ query: I3Query, cutoff: Int64, schema: String, on connection: PostgresConnection)
        async throws -> I3Figures
    {
        func select(_ connection: PostgresConnection) async throws -> PostgresRows {
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        WITH q AS MATERIALIZED (
                            SELECT organisation_id, channel, access_date, position, leadership_gender, region_code,
                                   settlement, registration_status
                            FROM \(schema).accesses
                            WHERE position <= $1 AND (cancelled_position IS NULL OR cancelled_position > $1)
                              AND access_date BETWEEN $2::date AND $3::date AND country = 'KZ' AND small
                              AND ($4::text IS NULL OR programme = $4) AND ($5::text IS NULL OR call_id = $5)
                            ORDER BY organisation_id, access_date, position
                        ), firsts AS (
                            SELECT DISTINCT ON (organisation_id) *
                            FROM q ORDER BY organisation_id, access_date, position
                        )
                        SELECT 'cell', leadership_gender, region_code, settlement, registration_status, count(*)
                        FROM firsts GROUP BY leadership_gender, region_code, settlement, registration_status
                        UNION ALL
                        SELECT 'channel', channel, NULL, NULL, NULL, count(*)
                        FROM (SELECT DISTINCT organisation_id, channel FROM q) pairs GROUP BY channel
                        """,
                    bindings: [
                        String(cutoff), query.from.description, query.to.description, query.programme, query.callId,
                    ]))
        }
        // Enough memory for the per-organisation walk to stay off disk, for this query only.
        let rows = try await connection.transaction { connection in
            try await connection.query("SET LOCAL work_mem = '64MB'")
            return try await select(connection)
        }
        var cells: [I3Cell] = []
        var channels: [AccessChannel: Int] = [.consortium: 0, .subGrant: 0]
        for row in rows {
            let count = try row.decode(Int.self, 5)
            if try row.decode(String.self, 0) == "channel" {
                if let channel = AccessChannel(rawValue: try row.decode(String.self, 1)) { channels[channel] = count }
                continue
            }
            guard let gender = LeadershipGender(rawValue: try row.decode(String.self, 1)),
                let region = row.text(2), let settlement = row.text(3).flatMap(Settlement.init(rawValue:)),
                let status = RegistrationStatus(rawValue: try row.decode(String.self, 4))
            else { throw PostgresError(kind: .decoding, message: "unexpected I.3 cell") }
            cells.append(
                I3Cell(
                    leadershipGender: gender, regionCode: region, settlement: settlement, registrationStatus: status,
                    count: count))
        }
        let ruleRows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT small_max_annual_budget_cents, small_max_staff FROM \(schema).rules
                    WHERE position <= $1 ORDER BY position DESC LIMIT 1
                    """, bindings: [String(cutoff)]))
        var rules = ReportingRules.initial
        if let row = ruleRows.first {
            rules = ReportingRules(
                smallMaxAnnualBudgetEur: Money(cents: Int128(try row.decode(Int64.self, 0))),
                smallMaxStaff: try row.decode(Int64.self, 1))
        }
        return I3Figures(rules: rules, byChannel: channels, cells: cells)
    }
}

extension I3Report {
    /// The docs/domain.md §4 JSON, keys in the documented order, every listed key present.
    public var json: String {
        func string(_ value: String?) -> String { value.map { jsonQuoted($0) } ?? "null" }
        func object(_ pairs: [(String, String)]) -> String {
            "{" + pairs.map { "\(jsonQuoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }
        let f = figures
        let (byGender, byStatus, bySettlement, byRegion) =
            (f.byLeadershipGender, f.byRegistrationStatus, f.bySettlement, f.byRegion)
        // The cells are most of the text: written straight into one string (enumeration values
        // are plain ASCII and need no escaping), as `object` would write them.
        var cells = ""
        cells.reserveCapacity(f.cells.count * 128)
        for (index, cell) in f.cells.enumerated() {
            if index > 0 { cells += ", " }
            cells += "{\"leadershipGender\": \""
            cells += cell.leadershipGender.rawValue
            cells += "\", \"regionCode\": "
            cells += jsonQuoted(cell.regionCode)
            cells += ", \"settlement\": \""
            cells += cell.settlement.rawValue
            cells += "\", \"registrationStatus\": \""
            cells += cell.registrationStatus.rawValue
            cells += "\", \"count\": "
            cells += String(cell.count)
            cells += "}"
        }
        return object([
            ("indicator", string("I.3")),
            ("period", object([("from", string(query.from.description)), ("to", string(query.to.description))])),
            ("filters", object([("programme", string(query.programme)), ("callId", string(query.callId))])),
            (
                "asOf",
                object([
                    ("position", String(asOf.position)), ("recordedAt", string(asOf.recordedAt)),
                    ("hash", string(asOf.hash)), ("treeSize", asOf.treeSize.map(String.init) ?? "null"),
                    ("rootHash", string(asOf.rootHash)),
                ])
            ),
            (
                "rules",
                object([
                    ("smallMaxAnnualBudgetEur", string(f.rules.smallMaxAnnualBudgetEur.description)),
                    ("smallMaxStaff", String(f.rules.smallMaxStaff)),
                ])
            ),
            ("total", String(f.total)),
            ("byChannel", object(AccessChannel.allCases.map { ($0.rawValue, String(f.byChannel[$0] ?? 0)) })),
            (
                "byLeadershipGender",
                object(LeadershipGender.allCases.map { ($0.rawValue, String(byGender[$0] ?? 0)) })
            ),
            (
                "byRegistrationStatus",
                object(RegistrationStatus.allCases.map { ($0.rawValue, String(byStatus[$0] ?? 0)) })
            ),
            ("bySettlement", object(Settlement.allCases.map { ($0.rawValue, String(bySettlement[$0] ?? 0)) })),
            ("byRegion", object(Region.codes.map { ($0, String(byRegion[$0] ?? 0)) })),
            ("cells", "[" + cells + "]"),
        ])
    }

    /// CSV for spreadsheets: one row per cell, then the marginals, with plain headers.
    public var csv: String {
        var lines = [
            [
                "Section", "Leadership gender", "Region code", "Region", "Settlement", "Registration status", "Channel",
                "Organisations",
            ].map(CSV.field).joined(separator: ",")
        ]
        func row(
            _ section: String, _ gender: String = "", _ region: String = "", _ settlement: String = "",
            _ status: String = "", _ channel: String = "", count: Int
        ) {
            lines.append(
                [
                    section, gender, region, Region.name(of: region) ?? "", settlement, status, channel,
                    String(count),
                ]
                .map(CSV.field).joined(separator: ","))
        }
        let f = figures
        let (byGender, byStatus, bySettlement, byRegion) =
            (f.byLeadershipGender, f.byRegistrationStatus, f.bySettlement, f.byRegion)
        for cell in f.cells {
            row(
                "Cell", cell.leadershipGender.rawValue, cell.regionCode, cell.settlement.rawValue,
                cell.registrationStatus.rawValue, "", count: cell.count)
        }
        row("Total", count: f.total)
        for channel in AccessChannel.allCases {
            row("By channel", "", "", "", "", channel.rawValue, count: f.byChannel[channel] ?? 0)
        }
        for gender in LeadershipGender.allCases {
            row("By leadership gender", gender.rawValue, count: byGender[gender] ?? 0)
        }
        for status in RegistrationStatus.allCases {
            row("By registration status", "", "", "", status.rawValue, "", count: byStatus[status] ?? 0)
        }
        for settlement in Settlement.allCases {
            row("By settlement", "", "", settlement.rawValue, "", "", count: bySettlement[settlement] ?? 0)
        }
        for region in Region.codes { row("By region", "", region, "", "", "", count: byRegion[region] ?? 0) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A readable summary for a terminal.
    public var table: String {
        let f = figures
        var out: [String] = []
        out.append("Indicator I.3 — small Kazakhstani CSOs accessing EU funding")
        out.append(
            "period \(query.from) to \(query.to)"
                + (query.programme.map { ", programme \($0)" } ?? "") + (query.callId.map { ", call \($0)" } ?? ""))
        out.append(
            "as of position \(asOf.position)" + (asOf.recordedAt.map { " (\($0))" } ?? "")
                + ", chain hash \(asOf.hash)"
                + (asOf.treeSize.map { ", tree \($0) leaves, root \(asOf.rootHash ?? "")" } ?? ""))
        out.append(
            "rules: small = unregistered, or budget ≤ EUR \(f.rules.smallMaxAnnualBudgetEur) and staff ≤ \(f.rules.smallMaxStaff)"
        )
        out.append("")
        out.append("TOTAL organisations: \(f.total)")
        func line(_ label: String, _ pairs: [(String, Int)]) {
            out.append(
                label.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + pairs.map { "\($0.0) \($0.1)" }.joined(separator: "  "))
        }
        line("by channel", AccessChannel.allCases.map { ($0.rawValue, f.byChannel[$0] ?? 0) })
        line("by leadership gender", LeadershipGender.allCases.map { ($0.rawValue, f.byLeadershipGender[$0] ?? 0) })
        line("by registration", RegistrationStatus.allCases.map { ($0.rawValue, f.byRegistrationStatus[$0] ?? 0) })
        line("by settlement", Settlement.allCases.map { ($0.rawValue, f.bySettlement[$0] ?? 0) })
        out.append("by region")
        let byRegion = f.byRegion
        for (code, name) in Region.all {
            out.append("  \(code)  \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(byRegion[code] ?? 0)")
        }
        return out.joined(separator: "\n")
    }
}

/// A report with its JSON and CSV texts, each rendered once, when first asked for.
public final class RenderedI3Report: Sendable {
    public let report: I3Report
    private let renderings = NIOLockedValueBox<[Format: String]>([:])

    private enum Format { case json, csv }

    init(_ report: I3Report) { self.report = report }

    /// The docs/domain.md §4 JSON.
    public var json: String { rendered(.json) { $0.json } }

    /// The CSV rendering.
    public var csv: String { rendered(.csv) { $0.csv } }

    private func rendered(_ format: Format, _ render: (I3Report) -> String) -> String {
        renderings.withLockedValue { texts in
            if let text = texts[format] { return text }
            let text = render(report)
            texts[format] = text
            return text
        }
    }

    /// Bytes held, for the cache's bound.
    var cost: Int { renderings.withLockedValue { $0.values.map(\.utf8.count).reduce(4_096, +) } }
}

/// Recent reports by (query, cut-off), rendered. A report for a given query and cut-off never
/// changes, so entries need no invalidation; the cache only bounds its size.
final class ReportCache: Sendable {
    private struct Key: Hashable, Sendable {
        let query: I3Query
        let cut: Int64
    }
    /// At most 1,000 reports and 64 MiB of JSON (a CSV, rendered on demand, adds about as much).
    private let entries = BoundedCache<Key, RenderedI3Report>(maxEntries: 1_000, maxCost: 64 << 20)
    /// Hits and lookups since the start, for the operator's metrics.
    let counts = NIOLockedValueBox((hits: 0, lookups: 0))

    func get(_ query: I3Query, _ cut: Int64) -> RenderedI3Report? {
        let found = entries[Key(query: query, cut: cut)]
        counts.withLockedValue { counts in
            counts.lookups += 1
            if found != nil { counts.hits += 1 }
        }
        return found
    }

    func put(_ query: I3Query, _ cut: Int64, _ report: RenderedI3Report) {
        entries.set(Key(query: query, cut: cut), report, cost: report.cost)
    }
}

/// The read-model position a background service last reached (nil until it reports one).
public final class KnownHead: Sendable {
    private let position = NIOLockedValueBox<Int64?>(nil)

    public init() {}

    public var value: Int64? { position.withLockedValue { $0 } }

    public func update(_ value: Int64) { position.withLockedValue { $0 = max($0 ?? 0, value) } }
}

/// `EventStore.resolve(_:head:)`, with a cut-off beyond the head reported as `notFound`: the
/// log has no such position (yet).
func resolveCutOff(_ cutOff: CutOff, head: Int64, store: EventStore) async throws -> Int64 {
    do {
        return try await store.resolve(cutOff, head: head)
    } catch let error as CutOffError {
        throw DomainError(.notFound, error.description)
    }
}
