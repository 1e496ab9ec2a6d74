import EventStore
import Foundation
import GrantDomain
import PostgresClient

/// The organisations behind an I.3 figure (docs/domain.md §8), from the same read model and
/// the same rule as the figure, so that the rows always add up to it.
extension I3Reporter {
    /// Rows are fetched from a cursor this many at a time, so a list of any length streams
    /// in bounded memory.
    static let organisationBatch = 2_000

    /// Streams the counted organisations at the cut-off, in report order: `header` gets the
    /// point of the log the list stands on before the first row, then `row` gets each row.
    /// - Throws: `DomainError.invalid` for a cut-off beyond the head.
    public func organisations(
        _ query: I3Query, filter: I3RowFilter = I3RowFilter(), cutOff: CutOff = .head,
        header: (AsOf) async throws -> Void, row: (I3OrganisationRow) async throws -> Void
    ) async throws {
        let cut = try await readModelCut(cutOff)
        try await pool.withConnection { connection in
            try await header(try await Self.asOf(cut, on: connection))
            try await Self.organisations(query, filter: filter, cutoff: cut, schema: "rm_i3", on: connection, row: row)
        }
    }

    /// The server's path: the counted organisations from the in-memory index, when a
    /// background service keeps the read model caught up through `cut` (nil otherwise; then
    /// use the streaming read of the read model).
    public func organisationsFromMemory(_ query: I3Query, filter: I3RowFilter, cut: Int64) async throws
        -> (asOf: AsOf, rows: [I3OrganisationRow])?
    {
        guard let known = knownHead.value, cut <= known else { return nil }
        return try await pool.withConnection { connection in
            let asOf = try await Self.asOf(cut, on: connection)
            try await memory.refresh(upTo: known, on: connection)
            return (asOf, memory.organisations(query, filter: filter, cutoff: asOf.position))
        }
    }

    /// All counted organisations at the cut-off, with the point of the log they stand on.
    public func organisations(_ query: I3Query, filter: I3RowFilter = I3RowFilter(), cutOff: CutOff = .head)
        async throws -> (asOf: AsOf, rows: [I3OrganisationRow])
    {
        var asOf: AsOf?
        var rows: [I3OrganisationRow] = []
        try await organisations(query, filter: filter, cutOff: cutOff, header: { asOf = $0 }, row: { rows.append($0) })
        return (asOf ?? AsOf(position: 0, recordedAt: nil, hash: ""), rows)
    }

    /// The read-model position that answers `cutOff`: the checkpoint a background service
    /// keeps up where it covers the cut-off, otherwise the log sealed and the projections
    /// caught up first.
    public func readModelCut(_ cutOff: CutOff) async throws -> Int64 {
        let known = knownHead.value
        let checkpoint: Int64
        if let known { checkpoint = known } else { checkpoint = try await runner.checkpoint(of: "i3") }
        switch cutOff {
        case .head where known != nil: return checkpoint
        case .position(let position) where position <= checkpoint: return position
        case .time(let time):
            let position = try await store.position(atOrBefore: time)
            if position <= checkpoint { return position }
        default: break
        }
        let head = try await runner.sealAndCatchUp()
        return try await resolveCutOff(cutOff, head: head.position, store: store)
    }

    /// docs/domain.md §8 over the read model: the first qualifying access of each counted
    /// organisation (the same walk as `figures`), its channels, the row filters.
    /// - Parameter only: when given, only these organisations are considered.
    static func organisations(
        _ query: I3Query, filter: I3RowFilter, cutoff: Int64, schema: String, only: [String]? = nil,
        on connection: PostgresConnection, row: (I3OrganisationRow) async throws -> Void
    ) async throws {
        try await connection.transaction { connection in
            // Enough memory for the walk to stay off disk; no JIT (compiling costs more than it saves).
            try await connection.query("SET LOCAL work_mem = '64MB'")
            try await connection.query("SET LOCAL jit = off")
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        DECLARE counted NO SCROLL CURSOR FOR
                        WITH q AS MATERIALIZED (
                            SELECT organisation_id, channel, access_date, position, call_id, grant_id, sub_grant_id,
                                   name, leadership_gender, region_code, settlement, registration_status
                            FROM \(schema).accesses
                            WHERE position <= $1 AND (cancelled_position IS NULL OR cancelled_position > $1)
                              AND access_date BETWEEN $2::date AND $3::date AND country = 'KZ' AND small
                              AND ($4::text IS NULL OR programme = $4) AND ($5::text IS NULL OR call_id = $5)
                              AND ($11::text[] IS NULL OR organisation_id = ANY($11::text[]))
                            ORDER BY organisation_id, access_date, position
                        ), firsts AS (
                            SELECT DISTINCT ON (organisation_id) *
                            FROM q ORDER BY organisation_id, access_date, position
                        ), channels AS (
                            SELECT organisation_id, bool_or(channel = 'consortium') AS consortium,
                                   bool_or(channel = 'subGrant') AS sub_grant
                            FROM q GROUP BY organisation_id
                        )
                        SELECT f.organisation_id, f.name, f.region_code, f.leadership_gender, f.settlement,
                               f.registration_status, c.consortium, c.sub_grant, f.channel, f.access_date::text,
                               f.position, f.call_id, f.grant_id, f.sub_grant_id
                        FROM firsts f JOIN channels c USING (organisation_id)
                        WHERE f.region_code IS NOT NULL AND f.settlement IS NOT NULL
                          AND ($6::text IS NULL OR f.region_code = $6::text)
                          AND ($7::text IS NULL OR f.leadership_gender = $7::text)
                          AND ($8::text IS NULL OR f.settlement = $8::text)
                          AND ($9::text IS NULL OR f.registration_status = $9::text)
                          AND ($10::text IS NULL OR ($10::text = 'consortium' AND c.consortium)
                               OR ($10::text = 'subGrant' AND c.sub_grant))
                        ORDER BY f.region_code COLLATE "C", f.leadership_gender COLLATE "C",
                                 f.settlement COLLATE "C", f.registration_status COLLATE "C",
                                 f.organisation_id COLLATE "C"
                        """,
                    bindings: [
                        String(cutoff), query.from.description, query.to.description, query.programme, query.callId,
                        filter.regionCode, filter.leadershipGender?.rawValue, filter.settlement?.rawValue,
                        filter.registrationStatus?.rawValue, filter.channel?.rawValue, only.map { textArray($0) },
                    ]))
            while true {
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "FETCH \(organisationBatch) FROM counted"))
                for r in rows { try await row(try decodeRow(r)) }
                if rows.count < organisationBatch { break }
            }
        }
    }

    private static func decodeRow(_ r: PostgresRow) throws -> I3OrganisationRow {
        guard let gender = LeadershipGender(rawValue: try r.decode(String.self, 3)),
            let settlement = Settlement(rawValue: try r.decode(String.self, 4)),
            let status = RegistrationStatus(rawValue: try r.decode(String.self, 5)),
            let channel = AccessChannel(rawValue: try r.decode(String.self, 8)),
            let date = BusinessDate(try r.decode(String.self, 9))
        else { throw PostgresError(kind: .decoding, message: "unexpected I.3 organisation row") }
        var channels: [AccessChannel] = []
        if try r.decode(Bool.self, 6) { channels.append(.consortium) }
        if try r.decode(Bool.self, 7) { channels.append(.subGrant) }
        return I3OrganisationRow(
            organisationId: try r.decode(String.self, 0), name: r.text(1) ?? "",
            place: I3Place(
                regionCode: try r.decode(String.self, 2), leadershipGender: gender, settlement: settlement,
                registrationStatus: status),
            channels: channels,
            firstAccess: I3FirstAccess(
                channel: channel, businessDate: date, position: try r.decode(Int64.self, 10),
                callId: try r.decode(String.self, 11), grantId: r.text(12) ?? "",
                subGrantId: channel == .subGrant ? r.text(13) : nil))
    }
}

/// The formats of the reports: the figure, the organisation list, sign-offs, progress.
public enum ReportFormat: String, Sendable, CaseIterable {
    case json, csv, table
}

/// Renders the organisation list piece by piece, so that it can be written as it streams:
/// `header` once, `row` per organisation, `footer` once.
public struct I3OrganisationList: Sendable {
    public var query: I3Query
    public var filter: I3RowFilter
    public var format: ReportFormat
    /// Start CSV with a UTF-8 byte-order mark, for spreadsheet programs that otherwise
    /// guess a legacy encoding and garble Cyrillic and Kazakh names.
    public var byteOrderMark: Bool

    public init(query: I3Query, filter: I3RowFilter, format: ReportFormat, byteOrderMark: Bool = false) {
        self.query = query
        self.filter = filter
        self.format = format
        self.byteOrderMark = byteOrderMark
    }

    /// The JSON around the rows (docs/domain.md §8): everything but `organisations`.
    struct Envelope: Encodable {
        struct Period: Encodable {
            var from: BusinessDate
            var to: BusinessDate
        }
        /// Every filter is listed, null when not set.
        struct Filters: Encodable {
            @NullEncoded var programme: String?
            @NullEncoded var callId: String?
            @NullEncoded var regionCode: String?
            @NullEncoded var leadershipGender: LeadershipGender?
            @NullEncoded var settlement: Settlement?
            @NullEncoded var registrationStatus: RegistrationStatus?
            @NullEncoded var channel: AccessChannel?
        }
        var indicator = "I.3"
        var period: Period
        var filters: Filters
        var asOf: AsOf
    }

    static let csvColumns = [
        "organisationId", "name", "regionCode", "region", "leadershipGender", "settlement", "registrationStatus",
        "channels", "firstAccessChannel", "firstAccessDate", "firstAccessPosition", "callId", "grantId", "subGrantId",
    ]

    public func header(asOf: AsOf) -> String {
        switch format {
        case .json:
            let envelope = Envelope(
                period: .init(from: query.from, to: query.to),
                filters: .init(
                    programme: query.programme, callId: query.callId, regionCode: filter.regionCode,
                    leadershipGender: filter.leadershipGender, settlement: filter.settlement,
                    registrationStatus: filter.registrationStatus, channel: filter.channel),
                asOf: asOf)
            // The envelope's object, left open for the streamed array.
            let text = ResponseJSON.text(envelope)
            return String(text.dropLast()) + ",\"organisations\":["
        case .csv:
            return CSV.document(
                Self.csvColumns.map(CSV.field).joined(separator: ",") + "\n", byteOrderMark: byteOrderMark)
        case .table:
            return
                "Organisations counted in I.3, period \(query.from) to \(query.to)"
                + (query.programme.map { ", programme \($0)" } ?? "") + (query.callId.map { ", call \($0)" } ?? "")
                + ", as of position \(asOf.position)"
                + (asOf.treeSize.map { " (tree \($0) leaves, root \(asOf.rootHash ?? ""))" } ?? "") + "\n"
        }
    }

    /// One row; `index` counts from 0 (JSON puts commas between rows).
    public func row(_ row: I3OrganisationRow, index: Int) -> String {
        let first = row.firstAccess
        switch format {
        case .json:
            let json = ResponseJSON.text(row)
            return (index == 0 ? "" : ",") + json
        case .csv:
            return [
                row.organisationId, row.name, row.place.regionCode, Region.name(of: row.place.regionCode) ?? "",
                row.place.leadershipGender.rawValue, row.place.settlement.rawValue,
                row.place.registrationStatus.rawValue, row.channels.map(\.rawValue).joined(separator: " "),
                first.channel.rawValue, first.businessDate.description, String(first.position), first.callId,
                first.grantId, first.subGrantId ?? "",
            ].map(CSV.field).joined(separator: ",") + "\n"
        case .table:
            let via = first.subGrantId.map { "sub-grant \($0) of grant \(first.grantId)" } ?? "grant \(first.grantId)"
            return
                "\(row.organisationId)  \(row.name)  \(row.place.regionCode) \(row.place.leadershipGender.rawValue) "
                + "\(row.place.settlement.rawValue) \(row.place.registrationStatus.rawValue)  "
                + "[\(row.channels.map(\.rawValue).joined(separator: ", "))]  first: \(via), "
                + "\(first.businessDate), position \(first.position)\n"
        }
    }

    /// Consecutive rows starting at `index`: for JSON one encoding of the whole batch,
    /// otherwise row by row.
    public func rows(_ rows: ArraySlice<I3OrganisationRow>, index: Int) -> String {
        guard format == .json, !rows.isEmpty else {
            return rows.enumerated().map { row($0.element, index: index + $0.offset) }.joined()
        }
        guard let data = try? CanonicalJSON.bytes(Array(rows)) else { return "" }
        // The array's elements without its brackets, continuing the list.
        let elements = String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        return (index == 0 ? "" : ",") + elements
    }

    /// All rows, rendered in batches of 500 on every core, in order.
    public func render(_ rows: [I3OrganisationRow]) async -> [String] {
        let batches = stride(from: 0, to: rows.count, by: 500).map { $0..<min($0 + 500, rows.count) }
        return await withTaskGroup(of: (Int, String).self) { group in
            for (number, range) in batches.enumerated() {
                group.addTask { (number, self.rows(rows[range], index: range.lowerBound)) }
            }
            var texts = [String](repeating: "", count: batches.count)
            for await (number, text) in group { texts[number] = text }
            return texts
        }
    }

    public func footer(count: Int) -> String {
        switch format {
        case .json: return "]}\n"
        case .csv: return ""
        case .table: return "\(count) organisation\(count == 1 ? "" : "s")\n"
        }
    }

    /// The content type of the HTTP answer.
    public var contentType: String {
        switch format {
        case .json: return "application/json; charset=utf-8"
        case .csv: return "text/csv; charset=utf-8"
        case .table: return "text/plain; charset=utf-8"
        }
    }
}
