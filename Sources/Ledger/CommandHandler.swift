import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresClient
import Projections

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
    public let pool: ConnectionPool
    let logger: Logger
    static let maxAttempts = 5

    public init(pool: ConnectionPool, logger: Logger = Logger(label: "grantledger.commands")) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies `request` as `actor`.
    /// - Throws: `DomainError` when rejected; database errors as they come.
    public func handle(_ request: CommandRequest, actor: String, correlationId: String? = nil) async throws
        -> CommandOutcome
    {
        let digest = EventStore.digest(request.command.canonicalPayload)
        var metadata: [String: String] = ["actor": actor]
        if let commandId = request.commandId { metadata["commandId"] = commandId }
        if let correlationId { metadata["correlationId"] = correlationId }
        let metadataJSON = String(
            decoding: try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys]), as: UTF8.self)

        if let position = request.command.readsIndicatorAt {
            // The rule reads the I.3 read model at a past position: seal the log and project
            // it that far first (waiting up to a minute, holding nothing meanwhile), so that the
            // transaction below finds it there. A position beyond the last recorded event is
            // refused by the rule: no wait then.
            let goal = min(position, try await EventStore(pool: pool).lastRecordedPosition())
            try await ProjectionRunner(pool: pool).sealAndCatchUp(reaching: goal, patience: .seconds(60))
        }
        return try await pool.withConnection { connection in
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await attemptOnce(
                        request, digest: digest, metadataJSON: metadataJSON, connection: connection)
                } catch let error where Self.isRetryable(error) && attempt < Self.maxAttempts {
                    logger.debug(
                        "retrying command after a lost race", metadata: ["command.name": "\(request.command.name)"])
                    continue
                } catch let error where Self.isRetryable(error) {
                    throw DomainError(.conflict, "\(request.command.name): concurrent changes kept winning; try again")
                } catch EventStoreError.commandIDReused {
                    throw DomainError(
                        .conflict, "commandId \"\(request.commandId ?? "")\" was already used with a different payload")
                } catch let error as PostgresError where error.kind == .commitOutcomeUnknown {
                    logger.warning(
                        "connection lost during commit", metadata: ["command.name": "\(request.command.name)"])
                    throw DomainError(
                        .outcomeUnknown,
                        "\(request.command.name): the connection to the database broke while the command was being committed; "
                            + "it may or may not be recorded. "
                            + (request.commandId.map { "Re-send it with commandId \"\($0)\" to find out." }
                                ?? "It carried no commandId, so re-sending it may record it twice."))
                }
            }
        }
    }

    static func isRetryable(_ error: any Error) -> Bool {
        if case EventStoreError.wrongExpectedVersion = error { return true }
        if case EventStoreError.database(let db) = error { return db.sqlState == "40P01" || db.sqlState == "40001" }
        if let db = error as? PostgresError {
            return db.sqlState == "40P01" || db.sqlState == "40001"
                || (db.isUniqueViolation && db.constraint == "commands_pkey")
        }
        return false
    }

    private func attemptOnce(
        _ request: CommandRequest, digest: String, metadataJSON: String, connection: PostgresConnection
    ) async throws -> CommandOutcome {
        let outcome: CommandOutcome = try await connection.transaction { connection in
            let session = StoreSession(connection: connection)
            if let commandId = request.commandId {
                // The same lock append_events takes: retries of one command wait for each other.
                try await session.lock(.command(commandId))
                if let known = try await session.acceptedCommand(commandId) {
                    guard known.payloadDigest == digest else {
                        throw DomainError(
                            .conflict, "commandId \"\(commandId)\" was already used with a different payload")
                    }
                    let events = try await session.events(from: known.firstPosition, to: known.lastPosition)
                    return CommandOutcome(events: events, replayed: true)
                }
            }
            let reader = PostgresStateReader(session: session)
            let decided = try await decide(request.command, reader: reader)
            let versions = await reader.versions
            var expected: [String: ExpectedVersion] = [:]
            for event in decided {
                expected[event.streamID] = .exact(versions[event.streamID] ?? 0)
            }
            let newEvents = decided.map {
                NewEvent(streamID: $0.streamID, type: $0.type, data: $0.dataJSON, metadata: metadataJSON)
            }
            let result = try await session.append(
                newEvents, expected: expected, commandID: request.commandId, payloadDigest: digest)
            return CommandOutcome(events: result.events, replayed: result.replayed)
        }
        if !outcome.replayed {
            try? await EventStore.notify(on: connection)
        }
        return outcome
    }
}
