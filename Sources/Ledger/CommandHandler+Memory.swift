import EventStore
import GrantDomain
import PostgresClient

extension CommandHandler {
    /// Times a command is decided from memory before it goes to the store's locks.
    static let memoryAttempts = 3

    /// Whether `command` may be decided from memory: not a sign-off (which folds the log at
    /// a sealed position) nor an erasure (which destroys a key in its transaction).
    static func decidesFromMemory(_ command: Command) -> Bool {
        switch command {
        case .signOffIndicatorReport, .erasePersonalData: return false
        default: return true
        }
    }

    /// Decides `request` from `memory` and appends it in one round trip with the keys it read,
    /// on the condition that none changed after the position it was decided at (sql/023).
    /// When one did, the memory catches up and the command is decided again, up to
    /// `memoryAttempts` times.
    ///
    /// - Returns: nil when the command must be decided under the store's locks: the memory
    ///   rejects it (the store confirms a rejection, so that a fact the memory has not read
    ///   yet never refuses a command, and a re-sent command id gets its first answer), the
    ///   decision needs what the memory does not keep, it was a re-sent command id, or the
    ///   condition kept failing.
    func handleFromMemory(
        _ request: CommandRequest, digest: String, metadataJSON: String, memory: CommandMemory
    ) async throws -> CommandOutcome? {
        for attempt in 1...Self.memoryAttempts {
            let reader = MemoryStateReader(memory: memory)
            let decided: [DomainEvent]
            do {
                decided = try await decide(request.command, reader: reader)
            } catch is MemoryStateReader.Moved {
                continue
            } catch {
                // A rejection or a read the memory cannot answer.
                return nil
            }
            let reads = reader.reads
            guard let position = reads.position else { return nil }
            var expected: [String: ExpectedVersion] = [:]
            for event in decided { expected[event.streamID] = .exact(reads.versions[event.streamID] ?? 0) }
            do {
                let applied = try await pool.withConnection { connection in
                    try await connection.transaction(after: EventStore.notifyQuery) { connection in
                        let session = StoreSession(connection: connection)
                        let sealed = try await Self.sealTexts(
                            decided, of: request.command, metadataJSON: metadataJSON, versions: reads.versions,
                            reader: reader, keys: keys, retrying: attempt > 1, session: session)
                        let guards = CommandGuards(
                            keys: reads.keys.union(sealed.events.map(\.streamID)), decidedAt: position)
                        let result = try await session.append(
                            sealed.events, expected: expected, commandID: request.commandId, payloadDigest: digest,
                            guards: guards)
                        if let newKey = sealed.newKey, !result.replayed { try await session.addPersonalDataKey(newKey) }
                        return (result, sealed.keyUse)
                    }
                }
                if let use = applied.1 { keys.remember(use) }
                // Keep the memory near the log, so the next decisions rarely meet a newer one.
                memory.startCatchingUp()
                return CommandOutcome(events: applied.0.events, replayed: false)
            } catch is MemoryStateReader.Moved {
                // The texts' subject was read after the memory moved on: decide again.
                continue
            } catch is MemoryStateReader.NotInMemory {
                return nil
            } catch EventStoreError.commandAccepted {
                // A re-sent command id: the store's path answers with the first acceptance's
                // events in full (sql/024).
                return nil
            } catch let error where Self.isRetryable(error) {
                logger.debug(
                    "a command decided from memory met a newer log; catching up",
                    metadata: ["command.name": "\(request.command.name)", "decidedAt": "\(position)"])
                // The other writer is committing: give it a moment, then read what it wrote.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...4) * attempt))
                try await memory.catchUp()
            } catch {
                throw answer(to: error, of: request)
            }
        }
        return nil
    }
}
