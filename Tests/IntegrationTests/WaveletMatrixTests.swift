import Testing

@testable import Projections
@testable import TestSupport

@Suite("The wavelet matrix of the I.3 period index")
struct WaveletMatrixTests {
    @Test("counts values below a bound in any range exactly as a scan does", arguments: [1, 3, 5, 11])
    func againstAScan(width: Int) {
        var rng = SeededGenerator(state: UInt64(width) &* 2_654_435_761)
        for size in [0, 1, 2, 63, 64, 65, 127, 128, 129, 1_000] {
            let values = (0..<size).map { _ in UInt32.random(in: 0..<(1 << UInt32(width)), using: &rng) }
            let matrix = WaveletMatrix(values, width: width)
            for _ in 0..<200 {
                let a = Int.random(in: 0...size, using: &rng)
                let b = Int.random(in: 0...size, using: &rng)
                let range = min(a, b)..<max(a, b)
                let bound = UInt64.random(in: 0...(UInt64(1) << UInt64(width)) + 1, using: &rng)
                let expected = values[range].filter { UInt64($0) < bound }.count
                #expect(matrix.count(in: range, below: bound) == expected, "size \(size) \(range) below \(bound)")
            }
        }
    }

    @Test(
        "grouped counts: per group, the period's accesses whose previous date is before it",
        arguments: [UInt64(1), 2, 3, 4, 5])
    func grouped(seed: UInt64) {
        var rng = SeededGenerator(state: seed &* 40_503)
        let n = 2_000
        var dates = (0..<n).map { _ in Int32.random(in: 700_000...700_800, using: &rng) }
        dates.sort()
        let keys = (0..<n).map { _ in Int32.random(in: 0..<7, using: &rng) }
        // A previous date is none or an earlier date (as in the index).
        let previous = dates.map { date in
            Bool.random(using: &rng) ? Int32.min : Int32.random(in: 700_000...date, using: &rng)
        }
        let counts = GroupedCounts(groups: 7, keys: keys, dates: dates, previous: previous)
        for _ in 0..<300 {
            let from = Int32.random(in: 699_990...700_810, using: &rng)
            let to = Int32.random(in: from...700_820, using: &rng)
            var expected = [Int](repeating: 0, count: 7)
            for i in 0..<n where dates[i] >= from && dates[i] <= to && previous[i] < from {
                expected[Int(keys[i])] += 1
            }
            #expect(counts.counts(from: from, to: to) == expected, "\(from)...\(to)")
        }
    }
}
