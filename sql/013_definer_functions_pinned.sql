-- The two SECURITY DEFINER functions, redefined so that nothing the caller controls can
-- redirect them (PostgreSQL manual, "Writing SECURITY DEFINER Functions Safely"):
--
--   * search_path is fixed to public followed by pg_temp, written last. 006 and 007 pinned
--     the migration session's path ("$user", public), and "$user" inside a definer function
--     is the owner: a schema named after the owner, created by anybody with CREATE on the
--     database, would have been searched first.
--   * every table, sequence and function is schema-qualified, so even a temporary object of
--     the same name (pg_temp is a schema too) is never what the function reads or writes.
--
-- append_events also releases its short session lock on every path: an error between the
-- lock and the unlock (a cancelled statement, an exhausted sequence) used to leave it held
-- on the connection, and every other writer then waited for it forever.

CREATE OR REPLACE FUNCTION public.append_events(
    p_command_id text, p_digest text, p_expected jsonb, p_events jsonb
) RETURNS TABLE (
    "position" bigint, stream_id text, stream_version bigint, event_id uuid, type text,
    recorded_at timestamptz, hash bytea, replayed boolean
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_known     public.commands%ROWTYPE;
    v_stream    text;
    v_want      jsonb;
    v_current   bigint;
    v_versions  jsonb := '{}';
    v_count     int := pg_catalog.jsonb_array_length(p_events);
    v_positions bigint[];
    v_xid       xid8;
    v_now       timestamptz;
BEGIN
    IF v_count = 0 THEN
        RAISE EXCEPTION 'append_events needs at least one event' USING ERRCODE = '22023';
    END IF;

    IF p_command_id IS NOT NULL THEN
        -- Appends with the same command id wait for each other (until commit), so the
        -- second one finds the first one's record and replays it.
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(p_command_id, 7263543));
        SELECT * INTO v_known FROM public.commands c WHERE c.command_id = p_command_id;
        IF FOUND THEN
            IF v_known.payload_digest <> p_digest THEN
                RAISE EXCEPTION 'commandId % was already used with a different payload', p_command_id
                    USING ERRCODE = 'GL002';
            END IF;
            RETURN QUERY
                SELECT e.position, e.stream_id, e.stream_version, e.event_id, e.type,
                       e.recorded_at, e.hash, true
                FROM public.events e
                WHERE e.position BETWEEN v_known.first_position AND v_known.last_position
                ORDER BY e.position;
            RETURN;
        END IF;
    END IF;

    -- Current version of every stream written to or only named in p_expected (a guard
    -- read, not written); check the expectations.
    FOR v_stream, v_want IN
        SELECT k, p_expected -> k
        FROM (SELECT x."streamId" AS k
              FROM pg_catalog.jsonb_to_recordset(p_events) AS x("streamId" text)
              UNION
              SELECT pg_catalog.jsonb_object_keys(p_expected)) streams
    LOOP
        SELECT e.stream_version INTO v_current
        FROM public.events e WHERE e.stream_id = v_stream
        ORDER BY e.stream_version DESC LIMIT 1;
        v_current := coalesce(v_current, 0);
        IF pg_catalog.jsonb_typeof(v_want) = 'number' AND v_want::bigint <> v_current THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', v_stream, v_current, v_want::bigint
                USING ERRCODE = 'GL001';
        END IF;
        v_versions := v_versions || pg_catalog.jsonb_build_object(v_stream, v_current);
    END LOOP;

    -- Take the transaction id and the positions together, under a session-level lock held
    -- only for these two calls (not until commit), so that ids and positions grow in the
    -- same order across all writers while commits still run in parallel. The block's
    -- handler gives the lock back whatever fails in between, cancellation included.
    BEGIN
        PERFORM pg_catalog.pg_advisory_lock(7263541);
        v_xid := pg_catalog.pg_current_xact_id();
        SELECT pg_catalog.array_agg(pg_catalog.nextval('public.events_position_seq'::regclass) ORDER BY g)
        INTO v_positions
        FROM pg_catalog.generate_series(1, v_count) g;
        PERFORM pg_catalog.pg_advisory_unlock(7263541);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_catalog.pg_advisory_unlock(7263541);
        RAISE;
    END;

    v_now := pg_catalog.clock_timestamp();

    RETURN QUERY
    WITH numbered AS (
        SELECT v_positions[x.n] AS pos, x."streamId" AS sid,
               (v_versions ->> x."streamId")::bigint
                   + row_number() OVER (PARTITION BY x."streamId" ORDER BY x.n) AS ver,
               x."eventId" AS eid, x.type AS typ, x.data AS dat, x.metadata AS meta
        FROM ROWS FROM (pg_catalog.jsonb_to_recordset(p_events)
                 AS ("streamId" text, "eventId" uuid, type text, data jsonb, metadata jsonb))
             WITH ORDINALITY AS x("streamId", "eventId", type, data, metadata, n)
    ), inserted AS (
        INSERT INTO public.events AS e (position, stream_id, stream_version, event_id, type, data, metadata,
                                        recorded_at, transaction_id, hash)
        SELECT pos, sid, ver, eid, typ, dat, meta, v_now, v_xid,
               pg_catalog.sha256(pg_catalog.convert_to(
                   public.event_canonical(pos, sid, ver, eid, typ, dat, meta, v_now), 'UTF8'))
        FROM numbered
        RETURNING e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.recorded_at, e.hash
    )
    SELECT i.position, i.stream_id, i.stream_version, i.event_id, i.type, i.recorded_at, i.hash, false
    FROM inserted i ORDER BY i.position;

    IF p_command_id IS NOT NULL THEN
        INSERT INTO public.commands (command_id, payload_digest, first_position, last_position, recorded_at)
        VALUES (p_command_id, p_digest, v_positions[1], v_positions[v_count], v_now);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION public.seal_events() RETURNS TABLE ("position" bigint, chain_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_last      bigint;
    v_hash      bytea;
    v_positions bigint[] := '{}';
    v_hashes    bytea[] := '{}';
    r           record;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    SELECT c.position, c.chain_hash INTO v_last, v_hash
    FROM public.event_chain c ORDER BY c.position DESC LIMIT 1;
    v_last := coalesce(v_last, 0);
    v_hash := coalesce(v_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    FOR r IN
        SELECT e.position, e.hash FROM public.events e
        WHERE e.position > v_last
          AND e.transaction_id < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
        ORDER BY e.position
    LOOP
        v_hash := pg_catalog.sha256(v_hash || r.hash);
        v_last := r.position;
        v_positions := v_positions || r.position;
        v_hashes := v_hashes || v_hash;
    END LOOP;

    INSERT INTO public.event_chain (position, chain_hash)
    SELECT * FROM unnest(v_positions, v_hashes);  -- the multi-argument form is syntax, not a function

    RETURN QUERY SELECT v_last, v_hash;
END
$$;
