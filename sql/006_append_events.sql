-- append_events: the only way events enter the log.
--
--   p_command_id   the caller's command id, or NULL for no idempotency
--   p_digest       a digest of the command payload (compared on re-sends)
--   p_expected     {"<stream id>": <version> | null}: the version each stream must be at
--                  (0 = the stream must not exist yet); null = any version
--   p_events       [{"streamId", "eventId", "type", "data", "metadata"}, ...] in order
--
-- Returns the recorded events; "replayed" is true when the command id was already accepted
-- with the same digest and nothing new was written.
--
-- Errors: GL001 a stream is not at the expected version; GL002 the command id was accepted
-- with another payload; 23505 on events_stream_version_key or commands_pkey when a
-- concurrent writer won (the caller retries or reports a conflict).
--
-- No NOTIFY here: a NOTIFY inside the writing transaction takes a global lock through the
-- commit's WAL flush and serializes all appends. The store notifies right after commit.
--
-- Runs as its owner (SECURITY DEFINER): the application role may call it but cannot insert
-- into the log directly.

CREATE FUNCTION append_events(
    p_command_id text, p_digest text, p_expected jsonb, p_events jsonb
) RETURNS TABLE (
    "position" bigint, stream_id text, stream_version bigint, event_id uuid, type text,
    recorded_at timestamptz, hash bytea, replayed boolean
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    v_known     commands%ROWTYPE;
    v_stream    text;
    v_want      jsonb;
    v_current   bigint;
    v_versions  jsonb := '{}';
    v_count     int := jsonb_array_length(p_events);
    v_positions bigint[];
    v_xid       xid8;
    v_now       timestamptz;
BEGIN
    IF v_count = 0 THEN
        RAISE EXCEPTION 'append_events needs at least one event' USING ERRCODE = '22023';
    END IF;

    IF p_command_id IS NOT NULL THEN
        -- Appends with the same command id wait for each other (until commit), so the
        -- second one finds the first one's record and replays it. No transaction id is
        -- taken by an advisory lock, which matters for the ordering below.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_command_id, 7263543));
        SELECT * INTO v_known FROM commands c WHERE c.command_id = p_command_id;
        IF FOUND THEN
            IF v_known.payload_digest <> p_digest THEN
                RAISE EXCEPTION 'commandId % was already used with a different payload', p_command_id
                    USING ERRCODE = 'GL002';
            END IF;
            RETURN QUERY
                SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.type,
                       e.recorded_at, e.hash, true
                FROM events e
                WHERE e.position BETWEEN v_known.first_position AND v_known.last_position
                ORDER BY e.position;
            RETURN;
        END IF;
    END IF;

    -- Current version of every stream written to; check the expectations.
    -- Streams only named in p_expected are checked too (a guard read, not written).
    FOR v_stream, v_want IN
        SELECT k, p_expected -> k
        FROM (SELECT x."streamId" AS k FROM jsonb_to_recordset(p_events) AS x("streamId" text)
              UNION
              SELECT jsonb_object_keys(p_expected)) streams
    LOOP
        SELECT e.stream_version INTO v_current
        FROM events e WHERE e.stream_id = v_stream
        ORDER BY e.stream_version DESC LIMIT 1;
        v_current := coalesce(v_current, 0);
        IF jsonb_typeof(v_want) = 'number' AND v_want::bigint <> v_current THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', v_stream, v_current, v_want::bigint
                USING ERRCODE = 'GL001';
        END IF;
        v_versions := v_versions || jsonb_build_object(v_stream, v_current);
    END LOOP;

    -- Take the transaction id and the positions together, under a session-level lock held
    -- only for these two calls (not until commit). Nothing before this point wrote, so the
    -- transaction id is assigned here, and ids and positions grow in the same order across
    -- all writers. Commits still run in parallel.
    PERFORM pg_advisory_lock(7263541);
    v_xid := pg_current_xact_id();
    SELECT array_agg(nextval('events_position_seq') ORDER BY g) INTO v_positions
    FROM generate_series(1, v_count) g;
    PERFORM pg_advisory_unlock(7263541);

    v_now := clock_timestamp();

    RETURN QUERY
    WITH numbered AS (
        SELECT v_positions[x.n] AS pos, x."streamId" AS sid,
               (v_versions ->> x."streamId")::bigint
                   + row_number() OVER (PARTITION BY x."streamId" ORDER BY x.n) AS ver,
               x."eventId" AS eid, x.type AS typ, x.data AS dat, x.metadata AS meta
        FROM ROWS FROM (jsonb_to_recordset(p_events)
                 AS ("streamId" text, "eventId" uuid, type text, data jsonb, metadata jsonb))
             WITH ORDINALITY AS x("streamId", "eventId", type, data, metadata, n)
    ), inserted AS (
        INSERT INTO events AS e (position, stream_id, stream_version, event_id, type, data, metadata,
                                 recorded_at, transaction_id, hash)
        SELECT pos, sid, ver, eid, typ, dat, meta, v_now, v_xid,
               sha256(convert_to(event_canonical(pos, sid, ver, eid, typ, dat, meta, v_now), 'UTF8'))
        FROM numbered
        RETURNING e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.recorded_at, e.hash
    )
    SELECT i.position, i.stream_id, i.stream_version, i.event_id, i.type, i.recorded_at, i.hash, false
    FROM inserted i ORDER BY i.position;

    IF p_command_id IS NOT NULL THEN
        INSERT INTO commands (command_id, payload_digest, first_position, last_position, recorded_at)
        VALUES (p_command_id, p_digest, v_positions[1], v_positions[v_count], v_now);
    END IF;
END
$$;
