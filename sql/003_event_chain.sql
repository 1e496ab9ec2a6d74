-- The global hash chain over the log, one row per event, in position order:
--   chain_hash(p) = sha256(chain_hash(previous position) || events.hash(p)),
-- starting from 32 zero bytes.
--
-- Appends do not compute it: that would make every append queue behind the previous one.
-- seal_events() extends it for the events every reader can already see (below the snapshot
-- xmin), under its own advisory lock. A sealed chain row without its event reveals a
-- deletion; an event without a chain row inside the sealed range reveals an insertion.

CREATE TABLE event_chain (
    position    bigint NOT NULL,
    chain_hash  bytea  NOT NULL,
    CONSTRAINT event_chain_pkey PRIMARY KEY (position)
);

COMMENT ON TABLE event_chain IS 'Global SHA-256 chain over events; append-only.';
