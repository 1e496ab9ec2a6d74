import Foundation
import GrantDomain
import NIOConcurrencyHelpers
import PostgresClient

/// The qualifying part of `rm_i3.accesses` (KZ, small) held in memory in compact form, so a
/// long-running server answers I.3 for any period, filter and cut-off by one scan of a few
/// megabytes instead of a sort in PostgreSQL.
///
/// It is derived from the read model only: `refresh` appends the rows projected since the
/// last call and applies the cancellations recorded since, so it always equals the table
/// up to `loadedUpTo`. Thread-safe; `figures` runs under its lock (a scan takes milliseconds).
public final class I3MemoryIndex: Sendable {
    private struct Access {
        var organisation: Int32
        var subGrant: Bool
        var date: Int32
        var position: Int64
        var cancelled: Int64
        var call: Int32
        var programme: Int32
        var cell: Int32
    }

    /// Everything the index holds, behind one lock.
    private struct Storage {
        var accesses: [Access] = []
        var organisations: [String: Int32] = [:]
        var calls: [String: Int32] = [:]
        var programmes: [String: Int32] = [:]
        var cells: [I3Cell] = []
        var cellIndex: [I3Cell: Int32] = [:]
        var accessBySubGrant: [String: Int] = [:]
        var rules: [(position: Int64, rules: ReportingRules)] = []
        var loadedUpTo: Int64 = 0

        static func intern(_ key: String, in table: inout [String: Int32]) -> Int32 {
            if let id = table[key] { return id }
            let id = Int32(table.count)
            table[key] = id
            return id
        }

        /// Appends the rows projected since `from` and applies the cancellations since;
        /// false when another refresh applied the window first.
        mutating func load(
            rows: PostgresRows, cancellations: PostgresRows, ruleRows: PostgresRows, from: Int64, checkpoint: Int64
        ) throws -> Bool {
            guard loadedUpTo == from else { return false }
            for row in rows {
                guard let date = BusinessDate(try row.decode(String.self, 3)),
                    let gender = LeadershipGender(rawValue: try row.decode(String.self, 8)),
                    let region = row.text(9), let settlement = row.text(10).flatMap(Settlement.init(rawValue:)),
                    let status = RegistrationStatus(rawValue: try row.decode(String.self, 11))
                else { continue }
                let cell = I3Cell(
                    leadershipGender: gender, regionCode: region, settlement: settlement, registrationStatus: status,
                    count: 0)
                let cellID: Int32
                if let id = cellIndex[cell] {
                    cellID = id
                } else {
                    cellID = Int32(cells.count)
                    cells.append(cell)
                    cellIndex[cell] = cellID
                }
                let subGrantID = row.text(6)
                if let subGrantID { accessBySubGrant[subGrantID] = accesses.count }
                accesses.append(
                    Access(
                        organisation: Storage.intern(try row.decode(String.self, 1), in: &organisations),
                        subGrant: try row.decode(String.self, 2) == AccessChannel.subGrant.rawValue,
                        date: I3MemoryIndex.days(date), position: try row.decode(Int64.self, 0),
                        cancelled: try row.decodeIfPresent(Int64.self, "cancelled_position") ?? Int64.max,
                        call: Storage.intern(try row.decode(String.self, 4), in: &calls),
                        programme: Storage.intern(try row.decode(String.self, 5), in: &programmes), cell: cellID))
            }
            for row in cancellations {
                if let index = accessBySubGrant[try row.decode(String.self, 0)] {
                    accesses[index].cancelled = try row.decode(Int64.self, 1)
                }
            }
            rules = try ruleRows.map {
                (
                    try $0.decode(Int64.self, 0),
                    ReportingRules(
                        smallMaxAnnualBudgetEur: Money(cents: try $0.decode(Int64.self, 1)),
                        smallMaxStaff: try $0.decode(Int64.self, 2))
                )
            }
            loadedUpTo = checkpoint
            return true
        }

        func figures(_ query: I3Query, cutoff: Int64) -> I3Figures {
            let from = I3MemoryIndex.days(query.from)
            let to = I3MemoryIndex.days(query.to)
            let call: Int32? = query.callId.map { calls[$0] ?? -1 }
            let programme: Int32? = query.programme.map { programmes[$0] ?? -1 }
            let count = organisations.count
            var firstDate = [Int32](repeating: .max, count: count)
            var firstPosition = [Int64](repeating: .max, count: count)
            var firstCell = [Int32](repeating: -1, count: count)
            var channels = [UInt8](repeating: 0, count: count)
            for access in accesses {
                if access.position > cutoff { break }  // rows are in position order
                guard access.cancelled > cutoff, access.date >= from, access.date <= to,
                    call == nil || access.call == call, programme == nil || access.programme == programme
                else { continue }
                let org = Int(access.organisation)
                channels[org] |= access.subGrant ? 2 : 1
                if (access.date, access.position) < (firstDate[org], firstPosition[org]) {
                    firstDate[org] = access.date
                    firstPosition[org] = access.position
                    firstCell[org] = access.cell
                }
            }
            var cellCounts = [Int](repeating: 0, count: cells.count)
            var consortium = 0
            var subGrant = 0
            for org in 0..<count where firstCell[org] >= 0 {
                cellCounts[Int(firstCell[org])] += 1
                if channels[org] & 1 != 0 { consortium += 1 }
                if channels[org] & 2 != 0 { subGrant += 1 }
            }
            let result = cells.enumerated().compactMap { index, cell -> I3Cell? in
                guard cellCounts[index] > 0 else { return nil }
                var counted = cell
                counted.count = cellCounts[index]
                return counted
            }
            let inForce = rules.last { $0.position <= cutoff }?.rules ?? .initial
            return I3Figures(rules: inForce, byChannel: [.consortium: consortium, .subGrant: subGrant], cells: result)
        }
    }

    private let storage = NIOLockedValueBox(Storage())
    /// The read-model position the index reflects.
    public var loadedUpTo: Int64 { storage.withLockedValue { $0.loadedUpTo } }

    public init() {}

    static func days(_ date: BusinessDate) -> Int32 {
        // Days since 0000-03-01 in the proleptic Gregorian calendar: order-preserving.
        let y = date.month <= 2 ? date.year - 1 : date.year
        let m = date.month <= 2 ? date.month + 9 : date.month - 3
        return Int32(365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + date.day - 1)
    }

    /// Loads what the read model holds beyond `loadedUpTo`, up to `checkpoint`.
    public func refresh(upTo checkpoint: Int64, schema: String = "rm_i3", on connection: PostgresConnection)
        async throws
    {
        // Two refreshes may race; only one applies a given window, the other tries again.
        while try await refreshOnce(upTo: checkpoint, schema: schema, on: connection) == false {}
    }

    /// Returns false when another refresh applied the window first.
    private func refreshOnce(upTo checkpoint: Int64, schema: String, on connection: PostgresConnection) async throws
        -> Bool
    {
        let from = storage.withLockedValue { $0.loadedUpTo }
        guard checkpoint > from else { return true }
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT position, organisation_id, channel, access_date, call_id, programme, sub_grant_id,
                           cancelled_position, leadership_gender, region_code, settlement, registration_status
                    FROM \(schema).accesses
                    WHERE position > $1 AND position <= $2 AND small AND country = 'KZ'
                    ORDER BY position
                    """, bindings: [String(from), String(checkpoint)]))
        let cancellations = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT sub_grant_id, cancelled_position FROM \(schema).accesses
                    WHERE cancelled_position > $1 AND cancelled_position <= $2 AND position <= $1
                    """, bindings: [String(from), String(checkpoint)]))
        let ruleRows = try await connection.query(
            PostgresQuery(
                unsafeSQL:
                    "SELECT position, small_max_annual_budget_cents, small_max_staff FROM \(schema).rules ORDER BY position"
            ))
        return try storage.withLockedValue { storage in
            try storage.load(
                rows: rows, cancellations: cancellations, ruleRows: ruleRows, from: from, checkpoint: checkpoint)
        }
    }

    /// docs/domain.md §4 steps 3-5 over the index, for a cut-off ≤ `loadedUpTo`.
    public func figures(_ query: I3Query, cutoff: Int64) -> I3Figures {
        storage.withLockedValue { $0.figures(query, cutoff: cutoff) }
    }
}
