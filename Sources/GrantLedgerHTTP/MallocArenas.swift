import CMalloc

/// How many malloc arenas `serve` lets glibc keep (docs/performance.md, "Malloc arenas").
///
/// glibc gives a thread that meets another in malloc an arena of its own, up to eight per
/// core, and memory freed in an arena is reused only by that arena. `serve` loads its
/// command memory and projections on a few threads and answers requests on others, so the
/// default left hundreds of MiB of freed memory resident in arenas no thread would use
/// again. One arena per core (at least two) keeps threads from waiting on one lock while
/// the freed memory stays where the next allocation finds it.
public enum MallocArenas {
    /// The limit to set: nil when the operator chose one (`MALLOC_ARENA_MAX`, which glibc
    /// reads itself at start-up), else one per processor, at least two.
    public static func limit(environment: [String: String], processors: Int) -> Int32? {
        if environment["MALLOC_ARENA_MAX"] != nil { return nil }
        return Int32(clamping: max(2, processors))
    }

    /// Sets the limit for this process (Linux only; elsewhere it does nothing).
    /// - Returns: the limit set, or nil when none was.
    @discardableResult
    public static func apply(environment: [String: String], processors: Int) -> Int32? {
        #if os(Linux)
            guard let limit = limit(environment: environment, processors: processors),
                mallopt(M_ARENA_MAX, limit) == 1
            else { return nil }
            return limit
        #else
            return nil
        #endif
    }
}
