-- Position order enforced by the database.
--
-- Readers (sealing, projections, reports) read the events of transactions older than their
-- snapshot's xmin, which is a gap-free prefix of the log only if transaction ids and
-- positions grow in the same order. append_events() took both under one lock, but nothing
-- stopped a caller from taking its transaction id earlier (SELECT pg_current_xact_id(), or
-- any write to a read model) and appending afterwards: an old id with new positions. Two
-- such sessions of the application role made sealing pass over another writer's accepted
-- event for good.
--
-- Now:
--   * append_events() refuses (GL006) a transaction that already has an id, unless that id
--     was taken by begin_append_batch();
--   * begin_append_batch() is the one way to append several times in one transaction (the
--     import batches): it refuses a transaction that already has an id, takes the positions
--     lock until commit, takes the id under it and records it in append_batches, which
--     only the owner writes. Other writers wait for the batch's commit, so its positions
--     and its id stay in order with theirs.

CREATE TABLE public.append_batches (
    transaction_id xid8 NOT NULL,
    CONSTRAINT append_batches_pkey PRIMARY KEY (transaction_id)
);
COMMENT ON TABLE public.append_batches IS
    'Transactions begun by begin_append_batch(): the only ones append_events() lets append after taking an id.';

CREATE FUNCTION public.begin_append_batch() RETURNS xid8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_xid xid8;
BEGIN
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'begin_append_batch must be the first write of its transaction'
            USING ERRCODE = 'GL006';
    END IF;
    -- Held until commit or rollback: no other append takes a position meanwhile.
    PERFORM pg_catalog.pg_advisory_xact_lock(7263541);
    -- Batches that have ended (older than every open transaction) need no record.
    DELETE FROM public.append_batches b
    WHERE b.transaction_id < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());
    v_xid := pg_catalog.pg_current_xact_id();
    INSERT INTO public.append_batches (transaction_id) VALUES (v_xid);
    RETURN v_xid;
END
$$;

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
    -- The order the readers rely on holds only if this transaction gets its id here, under
    -- the lock, or got it under the lock that begin_append_batch() holds until commit. A
    -- transaction that took its id earlier (pg_current_xact_id(), any write) would take an
    -- old id with new positions: refused.
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM public.append_batches b
                       WHERE b.transaction_id = pg_catalog.pg_current_xact_id_if_assigned()) THEN
        RAISE EXCEPTION 'append_events must get this transaction''s id itself: the transaction wrote before the append (use begin_append_batch() first for several appends in one transaction)'
            USING ERRCODE = 'GL006';
    END IF;

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

REVOKE ALL ON public.append_batches FROM PUBLIC;
REVOKE ALL ON FUNCTION public.begin_append_batch() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.begin_append_batch() TO grantledger_app;
