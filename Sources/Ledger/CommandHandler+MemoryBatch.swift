import EventStore
import GrantDomain
import PersonalDataKeys
import PostgresClient

extension CommandHandler {
    /// Commands decided from memory per transaction when many are applied in order
    /// (`handle(_:actor:stopOnError:progress:result:)` with a memory).
    public static let memoryBatchSize = 128

    /// A command with its payload digest and its events' metadata (`prepare`).
    typealias PreparedRequest = (request: CommandRequest, digest: String, metadataJSON: String)

    /// A run of commands decided from memory, each after the ones before it, not yet
    /// appended.
    struct DecidedRun {
        /// The memory at the run's position with the run's events (and those of the run
        /// before it, while that one commits) over it.
        let scratch: ScratchState
        var appends: [StoreSession.RunAppend] = []
        var uses: [PersonalDataKeyCache.Use?] = []
        /// The keys the run's registrations made, added in its transaction after its append.
        var newKeys: [PersonalDataKey] = []
        /// The run ended because the memory moved on (another run of this process was
        /// applied to it) during a decision: the command it ended before was not refused,
        /// and may be decided in a later run.
        var moved = false
        /// The organisations' keys the run made or used: a run decided over this one, before
        /// this one commits, encrypts with the same keys.
        var keys: [String: PersonalDataKey] = [:]
    }

    /// Decides the leading commands of `requests` on `scratch`, each after the ones before
    /// it, until the first one the memory does not accept (see `handleBatchFromMemory`).
    /// - Parameter keys: the keys of the run this one is decided over.
    func decideRun(
        _ requests: ArraySlice<PreparedRequest>, on scratch: ScratchState, keys carried: [String: PersonalDataKey],
        session: StoreSession
    ) async throws -> DecidedRun {
        var run = DecidedRun(scratch: scratch, keys: carried)
        for (request, digest, metadataJSON) in requests {
            guard Self.decidesFromMemory(request.command), request.command.readsIndicatorAt == nil else { break }
            // A known id (or a memory that moved meanwhile) ends the run here.
            if let commandId = request.commandId {
                do {
                    if try scratch.knows(commandId: commandId) { break }
                } catch {
                    run.moved = true
                    break
                }
            }
            let reader = MemoryStateReader(memory: scratch)
            let decided: [DomainEvent]
            let sealed: (events: [NewEvent], keyUse: PersonalDataKeyCache.Use?, newKey: PersonalDataKey?)
            do {
                decided = try await decide(request.command, reader: reader)
                guard !decided.isEmpty else { break }
                sealed = try await Self.sealTexts(
                    decided, of: request.command, metadataJSON: metadataJSON, versions: reader.reads.versions,
                    reader: reader, keys: keys, retrying: false, session: session, pending: run.keys)
            } catch is DomainError {
                break
            } catch is MemoryStateReader.Moved {
                run.moved = true
                break
            } catch is MemoryStateReader.NotInMemory {
                break
            }
            let reads = reader.reads
            guard reads.position != nil else { break }
            var expected: [String: ExpectedVersion] = [:]
            for event in decided { expected[event.streamID] = .exact(reads.versions[event.streamID] ?? 0) }
            run.appends.append(
                .init(
                    events: sealed.events, expected: expected, commandID: request.commandId, payloadDigest: digest,
                    keys: reads.keys.union(sealed.events.map(\.streamID))))
            run.uses.append(sealed.keyUse)
            if let key = sealed.newKey { run.newKeys.append(key) }
            if let key = sealed.newKey ?? sealed.keyUse?.key { run.keys[key.organisationId] = key }
            scratch.apply(decided, commandId: request.commandId)
        }
        return run
    }

    /// Decides the leading commands of `requests` from `memory`, each after the ones before
    /// it, and appends them all in one transaction sent in one round trip, on the condition
    /// that no key they read changed after the position they were decided at (sql/023).
    ///
    /// The run ends before the first command the memory does not accept: a rejection (the
    /// store confirms it, as for `handleFromMemory`), a read the memory does not keep, a
    /// command that is not decided from memory (a sign-off, an erasure), an id the memory
    /// holds already (the store answers with its first acceptance), or a command that
    /// records nothing.
    /// - Returns: the outcomes of the commands applied, in order (empty when the first
    ///   command needs the store), and whether the run ended because the memory moved on
    ///   (`DecidedRun.moved`); nil when the store refused the run (another writer
    ///   changed a key it read, an id was accepted before, a key was made meanwhile, or any
    ///   other failure) and nothing was recorded: decide those commands under locks, where
    ///   each gets its own answer.
    /// - Throws: `OutcomeUnknown` (indices into `requests`) when the connection broke during
    ///   the commit; database errors met while deciding.
    /// - Parameter catchingUp: bring the memory to the log first (a round trip); `serve`'s
    ///   memory is kept near the log by its readers, and a stale decision fails its guard.
    func handleBatchFromMemory(
        _ requests: [PreparedRequest], memory: CommandMemory, catchingUp: Bool = true
    ) async throws -> (outcomes: [CommandOutcome], moved: Bool)? {
        if catchingUp { try await memory.catchUp() }
        guard memory.isReady else { return nil }
        let scratch = ScratchState(memory: memory)
        let run = try await pool.withConnection { connection in
            try await self.decideRun(
                requests[...], on: scratch, keys: [:], session: StoreSession(connection: connection))
        }
        guard let results = try await appendRun(run, decidedAt: scratch.position) else { return nil }
        return (adopt(run, results, decidedAt: scratch.position, memory: memory).outcomes, run.moved)
    }

    /// Runs of up to `memoryBatchSize` commands decided from memory and appended as by
    /// `handleBatchFromMemory`, one after another, each decided while the one before it
    /// commits: on the memory as it stands with that run's events over it, which is the
    /// log's state after that run if that run's positions follow the memory's directly.
    /// When they do not (another writer came between), the next run is decided again after
    /// a catch-up. The client's work on a run and the database's on the one before overlap.
    /// - Parameter answered: called with the outcomes of each run once it committed, in
    ///   order.
    /// - Returns: how many leading commands were answered, and whether the store refused the
    ///   run after them (decide it under locks) rather than the next command needing the
    ///   store on its own path, or `requests` being done.
    /// - Throws: `OutcomeUnknown` (indices into `requests`) when the connection broke during
    ///   a commit; database errors met while deciding (after the run committing meanwhile
    ///   has been answered).
    func handleRunsFromMemory(
        _ requests: [CommandRequest], actor: String, memory: CommandMemory, answered: ([CommandOutcome]) -> Void
    ) async throws -> (count: Int, refused: Bool) {
        try await memory.catchUp()
        guard memory.isReady else { return (0, true) }
        var done = 0
        var next = 0
        var committing: (run: DecidedRun, start: Int, decidedAt: Int64, append: Task<[AppendResult]?, any Error>)?
        // The last position of the run landed last.
        var landedAt: Int64?
        // The run in flight, answered and handed to the memory: whether the memory adopted
        // it where it was decided, or nil when the store refused it.
        func land() async throws -> Bool? {
            guard let flight = committing else { return true }
            committing = nil
            let results: [AppendResult]?
            do {
                results = try await flight.append.value
            } catch let unknown as OutcomeUnknown {
                throw OutcomeUnknown(
                    indices: (flight.start + unknown.indices.lowerBound)...(flight.start + unknown.indices.upperBound))
            }
            guard let results else { return nil }
            let landed = adopt(flight.run, results, decidedAt: flight.decidedAt, memory: memory)
            landedAt = landed.last
            answered(landed.outcomes)
            done += landed.outcomes.count
            return landed.adopted
        }
        while true {
            // The memory stands still while the run in flight commits: only `land` moves it.
            let scratch = ScratchState(memory: memory, over: committing?.run.scratch)
            let carried = committing?.run.keys ?? [:]
            let decided: DecidedRun
            do {
                let prepared: [PreparedRequest] = try requests[next..<min(next + Self.memoryBatchSize, requests.count)]
                    .map { request in
                        let (digest, metadataJSON) = try Self.prepare(request, actor: actor, correlationId: nil)
                        return (request: request, digest: digest, metadataJSON: metadataJSON)
                    }
                decided = try await pool.withConnection { connection in
                    try await self.decideRun(
                        prepared[...], on: scratch, keys: carried, session: StoreSession(connection: connection))
                }
            } catch {
                _ = try await land()
                throw error
            }
            landedAt = nil
            switch try await land() {
            case nil: return (done, true)
            case false?:
                // Decided over a run whose positions did not follow the memory's: again.
                next = done
                try await memory.catchUp()
                guard memory.isReady else { return (done, true) }
                continue
            case true?: break
            }
            guard !decided.appends.isEmpty else { return (done, false) }
            // The state the run was decided on: the memory at the scratch's position, with
            // the run that just landed (adopted right there) over it, if any.
            let decidedAt = landedAt ?? scratch.position
            committing = (
                decided, next, decidedAt, Task { try await self.appendRun(decided, decidedAt: decidedAt) }
            )
            next += decided.appends.count
        }
    }

    /// Appends a decided run in one transaction sent in one round trip
    /// (`StoreSession.appendRun`, sql/025, sql/026), on the condition that no key it read
    /// changed after `decidedAt`.
    /// - Returns: the events recorded, per command; nil when the store refused the run and
    ///   nothing was recorded.
    /// - Throws: `OutcomeUnknown` (indices into the run) when the connection broke during
    ///   the commit.
    func appendRun(_ run: DecidedRun, decidedAt: Int64) async throws -> [AppendResult]? {
        guard !run.appends.isEmpty else { return [] }
        do {
            return try await pool.withConnection { connection in
                try await StoreSession(connection: connection).appendRun(
                    run.appends, decidedAt: decidedAt,
                    then: run.newKeys.isEmpty ? [] : [StoreSession.addPersonalDataKeysQuery(run.newKeys)])
            }
        } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
            logger.warning("connection lost during the commit of a batch decided from memory")
            throw OutcomeUnknown(indices: 0...(run.appends.count - 1))
        } catch {
            // A key changed after `decidedAt`, an id was accepted before, or anything
            // else: nothing is recorded, and under locks each command gets its own answer.
            logger.debug(
                "a batch decided from memory was refused; deciding it under locks",
                metadata: ["decidedAt": "\(decidedAt)", "error": "\(error)"])
            return nil
        }
    }

    /// A committed run's keys remembered and its events handed to the memory.
    /// - Returns: its outcomes, whether the memory applied its events as decided (rather
    ///   than reading them back from the log), and its last position.
    func adopt(
        _ run: DecidedRun, _ results: [AppendResult], decidedAt: Int64, memory: CommandMemory
    ) -> (outcomes: [CommandOutcome], adopted: Bool, last: Int64?) {
        for use in run.uses { keys.remember(use) }
        let positions = results.flatMap(\.events).map(\.position)
        let last = positions.max()
        var adopted = true
        if let first = positions.min(), let last {
            adopted = memory.adopt(run.scratch.decided, decidedAt: decidedAt, positions: first...last)
        }
        return (results.map { CommandOutcome(events: $0.events, replayed: false) }, adopted, last)
    }
}
