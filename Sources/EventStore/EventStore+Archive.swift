import Foundation
import PostgresClient
import Transparency

/// Why an archive could not be imported.
public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    /// The 1-based line of the file at fault, if one is.
    public var line: Int?
    public var message: String

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

extension EventStore {
    /// Writes the sealed log as JSON Lines, one event per line with its integrity fields
    /// (`hash`, `chainHash`), reading in batches so memory stays constant. Every event
    /// committed before the export starts is in it (`sealCommitted`): an erasure recorded a
    /// moment earlier travels with the keys file it already left out.
    /// - Parameters:
    ///   - write: receives each line (without newline).
    ///   - progress: called after each batch with (position reached, head).
    /// - Returns: the head that was exported.
    @discardableResult
    public func export(
        write: @Sendable (String) throws -> Void, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> ChainHead {
        let head = try await sealCommitted()
        try await pool.withConnection { connection in
            var after: Int64 = 0
            while after < head.position {
                // A range of positions per batch: the chain's rows are read by range.
                let upTo = min(after + 5000, head.position)
                let rows = try await connection.query(
                    """
                    SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.data::text, e.metadata::text,
                           e.recorded_at, e.hash, c.chain_hash
                    FROM events e JOIN chain_hashes(\(after), \(upTo)) c ON c.position = e.position
                    WHERE e.position > \(after) AND e.position <= \(upTo)
                    ORDER BY e.position
                    """)
                for row in rows {
                    let recordedAt = try Self.recordingTime(row, 7)
                    let line =
                        "{\"position\":\(try row.decode(Int64.self, 0)),\"streamId\":\(jsonQuoted(try row.decode(String.self, 1))),"
                        + "\"streamVersion\":\(try row.decode(Int64.self, 2)),\"eventId\":\"\(try row.decode(String.self, 3))\","
                        + "\"type\":\(jsonQuoted(try row.decode(String.self, 4))),\"data\":\(try row.decode(String.self, 5)),"
                        + "\"metadata\":\(try row.decode(String.self, 6)),\"recordedAt\":\"\(recordedAt.rfc3339)\","
                        + "\"hash\":\"\(try row.decode([UInt8].self, 8).hexString)\",\"chainHash\":\"\(try row.decode([UInt8].self, 9).hexString)\"}"
                    try write(line)
                }
                after = upTo
                progress(after, head.position)
            }
        }
        return head
    }
}

extension StoreSession {
    /// Loads an exported log into an empty store, verifying every hash and the chain inside
    /// the same transaction before committing: a tampered file is refused whole, naming
    /// the first bad line.
    ///
    /// Needs a role that may insert into the log directly (the migration role).
    ///
    /// Recomputing hashes shows that the file is consistent, not that it is the log it claims
    /// to be: anyone can edit an event and recompute every hash after it. Give `held` (a
    /// signed checkpoint of the original log) or `expectedHead` (a head noted from it) to
    /// refuse an archive that does not extend it.
    /// - Parameter lines: the file's lines, in order.
    /// - Returns: the verified head.
    public func importArchive(
        _ lines: [Substring], extending held: Checkpoint? = nil,
        expectedHead: ChainHead? = nil, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> ChainHead {
        struct Entry: Decodable {
            var position: Int64
            var streamId: String
            var streamVersion: Int64
            var eventId: UUID
            var type: String
            var recordedAt: String
            var hash: String
            var chainHash: String
        }
        return try await connection.transaction { connection in
            let existing = try await connection.query("SELECT count(*) FROM events")[0].decode(Int.self, 0)
            guard existing == 0 else {
                throw ArchiveError(
                    message: "the target log is not empty (\(existing) events); import only into an empty database")
            }
            var lineOfPosition: [Int64: Int] = [:]
            var batch: [String] = []
            let decoder = JSONDecoder()
            var previous: Int64 = 0

            func flush() async throws {
                guard !batch.isEmpty else { return }
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            WITH input AS (SELECT x::jsonb AS x FROM unnest($1::text[]) AS t(x))
                            , inserted AS (
                                INSERT INTO events (position, stream_id, stream_version, event_id, type, data, metadata,
                                                    recorded_at, transaction_id, hash)
                                SELECT (x->>'position')::bigint, x->>'streamId', (x->>'streamVersion')::bigint,
                                       (x->>'eventId')::uuid, x->>'type', x->'data', x->'metadata',
                                       (x->>'recordedAt')::timestamptz, pg_current_xact_id(), decode(x->>'hash', 'hex')
                                FROM input RETURNING 1)
                            INSERT INTO event_chain (position, chain_hash)
                            SELECT (x->>'position')::bigint, decode(x->>'chainHash', 'hex') FROM input
                            """,
                        bindings: [textArray(batch)]))
                batch.removeAll(keepingCapacity: true)
            }

            for (index, raw) in lines.enumerated() {
                let text = raw.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                let entry: Entry
                do {
                    entry = try decoder.decode(Entry.self, from: Data(text.utf8))
                } catch {
                    throw ArchiveError(line: index + 1, message: "not an exported event (\(error))")
                }
                guard entry.position > previous else {
                    throw ArchiveError(
                        line: index + 1, message: "position \(entry.position) does not follow \(previous)")
                }
                guard [UInt8](hexString: entry.hash)?.count == 32, [UInt8](hexString: entry.chainHash)?.count == 32
                else {
                    throw ArchiveError(line: index + 1, message: "hash or chainHash is not 64 hex digits")
                }
                guard RecordingTime(archived: entry.recordedAt) != nil else {
                    throw ArchiveError(
                        line: index + 1,
                        message:
                            "recordedAt \(entry.recordedAt.prefix(40).debugDescription) is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)"
                    )
                }
                guard entry.position >= 1, entry.streamVersion >= 1, !entry.streamId.isEmpty, !entry.type.isEmpty,
                    !entry.streamId.utf8.contains(0), !entry.type.utf8.contains(0)
                else {
                    throw ArchiveError(
                        line: index + 1,
                        message: "position and streamVersion must be ≥ 1, streamId and type non-empty text")
                }
                previous = entry.position
                lineOfPosition[entry.position] = index + 1
                batch.append(text)
                if batch.count == 2000 {
                    do { try await flush() } catch let error as PostgresError {
                        throw ArchiveError(
                            line: nil, message: "the database refused a row near line \(index + 1): \(error)")
                    }
                    progress(entry.position, 0)
                }
            }
            do { try await flush() } catch let error as PostgresError {
                throw ArchiveError(line: nil, message: "the database refused a row: \(error)")
            }
            // The imported events become the leaves of the Merkle tree, as sealing would make them.
            try await connection.query(
                """
                SELECT merkle_extend(
                    (SELECT array_agg(c.position ORDER BY c.position) FROM event_chain c),
                    (SELECT array_agg(e.hash ORDER BY c.position)
                     FROM event_chain c JOIN events e ON e.position = c.position))
                """)
            let report = try await StoreSession(connection: connection).verify()
            guard report.ok else {
                let position = report.firstBadPosition ?? 0
                throw ArchiveError(
                    line: lineOfPosition[position]
                        ?? lineOfPosition.filter { $0.key > position }.min { $0.key < $1.key }?.value,
                    message: report.problem ?? "integrity check failed")
            }
            if let expectedHead {
                let rows = try await connection.query(
                    "SELECT chain_hash FROM chain_hashes(\(expectedHead.position - 1), \(expectedHead.position))")
                guard let stored = rows.first, try stored.decode([UInt8].self, 0).hexString == expectedHead.hash else {
                    throw ArchiveError(
                        line: lineOfPosition[expectedHead.position],
                        message:
                            "the archive's chain does not pass through the expected head \(expectedHead.position):\(expectedHead.hash)"
                    )
                }
            }
            if let held {
                if let problem = try await StoreSession(connection: connection).extensionProblem(
                    of: held, verified: report)
                {
                    throw ArchiveError(line: nil, message: problem)
                }
            }
            if previous > 0 {
                try await connection.query("SELECT setval('events_position_seq', \(previous))")
            }
            return report.head
        }
    }
}
