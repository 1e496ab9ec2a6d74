-- The append-only event log: every fact grantledger knows, in the order readers see it.
--
-- Positions come from events_position_seq, but only inside append_events(), which takes the
-- sequence values and the transaction id together under a short session lock. That makes
-- "transaction id order" equal "position order", so a reader that only reads events of
-- transactions older than its snapshot's xmin reads a gap-free prefix of the log and can
-- never skip an event that commits late (see read queries in the EventStore module).

CREATE SEQUENCE events_position_seq AS bigint;

CREATE TABLE events (
    position        bigint      NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL,
    type            text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- The writing transaction; compared with pg_snapshot_xmin() by readers.
    transaction_id  xid8        NOT NULL,
    -- SHA-256 of event_canonical(...) for this row: the content fingerprint.
    hash            bytea       NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (position),
    -- Concurrent writers to one stream collide here: exactly one wins each version.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

COMMENT ON TABLE events IS 'Append-only event log; UPDATE, DELETE and TRUNCATE are refused.';
