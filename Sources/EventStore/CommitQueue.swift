import NIOConcurrencyHelpers

/// The queue behind a group commit (`AppendGroup`, and `serve`'s command groups): callers
/// wait in it, and up to `inFlight` committers at a time take groups from its front until
/// it is empty.
public final class CommitQueue<Entry: Sendable>: Sendable {
    private struct State {
        var waiting: [Entry] = []
        var committing = 0
    }

    private let state = NIOLockedValueBox(State())
    /// Committers at work at once.
    public let inFlight: Int
    /// Entries in one group at most.
    public let maximumGroup: Int

    public init(inFlight: Int, maximumGroup: Int) {
        self.inFlight = inFlight
        self.maximumGroup = maximumGroup
    }

    /// Queues `entry`; true when the caller is to start a committer (`nextGroup()` until it
    /// returns an empty group).
    public func enqueue(_ entry: Entry) -> Bool {
        state.withLockedValue { state in
            state.waiting.append(entry)
            guard state.committing < inFlight else { return false }
            state.committing += 1
            return true
        }
    }

    /// The next group, oldest first; empty when none waits, and then the committer that
    /// asked stops.
    public func nextGroup() -> [Entry] {
        state.withLockedValue { state in
            let group = Array(state.waiting.prefix(maximumGroup))
            state.waiting.removeFirst(group.count)
            if group.isEmpty { state.committing -= 1 }
            return group
        }
    }

    /// Puts entries back at the front, ahead of newer ones.
    public func putBack(_ entries: [Entry]) {
        state.withLockedValue { $0.waiting.insert(contentsOf: entries, at: 0) }
    }
}
