/// The entity keys a command read or wrote, recorded with its append (sql/023).
///
/// A key is a stream id or the owner of a cross-entity rule (`call-…` for a call's budget,
/// `grant-…` for an envelope, `consortium-…`, `contract:<number>`): the names of
/// `AdvisoryLock.entity`. The store keeps per key the position of the last append that held
/// it, so a command decided from memory of the log at `decidedAt` is appended only if no
/// key it holds changed after that position; a command decided under the keys' locks sends
/// `decidedAt` nil and only records its keys.
public struct CommandGuards: Sendable, Hashable {
    /// The keys, each once.
    public var keys: Set<String>
    /// The position of the log the decision read, or nil when it read under locks.
    public var decidedAt: Int64?

    public init(keys: Set<String>, decidedAt: Int64?) {
        self.keys = keys
        self.decidedAt = decidedAt
    }
}
