-- append_run() restated leaner (docs/performance.md, "A leaner append_run()").
--
-- Same arguments, same rows returned, same conditions, refusals and SQLSTATEs as sql/025
-- and sql/026; what changes is how much work PostgreSQL does per call. A profile of the
-- backend under pgbench (deploy/bench/append-run.sh) showed a run of one command costing
-- about 720 us of CPU, of which the statements' own work was a small part: the rest was
-- starting executors, planning custom plans again on every call, and setting up hash tables
-- sized for PostgreSQL's guess of 100 x 100 rows from each JSON array (GROUP BY, UNION,
-- DISTINCT), to aggregate one or two rows. This version:
--
--   * reads the run once into arrays (ids, digests, each command's last event's index in the
--     run, the sorted keys and streams, an id given twice) instead of walking the JSON again
--     in every statement;
--   * reads everything it checks (the guards, the ids accepted before, the streams'
--     versions and each command's expectations) in one statement, after the keys' and ids'
--     locks are held, as before (a statement's snapshot is taken when it starts, so reading
--     must follow locking in a later statement);
--   * sorts where it grouped: no hash aggregate remains;
--   * writes the events, the commands rows and the guards in one statement;
--   * keeps one generic plan per statement (plan_cache_mode). Each look-up is a subquery
--     per key, id or stream with LIMIT 1, which the planner keeps as an index scan through
--     command_guards_pkey, commands_pkey or events_stream_version_key whatever the tables'
--     size; `command_id = ANY (ids)` was planned as a sequential scan of a small table.
--
-- Measured with pgbench as in deploy/bench/append-run.sh, one client: about 720 -> 520 us
-- of backend CPU per call.

CREATE OR REPLACE FUNCTION public.append_run(p_decided_at bigint, p_commands jsonb)
RETURNS TABLE (
    command integer, "position" bigint, stream_id text, stream_version bigint, event_id uuid, type text,
    recorded_at timestamptz, hash bytea
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_xid       xid8 := pg_catalog.pg_current_xact_id_if_assigned();
    v_valid     boolean;
    v_ids       text[];
    v_digests   text[];
    v_upto      integer[];
    v_keys      text[];
    v_streams   text[];
    v_twice     text;
    v_key       text;
    v_versions  jsonb;
    v_changed   text;
    v_known     text;
    v_mismatch  text;
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

    -- The run read once: each command's shape, id, digest and last event's index in the run;
    -- the keys and the streams, sorted and each once; an id given twice.
    WITH run AS (
        SELECT x.ord, x.c ->> 'commandId' AS id, x.c ->> 'digest' AS digest,
               (pg_catalog.jsonb_typeof(x.c -> 'events') = 'array'
                AND pg_catalog.jsonb_array_length(x.c -> 'events') > 0
                AND pg_catalog.jsonb_typeof(x.c -> 'keys') = 'array'
                AND pg_catalog.jsonb_array_length(x.c -> 'keys') <= 256
                AND pg_catalog.jsonb_typeof(x.c -> 'expected') = 'object') IS TRUE AS valid,
               CASE WHEN pg_catalog.jsonb_typeof(x.c -> 'events') = 'array'
                    THEN pg_catalog.jsonb_array_length(x.c -> 'events') ELSE 0 END AS n
        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(c, ord)
    )
    SELECT pg_catalog.bool_and(k.valid),
           pg_catalog.array_agg(k.id ORDER BY k.ord),
           pg_catalog.array_agg(k.digest ORDER BY k.ord),
           pg_catalog.array_agg(k.upto::integer ORDER BY k.ord)
    INTO v_valid, v_ids, v_digests, v_upto
    FROM (SELECT r.*, pg_catalog.sum(r.n) OVER (ORDER BY r.ord) AS upto FROM run r) k;
    IF NOT v_valid THEN
        RAISE EXCEPTION 'each command of a run needs events, at most 256 keys and its expected versions'
            USING ERRCODE = '22023';
    END IF;
    SELECT (SELECT coalesce(pg_catalog.array_agg(DISTINCT k ORDER BY k), '{}')
            FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c),
                 pg_catalog.jsonb_array_elements_text(c -> 'keys') AS k(k)),
           (SELECT pg_catalog.array_agg(DISTINCT s ORDER BY s)
            FROM (SELECT e ->> 'streamId' FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c),
                         pg_catalog.jsonb_array_elements(c -> 'events') AS e(e)
                  UNION ALL
                  SELECT pg_catalog.jsonb_object_keys(c -> 'expected')
                  FROM pg_catalog.jsonb_array_elements(p_commands) AS c(c)) AS s(s)),
           (SELECT t.id FROM (SELECT i.id, pg_catalog.lag(i.id) OVER (ORDER BY i.id) AS before
                              FROM pg_catalog.unnest(v_ids) AS i(id) WHERE i.id IS NOT NULL) t
            WHERE t.id = t.before LIMIT 1)
    INTO v_keys, v_streams, v_twice;

    -- The keys, held by no other transaction; then the command ids, in order. What the run
    -- was decided under is read after both are held, in a statement of its own.
    SELECT k INTO v_key
    FROM pg_catalog.unnest(v_keys) AS k(k)
    WHERE NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(k, 0))
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'decided at position %, but % is being changed', p_decided_at, v_key USING ERRCODE = '40001';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(i.id, 7263543))
    FROM (SELECT DISTINCT i.id FROM pg_catalog.unnest(v_ids) AS i(id) WHERE i.id IS NOT NULL ORDER BY i.id) i;

    -- No key recorded after p_decided_at by another transaction, no id accepted before, and
    -- each command's expected versions met by the streams as they stand plus the events of
    -- the commands before it.
    WITH versions AS (
        SELECT pg_catalog.jsonb_object_agg(s.sid, coalesce(
                   (SELECT e.stream_version FROM public.events e WHERE e.stream_id = s.sid
                    ORDER BY e.stream_version DESC LIMIT 1), 0)) AS v
        FROM pg_catalog.unnest(v_streams) AS s(sid)
    )
    SELECT versions.v,
           (SELECT pg_catalog.format('%s changed at position %s', g.key, g.position)
            FROM pg_catalog.unnest(v_keys) AS k(k),
                 LATERAL (SELECT g.key, g.position, g.xmin FROM public.command_guards g WHERE g.key = k.k LIMIT 1) g
            WHERE g.position > p_decided_at AND g.xmin IS DISTINCT FROM pg_catalog.xid(v_xid)
            ORDER BY g.position DESC LIMIT 1),
           (SELECT k.command_id
            FROM pg_catalog.unnest(v_ids) AS i(id),
                 LATERAL (SELECT k.command_id FROM public.commands k WHERE k.command_id = i.id LIMIT 1) k
            LIMIT 1),
           (SELECT pg_catalog.format('stream %s is at version %s, expected %s', t.sid, t.have, t.want)
            FROM (SELECT u.expectation, u.sid, u.want,
                         (versions.v ->> u.sid)::bigint
                         + pg_catalog.count(*) FILTER (WHERE NOT u.expectation)
                               OVER (PARTITION BY u.sid ORDER BY u.ord, u.expectation DESC ROWS UNBOUNDED PRECEDING)
                           AS have
                  FROM (SELECT true AS expectation, x.ord, w.key AS sid, w.value::bigint AS want
                        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(c, ord),
                             pg_catalog.jsonb_each(x.c -> 'expected') AS w
                        WHERE pg_catalog.jsonb_typeof(w.value) = 'number'
                        UNION ALL
                        SELECT false, x.ord, e ->> 'streamId', NULL
                        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(c, ord),
                             pg_catalog.jsonb_array_elements(x.c -> 'events') AS e(e)) u) t
            WHERE t.expectation AND t.want <> t.have LIMIT 1)
    INTO v_versions, v_changed, v_known, v_mismatch
    FROM versions;
    IF v_changed IS NOT NULL THEN
        RAISE EXCEPTION 'decided at position %, but %', p_decided_at, v_changed USING ERRCODE = '40001';
    ELSIF v_twice IS NOT NULL THEN
        RAISE EXCEPTION 'command % appears twice in the run', v_twice USING ERRCODE = 'GL007';
    ELSIF v_known IS NOT NULL AND EXISTS (SELECT 1 FROM public.commands k WHERE k.command_id = v_known
                                            AND k.payload_digest = v_digests[pg_catalog.array_position(v_ids, v_known)]) THEN
        RAISE EXCEPTION 'command % was accepted before: its answer is the first acceptance''s', v_known
            USING ERRCODE = 'GL007';
    ELSIF v_known IS NOT NULL THEN
        RAISE EXCEPTION 'commandId % was already used with a different payload', v_known USING ERRCODE = 'GL002';
    ELSIF v_mismatch IS NOT NULL THEN
        RAISE EXCEPTION '%', v_mismatch USING ERRCODE = 'GL001';
    END IF;

    -- The transaction's id and the run's positions together, under the positions lock
    -- (re-entrant within a batch, which holds it to commit). The block's handler gives the
    -- lock back whatever fails in between, cancellation included.
    BEGIN
        PERFORM pg_catalog.pg_advisory_lock(7263541);
        SELECT pg_catalog.pg_current_xact_id(),
               pg_catalog.array_agg(pg_catalog.nextval('public.events_position_seq'::regclass) ORDER BY g)
        INTO v_xid, v_positions
        FROM pg_catalog.generate_series(1, v_upto[pg_catalog.cardinality(v_upto)]) g;
        PERFORM pg_catalog.pg_advisory_unlock(7263541);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_catalog.pg_advisory_unlock(7263541);
        RAISE;
    END;
    v_now := pg_catalog.clock_timestamp();

    -- The events, each command's record and every key's guard at the last position of the
    -- last command that held it, in one statement.
    RETURN QUERY
    WITH numbered AS (
        SELECT f.ord, f.pos, f.sid, f.ver, f.eid, f.typ, f.dat, f.meta,
               pg_catalog.sha256(pg_catalog.convert_to(
                   public.event_canonical(f.pos, f.sid, f.ver, f.eid, f.typ, f.dat, f.meta, v_now), 'UTF8')) AS hash
        FROM (SELECT x.ord::integer AS ord, v_positions[coalesce(v_upto[x.ord - 1], 0) + e.n] AS pos,
                     e."streamId" AS sid,
                     (v_versions ->> e."streamId")::bigint
                     + pg_catalog.row_number() OVER (PARTITION BY e."streamId" ORDER BY x.ord, e.n) AS ver,
                     e."eventId" AS eid, e.type AS typ, e.data AS dat, e.metadata AS meta
              FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(c, ord),
                   ROWS FROM (pg_catalog.jsonb_to_recordset(x.c -> 'events')
                        AS ("streamId" text, "eventId" uuid, type text, data jsonb, metadata jsonb))
                   WITH ORDINALITY AS e("streamId", "eventId", type, data, metadata, n)) f
    ), appended AS (
        INSERT INTO public.events (position, stream_id, stream_version, event_id, type, data, metadata,
                                   recorded_at, transaction_id, hash)
        SELECT n.pos, n.sid, n.ver, n.eid, n.typ, n.dat, n.meta, v_now, v_xid, n.hash
        FROM numbered n
    ), recorded AS (
        INSERT INTO public.commands (command_id, payload_digest, first_position, last_position, recorded_at)
        SELECT i.id, v_digests[i.ord],
               v_positions[coalesce(v_upto[i.ord - 1], 0) + 1], v_positions[v_upto[i.ord]], v_now
        FROM pg_catalog.unnest(v_ids) WITH ORDINALITY AS i(id, ord)
        WHERE i.id IS NOT NULL
    ), guarded AS (
        INSERT INTO public.command_guards AS g (key, "position")
        SELECT DISTINCT ON (k.k) k.k, v_positions[v_upto[x.ord]]
        FROM pg_catalog.jsonb_array_elements(p_commands) WITH ORDINALITY AS x(c, ord),
             pg_catalog.jsonb_array_elements_text(x.c -> 'keys') AS k(k)
        ORDER BY k.k, x.ord DESC
        ON CONFLICT (key) DO UPDATE SET "position" = GREATEST(g.position, EXCLUDED.position)
    )
    SELECT n.ord, n.pos, n.sid, n.ver, n.eid, n.typ, v_now, n.hash
    FROM numbered n
    ORDER BY n.pos;
END
$$;

REVOKE ALL ON FUNCTION public.append_run(bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.append_run(bigint, jsonb) TO grantledger_app;
