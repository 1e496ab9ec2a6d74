/// A static sequence of small unsigned integers that counts, in O(bits) time, how many of
/// the values in a range of positions are below a bound (a wavelet matrix: Claude, Navarro
/// and Ordóñez, "The wavelet matrix", SPIRE 2012).
///
/// The I.3 period index uses it to count, within a cell's accesses of a period, those whose
/// previous access falls before the period, without visiting each access.
struct WaveletMatrix: Sendable {
    /// A bit per position with the number of ones before each 64-bit word.
    struct Bits: Sendable {
        private var words: [UInt64]
        private var onesBefore: [Int32]

        init(_ bits: [Bool]) {
            var words = [UInt64](repeating: 0, count: bits.count / 64 + 1)
            for (index, bit) in bits.enumerated() where bit { words[index >> 6] |= 1 << UInt64(index & 63) }
            var onesBefore = [Int32](repeating: 0, count: words.count)
            var running: Int32 = 0
            for index in words.indices {
                onesBefore[index] = running
                running += Int32(words[index].nonzeroBitCount)
            }
            self.words = words
            self.onesBefore = onesBefore
        }

        /// The zeros among the first `position` bits.
        @inline(__always) func zeros(before position: Int) -> Int {
            let word = position >> 6
            let mask = (UInt64(1) << UInt64(position & 63)) &- 1
            return position - Int(onesBefore[word]) - (words[word] & mask).nonzeroBitCount
        }
    }

    let count: Int
    /// Bits per value; values are below 2^width.
    let width: Int
    /// One level per bit, most significant first.
    private var levels: [Bits] = []
    /// The zeros of each level (where its ones start in the next level's order).
    private var zeroCounts: [Int] = []

    init(_ values: [UInt32], width: Int) {
        precondition(width >= 1 && width <= 32)
        count = values.count
        self.width = width
        var current = values
        for level in 0..<width {
            let shift = UInt32(width - 1 - level)
            let bits = current.map { ($0 >> shift) & 1 == 1 }
            levels.append(Bits(bits))
            var zeros: [UInt32] = []
            var ones: [UInt32] = []
            zeros.reserveCapacity(current.count)
            for value in current {
                if (value >> shift) & 1 == 1 { ones.append(value) } else { zeros.append(value) }
            }
            zeroCounts.append(zeros.count)
            current = zeros + ones
        }
    }

    /// How many of the values at positions `range` are below `bound`.
    func count(in range: Range<Int>, below bound: UInt64) -> Int {
        guard !range.isEmpty else { return 0 }
        if bound >= UInt64(1) << UInt64(width) { return range.count }
        var low = range.lowerBound
        var high = range.upperBound
        var below = 0
        for level in 0..<width {
            let bit = (bound >> UInt64(width - 1 - level)) & 1
            let lowZeros = levels[level].zeros(before: low)
            let highZeros = levels[level].zeros(before: high)
            if bit == 1 {
                // Values with a 0 here (and the bound's higher bits) are below the bound.
                below += highZeros - lowZeros
                low = zeroCounts[level] + (low - lowZeros)
                high = zeroCounts[level] + (high - highZeros)
            } else {
                low = lowZeros
                high = highZeros
            }
            if low >= high { break }
        }
        return below
    }
}
