import Projections
import Testing

@testable import TestSupport

@Suite("Bounded caches")
struct BoundedCacheTests {
    @Test("a flood of keys evicts the oldest one by one and never holds more than its bounds")
    func bounds() {
        let cache = BoundedCache<Int, String>(maxEntries: 100, maxCost: 1_000)
        for key in 0..<10_000 {
            cache.set(key, "v\(key)", cost: 7)
            #expect(cache.count <= 100)
            #expect(cache.cost <= 1_000)
        }
        // The newest survive, the oldest are gone: never a full wipe.
        #expect(cache[9_999] == "v9999")
        #expect(cache[9_900] != nil)
        #expect(cache[0] == nil)
        #expect(cache.count == 100)
        // An entry larger than the whole budget is not kept and evicts nothing.
        cache.set(-1, "huge", cost: 1_001)
        #expect(cache[-1] == nil)
        #expect(cache[9_999] == "v9999")
        // Replacing a key keeps one entry for it.
        cache.set(9_999, "again", cost: 7)
        #expect(cache[9_999] == "again")
        #expect(cache.count == 100)

        // Bound by cost: entries of 7 within 1,000.
        let costly = BoundedCache<Int, String>(maxEntries: 10_000, maxCost: 1_000)
        for key in 0..<5_000 { costly.set(key, "v", cost: 7) }
        #expect(costly.count == 1_000 / 7)
        #expect(costly.cost <= 1_000)
        #expect(costly[4_999] != nil && costly[0] == nil)
    }
}
