import EventStore
import GrantDomain
import PostgresClient

/// Group commit for one process's concurrent commands (docs/architecture.md, "Group commit").
///
/// Commands that arrive while a group is being committed wait in a queue; the next group
/// takes up to `CommandHandler.memoryBatchSize` of them, decides each from the memory after
/// the ones before it, and appends them in one transaction sent in one round trip
/// (`CommandHandler.handleBatchFromMemory`): one commit, one WAL flush, for all of them.
/// Each caller's answer waits for that commit. A command the group does not decide (a
/// rejection to confirm, a read the memory does not keep) and every command of a group the
/// store refused are handed back to their callers (nil), which decide them on their own
/// (`handleFromMemory`, then the store's locks).
///
/// Up to `inFlight` groups are committed at once, each decided on the memory as it stands
/// without the others' events, as concurrent single commands are: two groups that touch
/// the same key meet at its lock or its guard (sql/025), and the later one's commands are
/// decided again on their own. Within a group, each command sees the ones before it.
final class CommandGroup: Sendable {
    /// Groups committed at once: their appends run in parallel in PostgreSQL, which takes
    /// the positions lock only while a group draws its positions. Two rather than four
    /// since `append_run()` became cheaper per call (sql/029): fewer, larger groups gave a
    /// lower p99 in every round measured at 8 connections on a 2-core machine, and a
    /// rate as high or higher (docs/performance.md, "Two groups in flight").
    static let inFlight = 2

    struct Entry: Sendable {
        var request: CommandRequest
        var digest: String
        var metadataJSON: String
        var answer: CheckedContinuation<CommandOutcome?, any Error>
        /// Groups this command went back to the queue from, the memory having moved under
        /// its decision.
        var deferred = 0
    }

    /// Times a command goes back to the queue when the memory moves under its decision
    /// before it is handed back to its caller.
    static let deferrals = 2

    private let queue = CommitQueue<Entry>(inFlight: inFlight, maximumGroup: CommandHandler.memoryBatchSize)

    /// Queues `request` for the next group and waits for its answer: its outcome once the
    /// group committed, or nil when the caller must decide it on its own.
    /// - Throws: `DomainError` `.outcomeUnknown` when the connection broke during the
    ///   group's commit; database errors met while deciding.
    func submit(
        _ request: CommandRequest, digest: String, metadataJSON: String, handler: CommandHandler,
        memory: CommandMemory
    ) async throws -> CommandOutcome? {
        try await withCheckedThrowingContinuation { answer in
            let start = queue.enqueue(
                Entry(request: request, digest: digest, metadataJSON: metadataJSON, answer: answer))
            if start { Task { await self.commitGroups(handler: handler, memory: memory) } }
        }
    }

    /// Commits groups until the queue is empty.
    private func commitGroups(handler: CommandHandler, memory: CommandMemory) async {
        while true {
            let group = queue.nextGroup()
            guard !group.isEmpty else { return }
            do {
                let decided = try await handler.handleBatchFromMemory(
                    group.map { ($0.request, $0.digest, $0.metadataJSON) }, memory: memory, catchingUp: false)
                guard let (outcomes, moved) = decided else {
                    // Refused by the store: each decides on its own.
                    for entry in group { entry.answer.resume(returning: nil) }
                    continue
                }
                for (entry, outcome) in zip(group, outcomes) { entry.answer.resume(returning: outcome) }
                // The first command not decided goes its own way, unless the group ended only
                // because another group's commit moved the memory under it (then it goes back
                // to the queue, a bounded number of times); those after it wait for the next
                // group, ahead of newer ones.
                var rest = Array(group.dropFirst(outcomes.count))
                if var first = rest.first {
                    if moved, first.deferred < Self.deferrals {
                        first.deferred += 1
                        rest[0] = first
                    } else {
                        first.answer.resume(returning: nil)
                        rest.removeFirst()
                    }
                }
                queue.putBack(rest)
            } catch let unknown as CommandHandler.OutcomeUnknown {
                for (index, entry) in group.enumerated() {
                    if unknown.indices.contains(index) {
                        entry.answer.resume(
                            throwing: handler.answer(
                                to: PostgresError(kind: .commitOutcomeUnknown, message: "during a group commit"),
                                of: entry.request))
                    } else {
                        entry.answer.resume(returning: nil)
                    }
                }
            } catch {
                for entry in group { entry.answer.resume(throwing: error) }
            }
        }
    }
}
