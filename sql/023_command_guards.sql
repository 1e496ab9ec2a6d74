-- Decisions from memory, checked at append time (docs/architecture.md, "Commands decided
-- from memory").
--
-- A command reads entities (streams, and the owners of cross-entity rules: a call for its
-- budget, a grant for its envelope, a consortium, a contract number) and appends events.
-- A process that decides from its memory of the log at position P must append only if no
-- event touching anything it read was appended after P. command_guards keeps, for every
-- such key, the position of the last event of a command that read or wrote it; every
-- command handler records its keys with its append (append_guarded), so the check is one
-- index look-up per key.
--
-- Serialisation is the same as for commands that read the store under locks: the key's
-- transaction-scoped advisory lock (hashtextextended(key, 0), AdvisoryLock.entity in Swift).
-- A command deciding under locks holds them from its reads to its commit and records its
-- keys without a check; a command deciding from memory takes them here without waiting
-- (a key held elsewhere fails it at once), then checks. Of two commands sharing a key, the
-- one that takes it second either finds it held (and fails, or waits when it decides under
-- locks) or finds the first one's position recorded.
--
-- The locks come before append_events(), which must take the transaction's id itself
-- (sql/018): advisory locks take none; the positions are recorded after it.

CREATE TABLE public.command_guards (
    key text NOT NULL,
    "position" bigint NOT NULL,
    CONSTRAINT command_guards_pkey PRIMARY KEY (key)
);
COMMENT ON TABLE public.command_guards IS
    'Per entity key a command reads or writes, the last position appended by a command that held it.';

CREATE FUNCTION public.append_guarded(
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

    IF NOT v_replayed AND v_last > 0 THEN
        INSERT INTO public.command_guards AS g (key, "position")
        SELECT DISTINCT k, v_last FROM pg_catalog.unnest(p_keys) k ORDER BY 1
        ON CONFLICT (key) DO UPDATE SET "position" = GREATEST(g.position, EXCLUDED.position);
    END IF;
END
$$;

REVOKE ALL ON public.command_guards FROM PUBLIC;
REVOKE ALL ON FUNCTION public.append_guarded(text, text, jsonb, jsonb, text[], bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.append_guarded(text, text, jsonb, jsonb, text[], bigint) TO grantledger_app;
