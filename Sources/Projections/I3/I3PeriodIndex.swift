/// The accesses of the in-memory I.3 index as they stand at one point of the log, ordered by
/// business date, each with the date of the access before it: so that I.3 for any period
/// at that point is one sequential pass over the period's accesses, with no per-organisation
/// state.
///
/// docs/domain.md §4 counts an organisation by its first qualifying access: the earliest
/// business date in the period, then the lowest position. Order the live accesses by
/// (date, position); an access `a` of organisation `o` is the first of the period
/// `from...to` exactly when `from <= a.date <= to` and the access of `o` just before it in that
/// order has a date before `from` (or there is none). The same holds within a programme or a
/// call (the access before it *in that programme or call*), and within a channel (for
/// `byChannel`). So each access keeps six "previous dates", and the report counts, over the
/// period's contiguous slice, the accesses whose previous date is before `from`.
///
/// It stands for one point only: the accesses loaded and the cancellations applied, all at
/// or before `builtAt`. A report at a cut-off before any of them takes the full scan.
struct I3PeriodIndex: Sendable {
    /// The `loadedUpTo` of the index it was built from.
    let builtAt: Int64
    /// The last position of an access or a cancellation it reflects: cut-offs at or after
    /// it see exactly these accesses.
    let latestChange: Int64
    private var dates: [Int32] = []
    private var cells: [Int32] = []
    private var programmes: [Int32] = []
    private var calls: [Int32] = []
    /// The channel as a bit: 1 consortium, 2 sub-grant.
    private var bits: [UInt8] = []
    /// The date of the organisation's access just before, in the scope; `Int32.min` for none.
    private var previous = Previous()
    /// Without filters: the accesses by cell and by channel, each with its previous date in a
    /// wavelet matrix, so a period costs a few binary searches per cell, not a pass.
    private var byCell: GroupedCounts
    private var byChannel: GroupedCounts

    private struct Previous: Sendable {
        var any: [Int32] = []
        var inProgramme: [Int32] = []
        var inCall: [Int32] = []
        var anyInChannel: [Int32] = []
        var inProgrammeInChannel: [Int32] = []
        var inCallInChannel: [Int32] = []
    }

    /// The accesses' columns in position order, as the memory index holds them; an access
    /// whose `cancelled` position is not `Int64.max` was cancelled by `builtAt`.
    init(
        builtAt: Int64, positions: [Int64], cancelled: [Int64], dates: [Int32], organisations: [Int32],
        programmes: [Int32], calls: [Int32], bits: [UInt8], cells: [Int32]
    ) {
        self.builtAt = builtAt
        self.latestChange = max(positions.last ?? 0, cancelled.lazy.filter { $0 != .max }.max() ?? 0)
        // Live accesses by (date, position): position order is index order.
        var order = (0..<dates.count).filter { cancelled[$0] == .max }
        order.sort { dates[$0] != dates[$1] ? dates[$0] < dates[$1] : $0 < $1 }
        self.dates.reserveCapacity(order.count)
        var lastByOrganisation = [Int32: Int32]()
        var last = [Scope: Int32]()
        for index in order {
            let date = dates[index]
            let org = organisations[index]
            let bit = Int32(bits[index])
            func swap(_ scope: Scope) -> Int32 {
                let before = last[scope] ?? .min
                last[scope] = date
                return before
            }
            previous.any.append(lastByOrganisation[org] ?? .min)
            lastByOrganisation[org] = date
            previous.inProgramme.append(swap(Scope(org, 0, programmes[index])))
            previous.inCall.append(swap(Scope(org, 1, calls[index])))
            previous.anyInChannel.append(swap(Scope(org, 2 + bit, 0)))
            previous.inProgrammeInChannel.append(swap(Scope(org, 4 + bit, programmes[index])))
            previous.inCallInChannel.append(swap(Scope(org, 6 + bit, calls[index])))
            self.dates.append(date)
            self.cells.append(cells[index])
            self.programmes.append(programmes[index])
            self.calls.append(calls[index])
            self.bits.append(bits[index])
        }
        byCell = GroupedCounts(
            groups: Int(self.cells.max() ?? -1) + 1, keys: self.cells, dates: self.dates, previous: previous.any)
        byChannel = GroupedCounts(
            groups: 3, keys: self.bits.map(Int32.init), dates: self.dates, previous: previous.anyInChannel)
    }

    /// An organisation within a scope: a kind (any, programme, call; each with or without
    /// a channel) and the programme or call.
    private struct Scope: Hashable {
        let organisation: Int32
        let kind: Int32
        let value: Int32
        init(_ organisation: Int32, _ kind: Int32, _ value: Int32) {
            self.organisation = organisation
            self.kind = kind
            self.value = value
        }
    }

    /// The first index whose date is at least `date` (dates ascend).
    private func lowerBound(_ date: Int32) -> Int {
        var low = 0
        var high = dates.count
        while low < high {
            let middle = (low + high) / 2
            if dates[middle] < date { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Per cell, and per channel bit (index 1 consortium, 2 sub-grant), the organisations
    /// whose first qualifying access in `from...to` (day numbers) falls there. `programme` and
    /// `call` are interned ids (-1: one the index has never seen); nil: no filter.
    func counts(from: Int32, to: Int32, programme: Int32?, call: Int32?, cellCount: Int) -> (
        cells: [Int], channels: [Int]
    ) {
        var cellCounts = [Int](repeating: 0, count: cellCount)
        var channelCounts = [Int](repeating: 0, count: 3)
        guard from <= to else { return (cellCounts, channelCounts) }
        if programme == nil && call == nil {
            for (cell, count) in byCell.counts(from: from, to: to).enumerated() where cell < cellCount {
                cellCounts[cell] = count
            }
            return (cellCounts, byChannel.counts(from: from, to: to))
        }
        let range = lowerBound(from)..<lowerBound(to == .max ? to : to + 1)
        // The scope the filters ask for: a call within a programme is the call's scope.
        let first: [Int32]
        let firstInChannel: [Int32]
        if call != nil {
            (first, firstInChannel) = (previous.inCall, previous.inCallInChannel)
        } else if programme != nil {
            (first, firstInChannel) = (previous.inProgramme, previous.inProgrammeInChannel)
        } else {
            (first, firstInChannel) = (previous.any, previous.anyInChannel)
        }
        for index in range {
            if let call, calls[index] != call { continue }
            if let programme, programmes[index] != programme { continue }
            if first[index] < from { cellCounts[Int(cells[index])] += 1 }
            if firstInChannel[index] < from { channelCounts[Int(bits[index])] += 1 }
        }
        return (cellCounts, channelCounts)
    }
}

/// Accesses grouped by a key (a cell, a channel), by date within each group, each with the
/// date of the access before it: per group, how many accesses of a period have a previous
/// date before the period's start.
struct GroupedCounts: Sendable {
    /// Where each group starts in `dates`; one more entry than groups.
    private var starts: [Int]
    /// Group by group, dates ascending.
    private var dates: [Int32]
    /// The previous dates in the same order, as 0 for none or 1 + days after `firstDay`.
    private var previous: WaveletMatrix
    private var firstDay: Int64

    /// `keys`, `dates` and `previous` are per access, in date order; keys are in `0..<groups`.
    init(groups: Int, keys: [Int32], dates: [Int32], previous: [Int32]) {
        var starts = [Int](repeating: 0, count: max(groups, 0) + 1)
        for key in keys { starts[Int(key) + 1] += 1 }
        for group in 0..<max(groups, 0) { starts[group + 1] += starts[group] }
        var next = starts
        var order = [Int](repeating: 0, count: keys.count)
        // A stable counting sort: within a group, date order stays.
        for (index, key) in keys.enumerated() {
            order[next[Int(key)]] = index
            next[Int(key)] += 1
        }
        // Days are counted from the earliest date or previous date (in the index a previous
        // date is always an access's date, but the counts hold for any input).
        let known = previous.lazy.filter { $0 != .min }
        let firstDay = Int64(min(dates.first ?? 0, known.min() ?? .max))
        let lastDay = Int64(max(dates.last ?? 0, known.max() ?? .min))
        let span = UInt32(max(lastDay - firstDay, 0)) + 1
        self.starts = starts
        self.dates = order.map { dates[$0] }
        self.firstDay = firstDay
        self.previous = WaveletMatrix(
            order.map { previous[$0] == .min ? 0 : UInt32(Int64(previous[$0]) - firstDay) + 1 },
            width: max(1, UInt32.bitWidth - span.leadingZeroBitCount))
    }

    /// Per group, the accesses dated in `from...to` whose previous date is before `from`.
    func counts(from: Int32, to: Int32) -> [Int] {
        // Values below the bound: none (0), or a previous date before `from`.
        let bound = UInt64(max(1, Int64(from) - firstDay + 1))
        return (0..<starts.count - 1).map { group in
            let range = starts[group]..<starts[group + 1]
            let low = lowerBound(from, in: range)
            let high = to == .max ? range.upperBound : lowerBound(to + 1, in: range)
            return previous.count(in: low..<high, below: bound)
        }
    }

    private func lowerBound(_ date: Int32, in range: Range<Int>) -> Int {
        var low = range.lowerBound
        var high = range.upperBound
        while low < high {
            let middle = (low + high) / 2
            if dates[middle] < date { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
