import EventStore
import GrantDomain
import PersonalDataKeys
import PostgresClient

extension CommandHandler {
    /// Commands decided from memory per transaction when many are applied in order
    /// (`handle(_:actor:stopOnError:progress:result:)` with a memory).
    public static let memoryBatchSize = 128

    /// Decides the leading commands of `requests` from `memory`, each after the ones before
    /// it, and appends them all in one transaction sent in one round trip
    /// (`StoreSession.appendRun`, sql/025), on the condition that no key they read changed
    /// after the position the batch was decided at (sql/023).
    ///
    /// The batch ends before the first command the memory does not accept: a rejection (the
    /// store confirms it, as for `handleFromMemory`), a read the memory does not keep, a
    /// command that is not decided from memory (a sign-off, an erasure), an id the memory
    /// holds already (the store answers with its first acceptance), or a command that
    /// records nothing.
    /// - Returns: the outcomes of the commands applied, in order: empty when the first
    ///   command needs the store; nil when the store refused the batch (another writer
    ///   changed a key it read, an id was accepted before, a key was made meanwhile, or any
    ///   other failure) and nothing was recorded: decide those commands under locks, where
    ///   each gets its own answer.
    /// - Throws: `OutcomeUnknown` (indices into `requests`) when the connection broke during
    ///   the commit; database errors met while deciding.
    /// - Parameter requests: each command with its payload digest and its events' metadata
    ///   (`prepare`).
    /// - Parameter catchingUp: bring the memory to the log first (a round trip); `serve`'s
    ///   memory is kept near the log by its readers, and a stale decision fails its guard.
    func handleBatchFromMemory(
        _ requests: [(request: CommandRequest, digest: String, metadataJSON: String)], memory: CommandMemory,
        catchingUp: Bool = true
    ) async throws -> [CommandOutcome]? {
        if catchingUp { try await memory.catchUp() }
        guard memory.isReady else { return nil }
        let scratch = ScratchState(memory: memory)
        return try await pool.withConnection { connection -> [CommandOutcome]? in
            let session = StoreSession(connection: connection)
            var appends: [StoreSession.RunAppend] = []
            var uses: [PersonalDataKeyCache.Use?] = []
            var made: [String: PersonalDataKey] = [:]
            var decidedAt: Int64 = 0
            for (request, digest, metadataJSON) in requests {
                guard Self.decidesFromMemory(request.command), request.command.readsIndicatorAt == nil else { break }
                // A known id (or a memory that moved meanwhile) ends the run here.
                if let commandId = request.commandId, (try? scratch.knows(commandId: commandId)) != false { break }
                let reader = MemoryStateReader(memory: scratch)
                let decided: [DomainEvent]
                let sealed: (events: [NewEvent], keyUse: PersonalDataKeyCache.Use?, newKey: PersonalDataKey?)
                do {
                    decided = try await decide(request.command, reader: reader)
                    guard !decided.isEmpty else { break }
                    sealed = try await Self.sealTexts(
                        decided, of: request.command, metadataJSON: metadataJSON, versions: reader.reads.versions,
                        reader: reader, keys: keys, retrying: false, session: session, pending: made)
                } catch is DomainError {
                    break
                } catch is MemoryStateReader.NotInMemory, is MemoryStateReader.Moved {
                    break
                }
                let reads = reader.reads
                guard let position = reads.position else { break }
                decidedAt = position
                var expected: [String: ExpectedVersion] = [:]
                for event in decided { expected[event.streamID] = .exact(reads.versions[event.streamID] ?? 0) }
                appends.append(
                    .init(
                        events: sealed.events, expected: expected, commandID: request.commandId, payloadDigest: digest,
                        keys: reads.keys.union(sealed.events.map(\.streamID)),
                        then: sealed.newKey.map { [StoreSession.addPersonalDataKeyQuery($0)] } ?? []))
                uses.append(sealed.keyUse)
                if let key = sealed.newKey { made[key.organisationId] = key }
                scratch.apply(decided, commandId: request.commandId)
            }
            guard !appends.isEmpty else { return [] }
            let results: [AppendResult]
            do {
                results = try await session.appendRun(appends, decidedAt: decidedAt)
            } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
                logger.warning("connection lost during the commit of a batch decided from memory")
                throw OutcomeUnknown(indices: 0...(appends.count - 1))
            } catch {
                // A key changed after `decidedAt`, an id was accepted before, or anything
                // else: nothing is recorded, and under locks each command gets its own answer.
                logger.debug(
                    "a batch decided from memory was refused; deciding it under locks",
                    metadata: ["decidedAt": "\(decidedAt)", "error": "\(error)"])
                return nil
            }
            for use in uses { keys.remember(use) }
            let positions = results.flatMap(\.events).map(\.position)
            if let first = positions.min(), let last = positions.max() {
                memory.adopt(scratch.decided, decidedAt: decidedAt, positions: first...last)
            }
            return results.map { CommandOutcome(events: $0.events, replayed: false) }
        }
    }
}
