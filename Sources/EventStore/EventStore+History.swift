import PostgresClient

/// One sealed event as an entity's history lists it: where it stands in the log and the
/// tree, who recorded it, and its data.
public struct SealedEventRow: Sendable {
    public var position: Int64
    /// The event's leaf in the Merkle tree (its rank in the sealed log).
    public var leafIndex: Int64
    public var streamID: String
    public var type: String
    public var recordedAt: RecordingTime?
    public var actor: String?
    public var commandID: String?
    /// The event's content hash.
    public var hash: [UInt8]
    public var data: String
}

extension StoreSession {
    /// The streams other than `except` with an event up to `cut` whose data names `id` under
    /// `pointer` (`grantId`, `organisationId`...), or, with `asMember`, lists it in its
    /// `members[].organisationId`: one scan of the log up to the cut-off.
    public func streams(naming id: String, under pointer: String, asMember: Bool, except: String, upTo cut: Int64)
        async throws -> [String]
    {
        try await connection.query(
            """
            SELECT DISTINCT e.stream_id FROM events e
            WHERE e.position <= \(cut) AND e.stream_id <> \(except)
              AND (e.data ->> \(pointer) = \(id)
                   OR (\(asMember)
                       AND e.data -> 'members' @> jsonb_build_array(jsonb_build_object('organisationId', \(id)::text))))
            """
        ).map { try $0.decode(String.self, 0) }
    }

    /// The sealed events of `streams` after `after` and up to `cut`, in log order, at most
    /// `limit` of them (the stream index does the work).
    public func sealedEvents(of streams: [String], after: Int64, upTo cut: Int64, limit: Int64) async throws
        -> [SealedEventRow]
    {
        try await connection.query(
            """
            SELECT e.position, merkle_leaves_before(e.position), e.stream_id, e.type, e.recorded_at,
                   e.metadata ->> 'actor', e.metadata ->> 'commandId', e.hash, e.data::text
            FROM events e
            WHERE e.position <= least(\(cut), \(unescaped: EventStore.sealedHead)) AND e.position > \(after)
              AND e.stream_id = ANY(\(textArray(streams))::text[])
            ORDER BY e.position
            LIMIT \(limit)
            """
        ).map { row in
            SealedEventRow(
                position: try row.decode(Int64.self, 0), leafIndex: try row.decode(Int64.self, 1),
                streamID: try row.decode(String.self, 2), type: try row.decode(String.self, 3),
                recordedAt: RecordingTime(postgresUTC: try row.decode(String.self, 4)), actor: row.text(5),
                commandID: row.text(6), hash: try row.decode([UInt8].self, 7), data: try row.decode(String.self, 8))
        }
    }

    /// Whether `stream` has an event at or before `position`.
    public func streamExists(_ stream: String, at position: Int64) async throws -> Bool {
        try await !connection.query(
            "SELECT 1 FROM events WHERE stream_id = \(stream) AND position <= \(position) LIMIT 1"
        ).isEmpty
    }

    /// How many seconds the first event after `position` has waited since it was recorded
    /// (zero when there is none): how far behind a reader at `position` is, in time.
    public func secondsWaiting(after position: Int64) async throws -> Double {
        let milliseconds =
            try await connection.query(
                """
                SELECT greatest(extract(epoch FROM now() - recorded_at) * 1000, 0)::bigint FROM events
                WHERE position > \(position) ORDER BY position LIMIT 1
                """
            ).first?.decode(Int64.self, 0) ?? 0
        return Double(milliseconds) / 1000
    }

    /// The events appended but not yet sealed into the chain.
    public func unsealedCount() async throws -> Int64 {
        let count = try await connection.query(
            """
            SELECT (SELECT coalesce(max(position), 0) FROM events)
                 - \(unescaped: EventStore.sealedHead)
            """
        )[0].decode(Int64.self, 0)
        return max(count, 0)
    }
}
