-- The write path's functions without JIT compilation, and append_run()'s keys looked up
-- through the guards' index (docs/performance.md, "JIT on the write path").
--
-- PostgreSQL compiles a statement's plan to machine code when its estimated cost passes
-- jit_above_cost (100,000). The statements of append_run() read JSON arrays through set-
-- returning functions, which the planner estimates at 100 rows each; nested, 10,000 rows,
-- so the stream-version look-up of a run of one command was estimated at 170,000 and
-- compiled on every call: about 7 ms of JIT for a statement that runs in 0.04 ms, most of
-- a POST's time in the database. These functions run short statements many times; none of
-- them gains from JIT, so each says so itself (a function's SET holds whatever the session,
-- role or cluster sets).
--
-- append_run() is restated whole (CREATE OR REPLACE needs the body) with one change beyond
-- that setting: the run's keys are gathered into an array once, and the guard check reads
-- command_guards through its primary key with `key = ANY (keys)`, a plan that holds for
-- generic and custom plans alike, instead of `key IN (a set-returning subquery)`.

CREATE OR REPLACE FUNCTION public.append_run(p_decided_at bigint, p_commands jsonb)
RETURNS TABLE (
    command integer, "position" bigint, stream_id text, stream_version bigint, event_id uuid, type text,
    recorded_at timestamptz, hash bytea
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
    v_xid       xid8 := pg_catalog.pg_current_xact_id_if_assigned();
    v_key       text;
    v_keys      text[];
    v_seen      bigint;
    v_id        text;
    v_same      boolean;
    v_stream    text;
    v_want      bigint;
    v_have      bigint;
    v_versions  jsonb;
    v_count     bigint;
    v_positions bigint[];
    v_now       timestamptz;
BEGIN
    IF v_xid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.append_batches b WHERE b.transaction_id = v_xid) THEN
        RAISE EXCEPTION 'append_run must get this transaction''s id itself: the transaction wrote before the run'
            USING ERRCODE = 'GL006';
    END IF;
    IF p_decided_at IS NULL OR pg_catalog.jsonb_typeof(p_commands) IS DISTINCT FROM 'array'
       OR pg_catalog.jsonb_array_length(p_commands) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'append_run needs a position and 1 to 1000 commands' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)
               WHERE pg_catalog.jsonb_typeof(c -> 'events') IS DISTINCT FROM 'array'
                  OR pg_catalog.jsonb_array_length(c -> 'events') = 0
                  OR pg_catalog.jsonb_typeof(c -> 'keys') IS DISTINCT FROM 'array'
                  OR pg_catalog.jsonb_array_length(c -> 'keys') > 256
                  OR pg_catalog.jsonb_typeof(c -> 'expected') IS DISTINCT FROM 'object') THEN
        RAISE EXCEPTION 'each command of a run needs events, at most 256 keys and its expected versions'
            USING ERRCODE = '22023';
    END IF;

    -- The keys: held by no other transaction, and recorded after p_decided_at by none.
    SELECT coalesce(pg_catalog.array_agg(DISTINCT k ORDER BY k), '{}') INTO v_keys
    FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c),
         pg_catalog.jsonb_array_elements_text(c -> 'keys') AS k(k);
    SELECT k INTO v_key
    FROM pg_catalog.unnest(v_keys) AS k(k)
    WHERE NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(k, 0))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'decided at position %, but % is being changed', p_decided_at, v_key USING ERRCODE = '40001';
    END IF;
    SELECT g.key, g.position INTO v_key, v_seen
    FROM public.command_guards g
    WHERE g.key = ANY (v_keys)
      AND g.position > p_decided_at
      AND g.xmin IS DISTINCT FROM pg_catalog.xid(v_xid)
    ORDER BY g.position DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'decided at position %, but % changed at position %', p_decided_at, v_key, v_seen
            USING ERRCODE = '40001';
    END IF;

    -- The command ids: each once, none accepted before.
    SELECT c ->> 'commandId' INTO v_id
    FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)
    WHERE c ->> 'commandId' IS NOT NULL
    GROUP BY 1 HAVING pg_catalog.count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'command % appears twice in the run', v_id USING ERRCODE = 'GL007';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(ids.id, 7263543))
    FROM (SELECT c ->> 'commandId' AS id FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)
          WHERE c ->> 'commandId' IS NOT NULL ORDER BY 1) ids;
    SELECT k.command_id, k.payload_digest = c ->> 'digest' INTO v_id, v_same
    FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)
    JOIN public.commands k ON k.command_id = c ->> 'commandId'
    LIMIT 1;
    IF FOUND AND v_same THEN
        RAISE EXCEPTION 'command % was accepted before: its answer is the first acceptance''s', v_id
            USING ERRCODE = 'GL007';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'commandId % was already used with a different payload', v_id USING ERRCODE = 'GL002';
    END IF;

    -- Every stream's version before the run, then each command's expectations against it
    -- and the events of the commands before it.
    SELECT pg_catalog.jsonb_object_agg(s.sid, coalesce(
               (SELECT e.stream_version FROM public.events e WHERE e.stream_id = s.sid
                ORDER BY e.stream_version DESC LIMIT 1), 0))
    INTO v_versions
    FROM (SELECT e ->> 'streamId' AS sid FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c),
                 pg_catalog.jsonb_array_elements(c -> 'events') AS e(e)
          UNION
          SELECT pg_catalog.jsonb_object_keys(c -> 'expected') FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)) s;
    WITH runs AS (
        SELECT x.cmd, x.ord FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(cmd, ord)
    ), written AS (
        SELECT r.ord, e ->> 'streamId' AS sid
        FROM runs r, pg_catalog.jsonb_array_elements(r.cmd -> 'events') AS e(e)
    ), expected AS (
        SELECT r.ord, w.key AS sid, w.value AS want
        FROM runs r, pg_catalog.jsonb_each(r.cmd -> 'expected') w
        WHERE pg_catalog.jsonb_typeof(w.value) = 'number'
    )
    SELECT x.sid, x.want::bigint,
           (v_versions ->> x.sid)::bigint + (SELECT pg_catalog.count(*) FROM written w WHERE w.sid = x.sid AND w.ord < x.ord)
    INTO v_stream, v_want, v_have
    FROM expected x
    WHERE x.want::bigint <> (v_versions ->> x.sid)::bigint
                            + (SELECT pg_catalog.count(*) FROM written w WHERE w.sid = x.sid AND w.ord < x.ord)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', v_stream, v_have, v_want USING ERRCODE = 'GL001';
    END IF;

    -- The transaction's id and the run's positions together, under the positions lock
    -- (re-entrant within a batch, which holds it to commit). The block's handler gives the
    -- lock back whatever fails in between, cancellation included.
    SELECT pg_catalog.sum(pg_catalog.jsonb_array_length(c -> 'events')) INTO v_count
    FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c);
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
    WITH flat AS (
        SELECT x.ord::integer AS ord,
               pg_catalog.row_number() OVER (ORDER BY x.ord, e.n) AS g,
               e."streamId" AS sid, e."eventId" AS eid, e.type AS typ, e.data AS dat, e.metadata AS meta
        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(cmd, ord),
             ROWS FROM (pg_catalog.jsonb_to_recordset(x.cmd -> 'events')
                  AS ("streamId" text, "eventId" uuid, type text, data jsonb, metadata jsonb))
             WITH ORDINALITY AS e("streamId", "eventId", type, data, metadata, n)
    ), numbered AS (
        SELECT f.ord, v_positions[f.g] AS pos, f.sid,
               (v_versions ->> f.sid)::bigint + pg_catalog.row_number() OVER (PARTITION BY f.sid ORDER BY f.g) AS ver,
               f.eid, f.typ, f.dat, f.meta
        FROM flat f
    ), inserted AS (
        INSERT INTO public.events AS e (position, stream_id, stream_version, event_id, type, data, metadata,
                                        recorded_at, transaction_id, hash)
        SELECT n.pos, n.sid, n.ver, n.eid, n.typ, n.dat, n.meta, v_now, v_xid,
               pg_catalog.sha256(pg_catalog.convert_to(
                   public.event_canonical(n.pos, n.sid, n.ver, n.eid, n.typ, n.dat, n.meta, v_now), 'UTF8'))
        FROM numbered n
        RETURNING e.position, e.stream_id, e.stream_version, e.event_id, e.type, e.recorded_at, e.hash
    )
    SELECT n.ord, i.position, i.stream_id, i.stream_version, i.event_id, i.type, i.recorded_at, i.hash
    FROM inserted i JOIN numbered n ON n.pos = i.position
    ORDER BY i.position;

    -- Each command's record, and its keys at its last position.
    WITH runs AS (
        SELECT x.cmd,
               pg_catalog.sum(pg_catalog.jsonb_array_length(x.cmd -> 'events')) OVER (ORDER BY x.ord) AS upto,
               pg_catalog.jsonb_array_length(x.cmd -> 'events') AS n
        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(cmd, ord)
    )
    INSERT INTO public.commands (command_id, payload_digest, first_position, last_position, recorded_at)
    SELECT r.cmd ->> 'commandId', r.cmd ->> 'digest', v_positions[r.upto - r.n + 1], v_positions[r.upto], v_now
    FROM runs r WHERE r.cmd ->> 'commandId' IS NOT NULL;
    WITH runs AS (
        SELECT x.cmd, pg_catalog.sum(pg_catalog.jsonb_array_length(x.cmd -> 'events')) OVER (ORDER BY x.ord) AS upto
        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(cmd, ord)
    )
    INSERT INTO public.command_guards AS g (key, "position")
    SELECT k, pg_catalog.max(v_positions[r.upto])
    FROM runs r, pg_catalog.jsonb_array_elements_text(r.cmd -> 'keys') AS k(k)
    GROUP BY k ORDER BY k
    ON CONFLICT (key) DO UPDATE SET "position" = GREATEST(g.position, EXCLUDED.position);
END
$$;

REVOKE ALL ON FUNCTION public.append_run(bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.append_run(bigint, jsonb) TO grantledger_app;

ALTER FUNCTION public.append_guarded(text, text, jsonb, jsonb, text[], bigint) SET jit = off;
ALTER FUNCTION public.append_events(text, text, jsonb, jsonb) SET jit = off;
ALTER FUNCTION public.seal_events() SET jit = off;
ALTER FUNCTION public.merkle_extend(bigint[], bytea[]) SET jit = off;
ALTER FUNCTION public.personal_data_key_add(uuid, text, bytea) SET jit = off;
