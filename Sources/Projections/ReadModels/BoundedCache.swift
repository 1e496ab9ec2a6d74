import NIOConcurrencyHelpers

/// A thread-safe cache bounded by entry count and by total cost (bytes, say).
///
/// When a new entry would pass either bound, the oldest entries are evicted first, one by
/// one: a flood of distinct keys costs a bounded amount of memory and never wipes the whole
/// cache at once.
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Storage {
        var entries: [Key: (value: Value, cost: Int)] = [:]
        /// Insertion order; `start` skips keys already evicted or replaced.
        var order: [Key] = []
        var start = 0
        var totalCost = 0

        mutating func evictOldest() {
            while start < order.count {
                let key = order[start]
                start += 1
                if let old = entries.removeValue(forKey: key) {
                    totalCost -= old.cost
                    return
                }
            }
        }

        /// Drops evicted keys from the front once they are half the array, and stale
        /// duplicates (a replaced key keeps its earlier slot) when the array grows.
        mutating func compactOrder(maxEntries: Int) {
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

    private let storage = NIOLockedValueBox(Storage())
    /// The most entries kept.
    public let maxEntries: Int
    /// The most total cost kept.
    public let maxCost: Int

    public init(maxEntries: Int, maxCost: Int = .max) {
        self.maxEntries = max(1, maxEntries)
        self.maxCost = max(1, maxCost)
    }

    public subscript(key: Key) -> Value? {
        storage.withLockedValue { $0.entries[key]?.value }
    }

    /// Number of entries held.
    public var count: Int { storage.withLockedValue { $0.entries.count } }

    /// Total cost of the entries held.
    public var cost: Int { storage.withLockedValue { $0.totalCost } }

    /// Stores `value`; an entry costing more than `maxCost` alone is not kept.
    public func set(_ key: Key, _ value: Value, cost: Int = 1) {
        guard cost <= maxCost else { return }
        storage.withLockedValue { storage in
            if let old = storage.entries.removeValue(forKey: key) {
                storage.totalCost -= old.cost
            }
            while !storage.entries.isEmpty
                && (storage.entries.count >= maxEntries || storage.totalCost + cost > maxCost)
            {
                storage.evictOldest()
            }
            storage.entries[key] = (value, cost)
            storage.totalCost += cost
            storage.order.append(key)
            storage.compactOrder(maxEntries: maxEntries)
        }
    }
}
