-- Accepted command ids, for idempotency: a command id maps to the events its first
-- acceptance recorded (a contiguous position range) and to a digest of its payload, so a
-- re-send with another payload can be told apart from a retry.

CREATE TABLE commands (
    command_id      text        NOT NULL,
    payload_digest  text        NOT NULL,
    first_position  bigint      NOT NULL,
    last_position   bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL,
    CONSTRAINT commands_pkey PRIMARY KEY (command_id),
    CONSTRAINT commands_command_id_length CHECK (length(command_id) BETWEEN 1 AND 128)
);
