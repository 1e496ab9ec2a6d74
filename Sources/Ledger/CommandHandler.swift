import EventStore
import Foundation
import GrantDomain
import Logging
import PersonalDataKeys
import PostgresClient

/// What an accepted command recorded.
public struct CommandOutcome: Sendable {
    /// The recorded events (the first acceptance's, when `replayed`).
    public var events: [RecordedEvent]
    /// True when the command id had been accepted before and nothing new was recorded.
    public var replayed: Bool
}

/// Runs commands: load what they touch, decide, append, all in one transaction.
///
/// See `PostgresStateReader` for how rules stay true under concurrent writers. A lost race
/// on an expected version or a deadlock between two commands is retried a bounded number
/// of times; after that the command is rejected with `conflict`.
public struct CommandHandler: Sendable {
    /// A sign-off's figures (its indicator's report, I.3's §4 figures) as the sealed log stood
    /// at a position (nil when no event stands sealed there yet), computed from the events
    /// themselves: what a sign-off records (§14's last rule).
    /// The composition root passes the read side's fold (`LogFigures.signOffProvider`), so
    /// that the ledger never imports the projections.
    public typealias SignOffFigures =
        @Sendable (_ signOff: SignOffIndicatorReport, _ position: Int64) async throws -> (
            figures: SignedFigures, asOf: LogPoint
        )?

    public let pool: ConnectionPool
    let signOffFigures: SignOffFigures
    /// The log in this process's memory, when it keeps one: commands are decided from it
    /// and appended with their guards (`handleFromMemory`), and under locks otherwise.
    public let memory: CommandMemory?
    /// Concurrent commands decided from memory are committed in groups (`CommandGroup`).
    let group: CommandGroup?
    /// The organisations' living keys this handler has used (docs/domain.md §15).
    let keys = PersonalDataKeyCache()
    let logger: Logger
    static let maxAttempts = 5

    /// - Parameter groupCommit: with a memory, commit concurrent commands decided from it
    ///   together (`serve`).
    public init(
        pool: ConnectionPool, signOffFigures: @escaping SignOffFigures, memory: CommandMemory? = nil,
        groupCommit: Bool = false, logger: Logger = Logger(label: "grantledger.commands")
    ) {
        self.pool = pool
        self.signOffFigures = signOffFigures
        self.memory = memory
        self.group = groupCommit && memory != nil ? CommandGroup() : nil
        self.logger = logger
    }

    /// Applies `request` as `actor`.
    /// - Throws: `DomainError` when rejected; database errors as they come.
    public func handle(_ request: CommandRequest, actor: String, correlationId: String? = nil) async throws
        -> CommandOutcome
    {
        let (digest, metadataJSON) = try Self.prepare(request, actor: actor, correlationId: correlationId)
        var figures: PostgresStateReader.SignedFigures?
        if case .signOffIndicatorReport(let signOff) = request.command {
            // The rule records the indicator's figures at a past position, computed from the events themselves
            // (never from a read model the application role can write): seal the log that far
            // (waiting up to a minute, holding nothing meanwhile), then fold it. The figures
            // at a sealed position never change, so they are computed before the transaction.
            // A position beyond the last recorded event is refused by the rule: no wait then.
            let store = EventStore(pool: pool)
            let goal = min(signOff.position, try await store.lastAppended())
            var head = try await store.seal()
            let deadline = ContinuousClock.now + .seconds(60)
            while head.position < goal, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                head = try await store.seal()
            }
            if goal == signOff.position, head.position >= goal,
                let (computed, asOf) = try await signOffFigures(signOff, goal)
            {
                figures = .init(signOff: signOff, position: goal, figures: computed, asOf: asOf)
            }
        }
        // The memory loads in the background; until then, and for what it does not decide,
        // commands go to the store's locks.
        if let memory, !memory.isReady { memory.startCatchingUp() }
        if figures == nil, let memory, memory.isReady, Self.decidesFromMemory(request.command),
            !(request.commandId.map(memory.knows(commandId:)) ?? false)
        {
            if let group,
                let outcome = try await group.submit(
                    request, digest: digest, metadataJSON: metadataJSON, handler: self, memory: memory)
            {
                memory.count(fromMemory: true)
                return outcome
            }
            let outcome = try await handleFromMemory(
                request, digest: digest, metadataJSON: metadataJSON, memory: memory)
            memory.count(fromMemory: outcome != nil)
            if let outcome { return outcome }
        }
        return try await pool.withConnection { connection in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    let applied = try await attemptOnce(
                        request, digest: digest, metadataJSON: metadataJSON, figures: figures, retrying: attempt > 1,
                        connection: connection)
                    keys.remember(applied.keyUse)
                    return applied.outcome
                } catch let error where Self.isRetryable(error) && attempt < Self.maxAttempts {
                    logger.debug(
                        "retrying command after a lost race", metadata: ["command.name": "\(request.command.name)"])
                    continue
                } catch let error where Self.isRetryable(error) {
                    throw DomainError(.conflict, "\(request.command.name): concurrent changes kept winning; try again")
                } catch {
                    throw answer(to: error, of: request)
                }
            }
        }
    }

    /// The §5 answer to an append's failure that no retry changes: a command id reused with
    /// another payload, a commit whose outcome is unknown; other errors as they are.
    func answer(to error: any Error, of request: CommandRequest) -> any Error {
        switch error {
        case EventStoreError.commandIDReused:
            return DomainError(
                .conflict, "commandId \"\(request.commandId ?? "")\" was already used with a different payload")
        case let error as PostgresError where error.kind == .commitOutcomeUnknown:
            logger.warning("connection lost during commit", metadata: ["command.name": "\(request.command.name)"])
            return DomainError(
                .outcomeUnknown,
                "\(request.command.name): the connection to the database broke while the command was being committed; "
                    + "it may or may not be recorded. "
                    + (request.commandId.map { "Re-send it with commandId \"\($0)\" to find out." }
                        ?? "It carried no commandId, so re-sending it may record it twice."))
        default:
            return error
        }
    }

    static func isRetryable(_ error: any Error) -> Bool {
        if case EventStoreError.wrongExpectedVersion = error { return true }
        if case EventStoreError.database(let db) = error { return db.isLostRace }
        if let db = error as? PostgresError {
            return db.isLostRace
                || (db.isUniqueViolation
                    && (db.constraint == "commands_pkey" || db.constraint == "personal_data_keys_living"))
        }
        return false
    }

    /// The payload digest that makes the command id idempotent, and the events' metadata.
    static func prepare(_ request: CommandRequest, actor: String, correlationId: String?) throws -> (
        digest: String, metadataJSON: String
    ) {
        let digest = EventStore.digest(request.command.canonicalPayload)
        var metadata: [String: String] = ["actor": actor]
        if let commandId = request.commandId { metadata["commandId"] = commandId }
        if let correlationId { metadata["correlationId"] = correlationId }
        // Keys sorted, as JSONSerialization wrote it; stored as jsonb, so only its value counts.
        return (digest, try CanonicalJSON.text(metadata))
    }

    private func attemptOnce(
        _ request: CommandRequest, digest: String, metadataJSON: String, figures: PostgresStateReader.SignedFigures?,
        retrying: Bool, connection: PostgresConnection
    ) async throws -> Applied {
        // Readers are woken with the commit, in its round trip (needlessly for a replay).
        try await connection.transaction(after: EventStore.notifyQuery) { connection in
            try await Self.apply(
                request, digest: digest, metadataJSON: metadataJSON, figures: figures, keys: keys, retrying: retrying,
                on: connection)
        }
    }

    /// What `apply` did: the outcome, and the key its texts used, to remember once committed.
    struct Applied {
        var outcome: CommandOutcome
        var keyUse: PersonalDataKeyCache.Use?
    }

    /// Replays a known command id, or decides and appends, inside the caller's transaction.
    /// - Parameter retrying: an earlier attempt lost a race (perhaps for a new key): look the
    ///   key up even for a registration.
    static func apply(
        _ request: CommandRequest, digest: String, metadataJSON: String,
        figures: PostgresStateReader.SignedFigures? = nil, keys: PersonalDataKeyCache, retrying: Bool = false,
        on connection: PostgresConnection
    )
        async throws -> Applied
    {
        let session = StoreSession(connection: connection)
        if let commandId = request.commandId {
            // The same lock append_events takes: retries of one command wait for each other.
            if let known = try await session.lockAcceptedCommand(commandId) {
                guard known.payloadDigest == digest else {
                    throw DomainError(
                        .conflict, "commandId \"\(commandId)\" was already used with a different payload")
                }
                let events = try await session.events(from: known.firstPosition, to: known.lastPosition)
                return Applied(outcome: CommandOutcome(events: events, replayed: true))
            }
        }
        let reader = PostgresStateReader(session: session, signedFigures: figures)
        let decided = try await decide(request.command, reader: reader)
        let versions = await reader.versions
        var expected: [String: ExpectedVersion] = [:]
        for event in decided {
            expected[event.streamID] = .exact(versions[event.streamID] ?? 0)
        }
        let sealed = try await sealTexts(
            decided, of: request.command, metadataJSON: metadataJSON, versions: versions, reader: reader, keys: keys,
            retrying: retrying, session: session)
        let (newEvents, keyUse, newKey) = (sealed.events, sealed.keyUse, sealed.newKey)
        // The keys held go with the append, so that a process deciding from memory sees
        // this command (sql/023).
        let guards = CommandGuards(keys: await reader.locked.union(newEvents.map(\.streamID)), decidedAt: nil)
        let result = try await session.append(
            newEvents, expected: expected, commandID: request.commandId, payloadDigest: digest, guards: guards)
        if let newKey, !result.replayed {
            // A new key is written after the append, which must be the transaction's first
            // write; a concurrent command that made one first wins (unique index), this retries.
            try await session.addPersonalDataKey(newKey)
        }
        if !result.replayed, case .erasePersonalData(let erasure) = request.command {
            // The key goes with the record of its erasure, in this transaction.
            try await session.destroyPersonalDataKey(of: erasure.organisationId)
        }
        return Applied(
            outcome: CommandOutcome(events: result.events, replayed: result.replayed),
            keyUse: result.replayed ? nil : keyUse)
    }

    /// The events to append for `decided`, an organisation's texts encrypted with its key
    /// (docs/domain.md §15): a key made earlier in the same batch (`pending`, not committed
    /// yet), the key remembered for the stream's version read, a new one for a registration,
    /// or the living one.
    static func sealTexts(
        _ decided: [DomainEvent], of command: Command, metadataJSON: String, versions: [String: Int64],
        reader: some StateReader, keys: PersonalDataKeyCache, retrying: Bool, session: StoreSession,
        pending: [String: PersonalDataKey] = [:]
    ) async throws -> (events: [NewEvent], keyUse: PersonalDataKeyCache.Use?, newKey: PersonalDataKey?) {
        var newEvents = decided.map {
            NewEvent(streamID: $0.streamID, type: $0.type, data: $0.dataJSON, metadata: metadataJSON)
        }
        // An organisation's texts are recorded only encrypted with its key (docs/domain.md §15).
        var keyUse: PersonalDataKeyCache.Use?
        var newKey: PersonalDataKey?
        if newEvents.contains(where: { PersonalData.fields[$0.type] != nil }),
            let subject = try await PersonalData.subject(of: command, reader: reader)
        {
            let stream = Streams.organisation(subject)
            // The organisation's stream, when the rules read it under its lock: no erasure can
            // come between that read and this commit.
            let version = versions[stream]
            let key: PersonalDataKey
            if let made = pending[subject] {
                key = made
            } else if let version, let known = keys.key(for: subject, atVersion: version) {
                key = known
            } else if case .registerOrganisation = command, !retrying {
                key = .random(for: subject)
                newKey = key
            } else if let living = try await session.livingPersonalDataKey(for: subject) {
                key = living
            } else {
                key = .random(for: subject)
                newKey = key
            }
            for index in newEvents.indices {
                newEvents[index].data = try PersonalDataCipher.seal(
                    type: newEvents[index].type, data: newEvents[index].data, with: key)
            }
            let appended = Int64(newEvents.filter { $0.streamID == stream }.count)
            keyUse = version.map { .init(key: key, version: $0 + appended) }
        }
        return (newEvents, keyUse, newKey)
    }

}

extension CommandHandler {
    /// Applies `requests` in order in one transaction, each under its own savepoint: a
    /// rejected command rolls back alone, and one commit (one WAL flush) serves them all.
    ///
    /// Every command gets exactly the answer `handle` would give it, in the same order:
    /// idempotent replays and §5 rejections. The transaction begins as an append batch
    /// (`EventStore.beginBatchQuery`), which holds the positions lock to its commit, so that its events take positions after every
    /// earlier writer's and before every later one's, as readers need
    /// (docs/architecture.md, "Positions readers can trust"); other writers wait for the
    /// batch's commit, so batches stay short (`import` sends 32 commands). A command that
    /// loses a race (a deadlock with a writer waiting for that lock, a concurrent version)
    /// ends the batch early: the commands before it commit, and the caller goes on from it
    /// in a new transaction, or alone with `handle` when it was the batch's first.
    /// Commands that fold the log to a past position (sign-offs) are not batched:
    /// use `handle` for them.
    /// - Parameter stopOnError: stop at the first rejection; the commands before it commit.
    /// - Returns: one result per command applied, in order: fewer than `requests` when
    ///   stopped at a rejection or ended by a lost race.
    /// - Throws: database errors, `.commitOutcomeUnknown` when the commit's fate is unknown.
    public func handleBatch(_ requests: [CommandRequest], actor: String, stopOnError: Bool = false) async throws
        -> [Result<CommandOutcome, DomainError>]
    {
        let prepared = try requests.map { try Self.prepare($0, actor: actor, correlationId: nil) }
        let applied = try await pool.withConnection { connection in
            try await connection.transaction(after: EventStore.notifyQuery) { connection in
                try await connection.pipelineAll([EventStore.beginBatchQuery, "SAVEPOINT command"])
                var results: [Result<CommandOutcome, DomainError>] = []
                var used: [PersonalDataKeyCache.Use] = []
                for (request, (digest, metadataJSON)) in zip(requests, prepared) {
                    guard
                        let result = try await Self.applyAtSavepoint(
                            request, digest: digest, metadataJSON: metadataJSON, keys: keys, on: connection)
                    else { break }
                    results.append(result.map(\.outcome))
                    if case .success(let applied) = result, let use = applied.keyUse { used.append(use) }
                    if stopOnError, case .failure = result { break }
                }
                return (results: results, used: used)
            }
        }
        // Keys are remembered once committed.
        for use in applied.used { keys.remember(use) }
        return applied.results
    }

    /// One command of a batch, under the savepoint the batch keeps open: applied (the
    /// savepoint released and a new one set for the next command, in one round trip), or
    /// rolled back to it with its §5 answer (it stays set for the next command); nil, rolled
    /// back, when it lost a race (the batch ends there). The batch's commit ends the last one.
    static func applyAtSavepoint(
        _ request: CommandRequest, digest: String, metadataJSON: String, keys: PersonalDataKeyCache,
        on connection: PostgresConnection
    ) async throws -> Result<Applied, DomainError>? {
        do {
            let applied = try await apply(
                request, digest: digest, metadataJSON: metadataJSON, keys: keys, on: connection)
            try await connection.pipelineAll(["RELEASE SAVEPOINT command", "SAVEPOINT command"])
            return .success(applied)
        } catch {
            try await connection.query("ROLLBACK TO SAVEPOINT command")
            if let rejection = error as? DomainError { return .failure(rejection) }
            if case EventStoreError.commandIDReused = error {
                return .failure(
                    DomainError(
                        .conflict, "commandId \"\(request.commandId ?? "")\" was already used with a different payload")
                )
            }
            guard isRetryable(error) else { throw error }
            return nil
        }
    }
}
