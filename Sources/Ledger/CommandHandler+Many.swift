import GrantDomain
import PostgresClient

extension CommandHandler {
    /// Commands per transaction when many are applied (`handle(_:actor:stopOnError:)`).
    public static let batchSize = 32

    /// Commands gathered before runs are decided from memory (`handleRunsFromMemory`): 16
    /// runs, each decided while the one before it commits.
    static let memoryPipelineSize = 16 * memoryBatchSize

    /// The commit of the commands at `indices` broke off with the connection: they may or
    /// may not be recorded. Those carrying a `commandId` are applied once when sent again.
    public struct OutcomeUnknown: Error, Sendable {
        public var indices: ClosedRange<Int>
    }

    /// Applies many commands in order, with exactly the answers `handle` would give each one
    /// in turn (idempotent replays, §5 rejections), batched: runs of up to `batchSize`
    /// commands share one transaction (`handleBatch`); a command that reads the log at a past
    /// position (a sign-off) goes alone; an entry that is already a rejection (a line that
    /// did not parse) is reported in its place, after the commands before it are applied.
    /// A batch that ends early on a lost race goes on from there, the losing command alone
    /// with `handle`'s retries, so that the run always moves on.
    ///
    /// With a memory (`CommandMemory`), runs of up to `memoryBatchSize` commands are decided
    /// from it and appended in one round trip each, the next run decided while the one
    /// before it commits (`handleRunsFromMemory`); a command the
    /// memory does not accept goes alone through `handle`, and a run the store refuses goes
    /// under locks as above, `batchSize` at a time.
    /// - Parameters:
    ///   - requests: the commands, or the rejection an entry already is.
    ///   - stopOnError: stop at the first rejection; the commands before it stay applied.
    ///   - progress: called with the index of each entry as it is reached.
    ///   - result: called once per entry reached, in order, with its index and its answer.
    /// - Throws: `OutcomeUnknown` when a commit's fate is unknown; database errors as they come.
    public func handle(
        _ requests: [Result<CommandRequest, DomainError>], actor: String, stopOnError: Bool = false,
        progress: (Int) -> Void = { _ in },
        result: (Int, Result<CommandOutcome, DomainError>) -> Void
    ) async throws {
        var pending: [(index: Int, request: CommandRequest)] = []
        var stopped = false
        func report(_ index: Int, _ answer: Result<CommandOutcome, DomainError>) {
            result(index, answer)
            if stopOnError, case .failure = answer { stopped = true }
        }
        func alone(_ index: Int, _ request: CommandRequest) async throws {
            do {
                report(index, .success(try await handle(request, actor: actor)))
            } catch let error as DomainError {
                report(index, .failure(error))
            }
        }
        // Runs of commands decided from memory, when the handler keeps one, each decided
        // while the one before it commits: the number of entries of `entries` answered, or
        // nil when the next ones must go under locks.
        func fromMemory(_ entries: ArraySlice<(index: Int, request: CommandRequest)>) async throws -> Int? {
            guard let memory, let first = entries.first else { return nil }
            var answered = entries.startIndex
            let landed: (count: Int, refused: Bool)
            do {
                landed = try await handleRunsFromMemory(entries.map(\.request), actor: actor, memory: memory) {
                    outcomes in
                    memory.count(fromMemory: true, times: outcomes.count)
                    for outcome in outcomes {
                        report(entries[answered].index, .success(outcome))
                        answered += 1
                    }
                }
            } catch let unknown as OutcomeUnknown {
                throw OutcomeUnknown(
                    indices: entries[entries.startIndex + unknown.indices.lowerBound]
                        .index...entries[
                            entries.startIndex + unknown.indices.upperBound
                        ].index)
            }
            if landed.count > 0 { return landed.count }
            if landed.refused { return nil }
            // The first one needs the store: alone, with `handle`'s own path.
            try await alone(first.index, first.request)
            return 1
        }
        func flush() async throws {
            var remaining = pending[...]
            pending.removeAll(keepingCapacity: true)
            while let first = remaining.first, !stopped {
                if let answered = try await fromMemory(remaining) {
                    remaining = remaining.dropFirst(answered)
                    continue
                }
                let batch = remaining.prefix(Self.batchSize)
                let results: [Result<CommandOutcome, DomainError>]
                do {
                    results = try await handleBatch(batch.map(\.request), actor: actor, stopOnError: stopOnError)
                } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
                    throw OutcomeUnknown(indices: first.index...batch[batch.endIndex - 1].index)
                }
                for (entry, answer) in zip(batch, results) { report(entry.index, answer) }
                remaining = remaining.dropFirst(results.count)
                if results.isEmpty, !stopped {
                    try await alone(first.index, first.request)
                    remaining = remaining.dropFirst()
                }
            }
        }
        for (index, entry) in requests.enumerated() where !stopped {
            progress(index)
            switch entry {
            case .failure(let rejection):
                try await flush()
                if !stopped { report(index, .failure(rejection)) }
            case .success(let request) where request.command.readsIndicatorAt != nil:
                try await flush()
                if !stopped { try await alone(index, request) }
            case .success(let request):
                pending.append((index, request))
                if pending.count == (memory == nil ? Self.batchSize : Self.memoryPipelineSize) { try await flush() }
            }
        }
        try await flush()
    }
}
