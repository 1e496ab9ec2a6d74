import Foundation

/// A thread-safe cache bounded by entry count and by total cost (bytes, say).
///
/// When a new entry would pass either bound, the oldest entries are evicted first, one by
/// one: a flood of distinct keys costs a bounded amount of memory and never wipes the whole
/// cache at once.
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // Safety: all mutable state is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [Key: (value: Value, cost: Int)] = [:]
    /// Insertion order; `start` skips keys already evicted or replaced.
    private var order: [Key] = []
    private var start = 0
    private var totalCost = 0
    /// The most entries kept.
    public let maxEntries: Int
    /// The most total cost kept.
    public let maxCost: Int

    public init(maxEntries: Int, maxCost: Int = .max) {
        self.maxEntries = max(1, maxEntries)
        self.maxCost = max(1, maxCost)
    }

    public subscript(key: Key) -> Value? {
        lock.withLock { entries[key]?.value }
    }

    /// Number of entries held.
    public var count: Int { lock.withLock { entries.count } }

    /// Total cost of the entries held.
    public var cost: Int { lock.withLock { totalCost } }

    /// Stores `value`; an entry costing more than `maxCost` alone is not kept.
    public func set(_ key: Key, _ value: Value, cost: Int = 1) {
        guard cost <= maxCost else { return }
        lock.withLock {
            if let old = entries.removeValue(forKey: key) {
                totalCost -= old.cost
            }
            while !entries.isEmpty && (entries.count >= maxEntries || totalCost + cost > maxCost) {
                evictOldest()
            }
            entries[key] = (value, cost)
            totalCost += cost
            order.append(key)
            compactOrder()
        }
    }

    /// Must hold `lock`.
    private func evictOldest() {
        while start < order.count {
            let key = order[start]
            start += 1
            if let old = entries.removeValue(forKey: key) {
                totalCost -= old.cost
                return
            }
        }
    }

    /// Must hold `lock`. Drops evicted keys from the front once they are half the array,
    /// and stale duplicates (a key replaced keeps its earlier slot) when the array grows.
    private func compactOrder() {
        if start > 0 && start * 2 >= order.count {
            order.removeFirst(start)
            start = 0
        }
        if order.count > maxEntries * 4 + 16 {
            var seen = Set<Key>()
            var kept: [Key] = []
            for key in order[start...].reversed() where entries[key] != nil && seen.insert(key).inserted {
                kept.append(key)
            }
            order = kept.reversed()
            start = 0
        }
    }
}
