-- Decisions from memory in batches (docs/architecture.md, "Commands decided from memory").
--
-- `import` decides a run of commands from its memory of the log at one position P and
-- sends their appends in one transaction (an append batch, sql/018), each through
-- append_guarded() with p_decided_at = P. Two changes make that sound:
--
--   * The check for keys changed after P leaves out the guard rows this transaction wrote
--     itself (their xmin is its id). Such a row was written by an earlier command of the
--     same batch, after that command had checked the key and taken its advisory lock, held
--     to commit: no other writer can have changed the key since, and the later command was
--     decided with the earlier one's events in view. A row another transaction wrote still
--     fails the check, as before. Outside a batch, a transaction has no id before its
--     append, so nothing is left out.
--   * A command decided from memory whose id was accepted before is refused (GL007)
--     instead of answered as a replay: its answer is the first acceptance's, which only the
--     store knows, and a batch must not go on as if its events had been appended. The
--     caller decides it again under locks. Commands decided under locks (p_decided_at
--     NULL) are answered as before.
--
-- The signature and privileges are those of sql/023.

CREATE OR REPLACE FUNCTION public.append_guarded(
    p_command_id text, p_digest text, p_expected jsonb, p_events jsonb, p_keys text[], p_decided_at bigint
) RETURNS TABLE (
    "position" bigint, stream_id text, stream_version bigint, event_id uuid, type text,
    recorded_at timestamptz, hash bytea, replayed boolean
)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_key      text;
    v_seen     bigint;
    v_last     bigint := 0;
    v_replayed boolean := false;
    r          record;
BEGIN
    IF pg_catalog.cardinality(p_keys) > 256 THEN
        RAISE EXCEPTION 'a command holds at most 256 keys' USING ERRCODE = '22023';
    END IF;
    IF p_decided_at IS NULL THEN
        -- Decided under locks: the keys are held already but for the streams only written;
        -- take those too (re-entrant for the others), sorted.
        FOR v_key IN SELECT d.k FROM (SELECT DISTINCT k FROM pg_catalog.unnest(p_keys) k) d ORDER BY d.k COLLATE "C" LOOP
            PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_key, 0));
        END LOOP;
    ELSE
        -- Decided from memory: never wait. A key another transaction holds is about to
        -- change (or is being read under its lock): the decision is likely stale, and
        -- waiting could close a cycle with a command taking its locks in another order.
        FOR v_key IN SELECT DISTINCT k FROM pg_catalog.unnest(p_keys) k LOOP
            IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(v_key, 0)) THEN
                RAISE EXCEPTION 'decided at position %, but % is being changed', p_decided_at, v_key
                    USING ERRCODE = '40001';
            END IF;
        END LOOP;
        SELECT g.key, g.position INTO v_key, v_seen
        FROM public.command_guards g
        WHERE g.key = ANY (p_keys) AND g.position > p_decided_at
          AND g.xmin IS DISTINCT FROM pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())
        ORDER BY g.position DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'decided at position %, but % changed at position %', p_decided_at, v_key, v_seen
                USING ERRCODE = '40001';
        END IF;
    END IF;

    FOR r IN SELECT * FROM public.append_events(p_command_id, p_digest, p_expected, p_events) LOOP
        "position" := r.position; stream_id := r.stream_id; stream_version := r.stream_version;
        event_id := r.event_id; type := r.type; recorded_at := r.recorded_at; hash := r.hash;
        replayed := r.replayed;
        v_last := GREATEST(v_last, r.position);
        v_replayed := r.replayed;
        RETURN NEXT;
    END LOOP;

    IF v_replayed AND p_decided_at IS NOT NULL THEN
        RAISE EXCEPTION 'command % was accepted before: its answer is the first acceptance''s', p_command_id
            USING ERRCODE = 'GL007';
    END IF;

    IF NOT v_replayed AND v_last > 0 THEN
        INSERT INTO public.command_guards AS g (key, "position")
        SELECT DISTINCT k, v_last FROM pg_catalog.unnest(p_keys) k ORDER BY 1
        ON CONFLICT (key) DO UPDATE SET "position" = GREATEST(g.position, EXCLUDED.position);
    END IF;
END
$$;

