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
/// up to `loadedUpTo`. Thread-safe: a refresh writes under a lock; a scan works on a
/// copy-on-write snapshot taken under it, so scans run in parallel and never block a refresh.
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
        /// The organisation's name in the snapshot, the grant, the sub-grant (-1: none).
        var name: Int32
        var grant: Int32
        var subGrantID: Int32
    }

    /// Strings stored once, by number.
    private struct Interned {
        var ids: [String: Int32] = [:]
        var values: [String] = []

        mutating func id(_ value: String) -> Int32 {
            if let id = ids[value] { return id }
            let id = Int32(values.count)
            ids[value] = id
            values.append(value)
            return id
        }

        subscript(id: Int32) -> String { values[Int(id)] }
    }

    /// The first qualifying access of each organisation (an index into `accesses`, -1 when
    /// none) and its channels (bit 1 consortium, bit 2 sub-grant), for one query.
    private struct Firsts {
        var access: [Int32]
        /// The cell of that access (-1 when none).
        var cell: [Int32]
        var channels: [UInt8]
    }

    /// The scanned fields of the accesses, a column each.
    private struct ScanColumns {
        var positions: [Int64] = []
        var cancelled: [Int64] = []
        var dates: [Int32] = []
        var organisations: [Int32] = []
        var calls: [Int32] = []
        var programmes: [Int32] = []
        /// The channel as a bit: 1 consortium, 2 sub-grant.
        var bits: [UInt8] = []
        var cells: [Int32] = []

        mutating func append(_ access: Access) {
            positions.append(access.position)
            cancelled.append(access.cancelled)
            dates.append(access.date)
            organisations.append(access.organisation)
            calls.append(access.call)
            programmes.append(access.programme)
            bits.append(access.subGrant ? 2 : 1)
            cells.append(access.cell)
        }

        /// How many accesses have a position at or before `cutoff` (positions ascend).
        func prefix(upTo cutoff: Int64) -> Int {
            var low = 0
            var high = positions.count
            while low < high {
                let middle = (low + high) / 2
                if positions[middle] <= cutoff { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// The columns as buffers, for a scan without bounds checks (indices below `count`).
        func withColumns<T>(
            _ body: (
                UnsafeBufferPointer<Int64>, UnsafeBufferPointer<Int64>, UnsafeBufferPointer<Int32>,
                UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int32>, UnsafeBufferPointer<Int32>,
                UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Int32>
            ) -> T
        ) -> T {
            positions.withUnsafeBufferPointer { p in
                cancelled.withUnsafeBufferPointer { c in
                    dates.withUnsafeBufferPointer { d in
                        organisations.withUnsafeBufferPointer { o in
                            calls.withUnsafeBufferPointer { k in
                                programmes.withUnsafeBufferPointer { g in
                                    bits.withUnsafeBufferPointer { b in
                                        cells.withUnsafeBufferPointer { e in body(p, c, d, o, k, g, b, e) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Everything the index holds, behind one lock.
    private struct Storage {
        var accesses: [Access] = []
        var organisations = Interned()
        var calls = Interned()
        var programmes = Interned()
        var names = Interned()
        var grants = Interned()
        var subGrants = Interned()
        /// Each business date seen, by its day number.
        var dates: [Int32: BusinessDate] = [:]
        var cells: [I3Cell] = []
        var cellIndex: [I3Cell: Int32] = [:]
        var accessBySubGrant: [String: Int] = [:]
        var rules: [(position: Int64, rules: ReportingRules)] = []
        var loadedUpTo: Int64 = 0
        /// What the scan of `firsts` reads, a column each in the order of `accesses`: it
        /// streams 29 bytes per access instead of whole rows.
        var scan = ScanColumns()

        /// Appends the rows projected since `from` and applies the cancellations since;
        /// false when another refresh applied the window first.
        mutating func load(
            rows: PostgresRows, cancellations: PostgresRows, ruleRows: PostgresRows, erasures: PostgresRows,
            from: Int64, checkpoint: Int64
        ) throws -> Bool {
            guard loadedUpTo == from else { return false }
            // Names of organisations erased in the window (docs/domain.md §15) go at once.
            let erased = Set(try erasures.map { organisations.id(try $0.decode(String.self, 0)) })
            if !erased.isEmpty {
                let name = names.id(PersonalData.erased)
                for index in accesses.indices where erased.contains(accesses[index].organisation) {
                    accesses[index].name = name
                }
            }
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
                dates[I3MemoryIndex.days(date)] = date
                let subGrantID = row.text(6)
                if let subGrantID { accessBySubGrant[subGrantID] = accesses.count }
                let access = Access(
                    organisation: organisations.id(try row.decode(String.self, 1)),
                    subGrant: try row.decode(String.self, 2) == AccessChannel.subGrant.rawValue,
                    date: I3MemoryIndex.days(date), position: try row.decode(Int64.self, 0),
                    cancelled: try row.decodeIfPresent(Int64.self, "cancelled_position") ?? Int64.max,
                    call: calls.id(try row.decode(String.self, 4)),
                    programme: programmes.id(try row.decode(String.self, 5)), cell: cellID,
                    name: names.id(row.text(12) ?? ""), grant: grants.id(row.text(13) ?? ""),
                    subGrantID: subGrantID.map { subGrants.id($0) } ?? -1)
                accesses.append(access)
                scan.append(access)
            }
            for row in cancellations {
                if let index = accessBySubGrant[try row.decode(String.self, 0)] {
                    accesses[index].cancelled = try row.decode(Int64.self, 1)
                    scan.cancelled[index] = accesses[index].cancelled
                }
            }
            rules = try ruleRows.map {
                (
                    try $0.decode(Int64.self, 0),
                    ReportingRules(
                        smallMaxAnnualBudgetEur: Money(cents: Int128(try $0.decode(Int64.self, 1))),
                        smallMaxStaff: try $0.decode(Int64.self, 2))
                )
            }
            loadedUpTo = checkpoint
            return true
        }

        /// docs/domain.md §4 steps 3-4 over the index: one pass over the accesses up to the cut-off.
        func firsts(_ query: I3Query, cutoff: Int64) -> Firsts {
            let from = I3MemoryIndex.days(query.from)
            let to = I3MemoryIndex.days(query.to)
            let call: Int32? = query.callId.map { calls.ids[$0] ?? -1 }
            let programme: Int32? = query.programme.map { programmes.ids[$0] ?? -1 }
            let count = organisations.values.count
            var firstDate = [Int32](repeating: .max, count: count)
            var access = [Int32](repeating: -1, count: count)
            var firstCell = [Int32](repeating: -1, count: count)
            var channels = [UInt8](repeating: 0, count: count)
            // Rows are in position order: those up to the cut-off are a prefix.
            let end = scan.prefix(upTo: cutoff)
            scan.withColumns { _, cancelled, dates, organisations, calls, programmes, bits, cells in
                firstDate.withUnsafeMutableBufferPointer { firstDate in
                    access.withUnsafeMutableBufferPointer { access in
                        firstCell.withUnsafeMutableBufferPointer { firstCell in
                            channels.withUnsafeMutableBufferPointer { channels in
                                for index in 0..<end {
                                    let date = dates[index]
                                    guard date >= from, date <= to, cancelled[index] > cutoff,
                                        call == nil || calls[index] == call,
                                        programme == nil || programmes[index] == programme
                                    else { continue }
                                    let org = Int(organisations[index])
                                    channels[org] |= bits[index]
                                    // In position order, an equal date later is never the first.
                                    if date < firstDate[org] {
                                        firstDate[org] = date
                                        access[org] = Int32(index)
                                        firstCell[org] = cells[index]
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return Firsts(access: access, cell: firstCell, channels: channels)
        }

        func figures(_ query: I3Query, cutoff: Int64) -> I3Figures {
            let firsts = firsts(query, cutoff: cutoff)
            var cellCounts = [Int](repeating: 0, count: cells.count)
            var consortium = 0
            var subGrant = 0
            for (cell, channels) in zip(firsts.cell, firsts.channels) where cell >= 0 {
                cellCounts[Int(cell)] += 1
                consortium += Int(channels & 1)
                subGrant += Int(channels >> 1 & 1)
            }
            return figures(cellCounts: cellCounts, consortium: consortium, subGrant: subGrant, cutoff: cutoff)
        }

        /// The same figures from a period index that stands for `cutoff`.
        func figures(_ query: I3Query, cutoff: Int64, using index: I3PeriodIndex) -> I3Figures {
            let counts = index.counts(
                from: I3MemoryIndex.days(query.from), to: I3MemoryIndex.days(query.to),
                programme: query.programme.map { programmes.ids[$0] ?? -1 },
                call: query.callId.map { calls.ids[$0] ?? -1 }, cellCount: cells.count)
            return figures(
                cellCounts: counts.cells, consortium: counts.channels[1], subGrant: counts.channels[2], cutoff: cutoff)
        }

        private func figures(cellCounts: [Int], consortium: Int, subGrant: Int, cutoff: Int64) -> I3Figures {
            let result = cells.enumerated().compactMap { index, cell -> I3Cell? in
                guard cellCounts[index] > 0 else { return nil }
                var counted = cell
                counted.count = cellCounts[index]
                return counted
            }
            let inForce = rules.last { $0.position <= cutoff }?.rules ?? .initial
            return I3Figures(rules: inForce, byChannel: [.consortium: consortium, .subGrant: subGrant], cells: result)
        }

        /// The period index of the accesses as they stand.
        func periodIndex() -> I3PeriodIndex {
            I3PeriodIndex(
                builtAt: loadedUpTo, positions: scan.positions, cancelled: scan.cancelled, dates: scan.dates,
                organisations: scan.organisations, programmes: scan.programmes, calls: scan.calls, bits: scan.bits,
                cells: scan.cells)
        }

        /// docs/domain.md §8 over the index: the counted organisations the filter admits, in
        /// report order.
        func organisations(_ query: I3Query, filter: I3RowFilter, cutoff: Int64, only: [String]?)
            -> [I3OrganisationRow]
        {
            let firsts = firsts(query, cutoff: cutoff)
            let considered = only.map { ids in Set(ids.compactMap { organisations.ids[$0] }) }
            // The filter on the cells and channels first: only admitted rows are built.
            let admittedCells = cells.map { cell in
                (filter.regionCode.map { $0 == cell.regionCode } ?? true)
                    && (filter.leadershipGender.map { $0 == cell.leadershipGender } ?? true)
                    && (filter.settlement.map { $0 == cell.settlement } ?? true)
                    && (filter.registrationStatus.map { $0 == cell.registrationStatus } ?? true)
            }
            let channelBit: UInt8? = filter.channel.map { $0 == .consortium ? 1 : 2 }
            var rows: [I3OrganisationRow] = []
            var rowCells: [Int] = []
            for org in 0..<organisations.values.count where firsts.access[org] >= 0 {
                if let considered, !considered.contains(Int32(org)) { continue }
                let access = accesses[Int(firsts.access[org])]
                guard admittedCells[Int(access.cell)], channelBit.map({ firsts.channels[org] & $0 != 0 }) ?? true
                else { continue }
                let cell = cells[Int(access.cell)]
                rowCells.append(Int(access.cell))
                rows.append(
                    I3OrganisationRow(
                        organisationId: organisations[Int32(org)], name: names[access.name],
                        place: I3Place(
                            regionCode: cell.regionCode, leadershipGender: cell.leadershipGender,
                            settlement: cell.settlement, registrationStatus: cell.registrationStatus),
                        channels: (firsts.channels[org] & 1 != 0 ? [.consortium] : [])
                            + (firsts.channels[org] & 2 != 0 ? [.subGrant] : []),
                        firstAccess: I3FirstAccess(
                            channel: access.subGrant ? .subGrant : .consortium,
                            businessDate: dates[access.date] ?? query.from, position: access.position,
                            callId: calls[access.call], grantId: grants[access.grant],
                            subGrantId: access.subGrantID >= 0 ? subGrants[access.subGrantID] : nil)))
            }
            return ordered(rows, cells: rowCells)
        }

        /// `rows` in the order of `I3OrganisationRow.ordered`, each row's place given by its
        /// cell: the cells' places are ranked once, then the rows are ordered by rank and
        /// organisation id through their indices. Sorting the rows themselves moved every
        /// row (its texts retained and released) and compared places field by field at each
        /// step, half of a large drill-down's work.
        private func ordered(_ rows: [I3OrganisationRow], cells rowCells: [Int]) -> [I3OrganisationRow] {
            let places = cells.map {
                I3Place(
                    regionCode: $0.regionCode, leadershipGender: $0.leadershipGender, settlement: $0.settlement,
                    registrationStatus: $0.registrationStatus)
            }
            var rankOf: [I3Place: Int] = [:]
            for (rank, place) in Set(places).sorted().enumerated() { rankOf[place] = rank }
            let ranks = rowCells.map { rankOf[places[$0]] ?? 0 }
            let order = rows.indices.sorted { a, b in
                ranks[a] != ranks[b] ? ranks[a] < ranks[b] : rows[a].organisationId < rows[b].organisationId
            }
            return order.map { rows[$0] }
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
                           cancelled_position, leadership_gender, region_code, settlement, registration_status,
                           name, grant_id
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
        let erasures = try await connection.query(
            """
            SELECT data->>'organisationId' FROM events
            WHERE type = 'PersonalDataErased' AND position > \(from) AND position <= \(checkpoint)
            """)
        return try storage.withLockedValue { storage in
            try storage.load(
                rows: rows, cancellations: cancellations, ruleRows: ruleRows, erasures: erasures, from: from,
                checkpoint: checkpoint)
        }
    }

    /// docs/domain.md §4 steps 3-5 over the index, for a cut-off ≤ `loadedUpTo`: from the
    /// period index when one stands for the cut-off (at the head, once built), else by the
    /// full scan. A head that moved starts a rebuild of the period index in the background,
    /// at most one at a time and one a second, so writes never wait on it.
    public func figures(_ query: I3Query, cutoff: Int64) -> I3Figures {
        let snapshot = snapshot
        if let index = periodIndex(standingFor: cutoff, in: snapshot, build: .inBackground) {
            return snapshot.figures(query, cutoff: cutoff, using: index)
        }
        return snapshot.figures(query, cutoff: cutoff)
    }

    /// `figures(_:cutoff:)` by the full scan only.
    public func figuresByScan(_ query: I3Query, cutoff: Int64) -> I3Figures {
        snapshot.figures(query, cutoff: cutoff)
    }

    /// `figures(_:cutoff:)` by the period index only, built now if it is behind; nil when the
    /// cut-off is before the latest access or cancellation loaded.
    public func figuresByPeriodIndex(_ query: I3Query, cutoff: Int64) -> I3Figures? {
        let snapshot = snapshot
        return periodIndex(standingFor: cutoff, in: snapshot, build: .now).map {
            snapshot.figures(query, cutoff: cutoff, using: $0)
        }
    }

    /// Builds the period index of the accesses as loaded now, on this thread.
    public func buildPeriodIndex() {
        install(snapshot.periodIndex())
    }

    private enum Build { case now, inBackground }

    private struct PeriodState {
        var index: I3PeriodIndex?
        var building = false
        var lastBuild = ContinuousClock.now - .seconds(1)
    }

    private let period = NIOLockedValueBox(PeriodState())

    /// The period index if it answers for `cutoff` over `snapshot`: it reflects every access
    /// and cancellation at or before the cut-off, and none after it.
    private func periodIndex(standingFor cutoff: Int64, in snapshot: Storage, build: Build) -> I3PeriodIndex? {
        func answers(_ index: I3PeriodIndex) -> Bool {
            index.latestChange <= cutoff && (cutoff <= index.builtAt || index.builtAt == snapshot.loadedUpTo)
        }
        let current = period.withLockedValue { $0.index }
        if let current, answers(current) { return current }
        // An index of this very state that does not answer: the cut-off is in the past.
        if let current, current.builtAt >= snapshot.loadedUpTo { return nil }
        switch build {
        case .now:
            let index = snapshot.periodIndex()
            install(index)
            return answers(index) ? index : nil
        case .inBackground:
            let start = period.withLockedValue { state in
                guard !state.building, ContinuousClock.now - state.lastBuild >= .seconds(1) else { return false }
                state.building = true
                return true
            }
            if start {
                Task.detached(priority: .background) { [self] in
                    install(snapshot.periodIndex())
                }
            }
            return nil
        }
    }

    private func install(_ index: I3PeriodIndex) {
        period.withLockedValue { state in
            if (state.index?.builtAt ?? -1) < index.builtAt { state.index = index }
            state.building = false
            state.lastBuild = .now
        }
    }

    /// The storage as it stands: a copy that shares its arrays until the next refresh writes,
    /// so that scans run outside the lock and in parallel.
    private var snapshot: Storage { storage.withLockedValue { $0 } }

    /// docs/domain.md §8 over the index, for a cut-off ≤ `loadedUpTo`; only the organisations
    /// `only` names, when given.
    public func organisations(_ query: I3Query, filter: I3RowFilter, cutoff: Int64, only: [String]? = nil)
        -> [I3OrganisationRow]
    {
        snapshot.organisations(query, filter: filter, cutoff: cutoff, only: only)
    }
}
