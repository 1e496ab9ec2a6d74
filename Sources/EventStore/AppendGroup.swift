import PostgresClient

/// Group commit for one process's concurrent `EventStore.append` calls (docs/architecture.md,
/// "The store's appends in groups").
///
/// Appends that arrive while a group is being committed wait in a queue; the next group
/// takes up to `maximumSize` of them and sends them as one run (`StoreSession.appendRun`:
/// BEGIN, `append_run()`, COMMIT and the readers' wake-up in one round trip), so that they
/// share one transaction and one WAL flush. `append_run()` checks each append's expected
/// versions and command id in order, each seeing the appends before it, as serial appends
/// would. Each caller's answer waits for that commit.
///
/// A group is all or nothing. When the store refuses it (one append's expectation not met,
/// a command id used before or twice, a version another writer took), none of it was
/// recorded, and each of its appends is sent again on its own, in order (`append_events()`),
/// which gives each caller the answer a serial append would: its events, its replay, or its
/// own refusal. When the connection breaks before the COMMIT's answer comes, nobody can tell
/// whether the group was recorded: every caller gets `commitOutcomeUnknown`, and nothing is
/// sent again. A group of one goes the single way at once.
final class AppendGroup: Sendable {
    /// Groups committed at once, as `serve`'s command groups (docs/performance.md, "Two
    /// groups in flight").
    static let inFlight = 2
    /// Appends in one group at most (`append_run()` takes up to 1,000).
    static let maximumSize = 256

    struct Entry: Sendable {
        var events: [NewEvent]
        var expected: [String: ExpectedVersion]
        var commandID: String?
        var payloadDigest: String?
        var answer: CheckedContinuation<AppendResult, any Error>
    }

    private let queue = CommitQueue<Entry>(inFlight: inFlight, maximumGroup: maximumSize)

    /// Queues an append for the next group and waits for its answer.
    func submit(
        _ events: [NewEvent], expected: [String: ExpectedVersion], commandID: String?, payloadDigest: String?,
        store: EventStore
    ) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { answer in
            let start = queue.enqueue(
                Entry(
                    events: events, expected: expected, commandID: commandID, payloadDigest: payloadDigest,
                    answer: answer))
            if start { Task { await self.commitGroups(store: store) } }
        }
    }

    /// Commits groups until the queue is empty.
    private func commitGroups(store: EventStore) async {
        while true {
            let group = queue.nextGroup()
            guard !group.isEmpty else { return }
            if group.count == 1 {
                await Self.appendAlone(group[0], store: store)
                continue
            }
            do {
                let results = try await store.withSession { session in
                    try await session.appendRun(
                        group.map {
                            StoreSession.RunAppend(
                                events: $0.events, expected: $0.expected, commandID: $0.commandID,
                                payloadDigest: $0.payloadDigest ?? "", keys: [])
                        }, decidedAt: 0)
                }
                for (entry, result) in zip(group, results) { entry.answer.resume(returning: result) }
            } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
                for entry in group { entry.answer.resume(throwing: EventStoreError.database(error)) }
            } catch {
                // Nothing of the group was recorded: each append on its own, in the group's
                // order, one connection at a time (a large refused group does not take the
                // whole pool).
                for entry in group { await Self.appendAlone(entry, store: store) }
            }
        }
    }

    private static func appendAlone(_ entry: Entry, store: EventStore) async {
        do {
            entry.answer.resume(
                returning: try await store.appendAlone(
                    entry.events, expected: entry.expected, commandID: entry.commandID,
                    payloadDigest: entry.payloadDigest))
        } catch {
            entry.answer.resume(throwing: error)
        }
    }
}
