extension PostgresConnection {
    /// On a hot standby, how many seconds the last replayed transaction lags behind now
    /// while WAL it has received is still waiting to be replayed; 0 when caught up, and on
    /// a primary.
    public func replayLag() async throws -> Double {
        let milliseconds = try await query(
            """
            SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL
                             OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE coalesce((extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)
                   END
            """)[0].decode(Int64.self, 0)
        return Double(milliseconds) / 1000
    }
}
