-- The chain's hashes stored sixteen to a row (docs/architecture.md, "Transparency log";
-- docs/performance.md, "The chain in runs").
--
-- The chain itself is unchanged: chain_hash(p) = sha256(chain_hash(previous) || hash(p)),
-- every sealed event has one, and every published hash (asOf.hash, exports' chainHash,
-- --expect-head) is the same. What changes is how it is stored. event_chain took one row,
-- one index entry and its WAL per event: 2.6-3.3 us of the 6.5-8 us a seal spent on each.
-- A seal now writes chain_runs: one row per run of consecutive sealed events, holding their
-- positions and their chain hashes (32 bytes each, in order). A run ends where a Merkle
-- group of 16 leaves ends and where the seal ends, so it holds 1 to 16 events and a seal
-- of n events writes about n / 16 rows.
--
-- event_chain keeps the rows of seals before this migration and of audit imports (which
-- load an archive's chain hashes as they are). The chain at any point is read from both
-- through chain_hashes() and chain_head(); the rows of one table never overlap the other's.
--
-- The sealed events are the events up to the chain's head: positions and transaction ids
-- grow together (append_events, append_run), and a seal takes every event below its
-- snapshot's xmin, so no event at or below the head can appear after it is sealed. The
-- Merkle tree's functions therefore count sealed events in events itself, at or below the
-- head, instead of in a row per event.

CREATE TABLE public.chain_runs (
    first_position bigint   NOT NULL,
    positions      bigint[] NOT NULL,
    hashes         bytea    NOT NULL,
    CONSTRAINT chain_runs_pkey PRIMARY KEY (first_position),
    CONSTRAINT chain_runs_shape CHECK (
        pg_catalog.cardinality(positions) BETWEEN 1 AND 16
        AND positions[1] = first_position
        AND pg_catalog.length(hashes) = 32 * pg_catalog.cardinality(positions))
);

COMMENT ON TABLE public.chain_runs IS
    'Global SHA-256 chain over events, a run of consecutive sealed events per row; append-only.';

CREATE TRIGGER chain_runs_append_only
    BEFORE UPDATE OR DELETE ON public.chain_runs
    FOR EACH ROW EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER chain_runs_no_truncate
    BEFORE TRUNCATE ON public.chain_runs
    FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_log_change();

REVOKE ALL ON public.chain_runs FROM PUBLIC;
GRANT SELECT ON public.chain_runs TO grantledger_app;

-- chain_head(): the last sealed position and the chain hash there (nulls before any seal).
-- Once a run exists it holds the head: event_chain is written only by seals before this
-- migration and by an import, which needs an empty log. PL/pgSQL, so that each session plans
-- its two reads once (a SQL function returning a row is planned at every call, about 0.4 ms,
-- and seals and reports call this one each time).
CREATE FUNCTION public.chain_head(OUT "position" bigint, OUT chain_hash bytea)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    SELECT r.positions[pg_catalog.cardinality(r.positions)],
           pg_catalog.substr(r.hashes, pg_catalog.length(r.hashes) - 31, 32)
    INTO "position", chain_hash
    FROM public.chain_runs r ORDER BY r.first_position DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT c.position, c.chain_hash INTO "position", chain_hash
        FROM public.event_chain c ORDER BY c.position DESC LIMIT 1;
    END IF;
END
$$;

-- chain_hashes(after, upto): every sealed position in (after, upto] with its chain hash.
-- The run holding the first of them may start at or before `after`: the last run starting
-- there is read too, and its positions filtered.
CREATE FUNCTION public.chain_hashes(p_after bigint, p_upto bigint)
RETURNS TABLE ("position" bigint, chain_hash bytea)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT c.position, c.chain_hash FROM public.event_chain c
    WHERE c.position > p_after AND c.position <= p_upto
    UNION ALL
    SELECT u.p, pg_catalog.substr(r.hashes, 32 * u.k::integer - 31, 32)
    FROM public.chain_runs r
    CROSS JOIN LATERAL pg_catalog.unnest(r.positions) WITH ORDINALITY AS u(p, k)
    WHERE r.first_position <= p_upto
      AND r.first_position >= coalesce(
          (SELECT s.first_position FROM public.chain_runs s WHERE s.first_position <= p_after
           ORDER BY s.first_position DESC LIMIT 1), p_after)
      AND u.p > p_after AND u.p <= p_upto
$$;

REVOKE ALL ON FUNCTION public.chain_head() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.chain_hashes(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.chain_head() TO grantledger_app;
GRANT EXECUTE ON FUNCTION public.chain_hashes(bigint, bigint) TO grantledger_app;

-- merkle_leaves_before(p): the sealed events before p, for p at most one past the head: the
-- last group starting before p, plus its events before p (at most 16 rows read).
CREATE OR REPLACE FUNCTION public.merkle_leaves_before(p bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce((
        SELECT g.group_index * 16
               + (SELECT pg_catalog.count(*) FROM public.events e
                  WHERE e.position >= g.first_position AND e.position < p)
        FROM public.merkle_groups g WHERE g.first_position < p
        ORDER BY g.first_position DESC LIMIT 1), 0)
$$;

-- merkle_extend as in 032, counting and reading the sealed events of the tree's last group
-- in events (at most 15 rows) instead of in event_chain, which no longer has a row for each.
CREATE OR REPLACE FUNCTION public.merkle_extend(p_positions bigint[], p_hashes bytea[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET jit = off
SET enable_seqscan = off  -- every read is by key: never a whole table on stale statistics
AS $$
DECLARE
    v_count    integer;
    v_group    bigint;
    v_first    bigint;
    v_old      bigint := 0;
    v_new      bigint;
    v_leaves   bytea[];
    v_nodes    bytea[] := '{}';
    v_parents  bytea[];
    v_left     bytea;
    v_g        bigint;
    v_k        integer;
    v_lo       bigint;
    v_hi       bigint;
    v_level    integer := 4;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    v_count := pg_catalog.cardinality(p_positions);
    IF v_count IS NULL OR v_count = 0 THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.cardinality(p_hashes) IS DISTINCT FROM v_count THEN
        RAISE EXCEPTION 'merkle_extend: % positions but % hashes', v_count, pg_catalog.cardinality(p_hashes);
    END IF;
    -- The tree so far: its last group and that group's leaves before the new ones.
    SELECT g.group_index, g.first_position INTO v_group, v_first
    FROM public.merkle_groups g ORDER BY g.group_index DESC LIMIT 1;
    IF v_group IS NOT NULL THEN
        -- Every event below the first new one is sealed (the head of this file).
        v_old := 16 * v_group + (SELECT pg_catalog.count(*) FROM public.events e
                                 WHERE e.position >= v_first AND e.position < p_positions[1]);
    END IF;
    v_new := v_old + v_count;

    -- Groups g with v_old <= 16g < v_new start among the new leaves.
    INSERT INTO public.merkle_groups (group_index, first_position)
    SELECT g, p_positions[(16 * g - v_old + 1)::integer]
    FROM pg_catalog.generate_series((v_old + 15) / 16, (v_new - 1) / 16) AS g;

    -- The group the tree so far ends inside, if this call completes it: its earlier leaves
    -- (at most 15) read back, then the new ones that complete it.
    v_g := v_old / 16;
    IF v_old % 16 > 0 AND v_new / 16 > v_g THEN
        v_leaves := ARRAY(
            SELECT pg_catalog.sha256('\x00'::bytea || e.hash)
            FROM public.events e
            WHERE e.position >= v_first AND e.position < p_positions[1]
            ORDER BY e.position);
        IF pg_catalog.cardinality(v_leaves) IS DISTINCT FROM (v_old % 16)::integer THEN
            RAISE EXCEPTION 'merkle_extend: group % has % sealed leaves, expected %',
                v_g, coalesce(pg_catalog.cardinality(v_leaves), 0), v_old % 16;
        END IF;
        FOR v_k IN 1 .. (16 - v_old % 16)::integer LOOP
            v_leaves := v_leaves || pg_catalog.sha256('\x00'::bytea || p_hashes[v_k]);
        END LOOP;
        v_nodes := v_nodes || public.merkle_root16(v_leaves);
        v_g := v_g + 1;
    END IF;
    -- Every other group completed now lies wholly among the new leaves: group g's first leaf
    -- is p_hashes[16g - v_old + 1].
    WHILE v_g < v_new / 16 LOOP
        v_k := (16 * v_g - v_old)::integer;
        v_leaves := ARRAY[
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 1]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 2]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 3]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 4]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 5]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 6]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 7]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 8]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 9]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 10]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 11]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 12]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 13]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 14]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 15]),
            pg_catalog.sha256('\x00'::bytea || p_hashes[v_k + 16])];
        v_nodes := v_nodes || public.merkle_root16(v_leaves);
        v_g := v_g + 1;
    END LOOP;
    -- v_nodes holds the new nodes [v_lo, v_hi) of v_level, in order: at level 4 the groups
    -- completed now. Each level's parents [v_lo / 2, v_hi / 2) come from it, with the left
    -- sibling stored earlier when v_lo is odd (one row by its key); no table is joined.
    v_lo := v_old / 16;
    v_hi := v_new / 16;
    WHILE v_hi > v_lo LOOP
        INSERT INTO public.merkle_nodes (level, node_index, hash)
        SELECT v_level::smallint, v_lo + u.n - 1, u.h
        FROM unnest(v_nodes) WITH ORDINALITY AS u(h, n);
        EXIT WHEN v_hi / 2 = v_lo / 2;
        IF v_lo % 2 = 1 THEN
            SELECT n.hash INTO v_left FROM public.merkle_nodes n
            WHERE n.level = v_level AND n.node_index = v_lo - 1;
            IF v_left IS NULL THEN
                RAISE EXCEPTION 'merkle_extend: node % of level % is missing', v_lo - 1, v_level;
            END IF;
            v_nodes := v_left || v_nodes;
        END IF;
        -- v_nodes[1] is now node (v_lo / 2) * 2; its parent is node v_lo / 2.
        v_parents := '{}';
        FOR v_k IN 0 .. (v_hi / 2 - v_lo / 2 - 1)::integer LOOP
            v_parents := v_parents
                || pg_catalog.sha256('\x01'::bytea || v_nodes[2 * v_k + 1] || v_nodes[2 * v_k + 2]);
        END LOOP;
        v_nodes := v_parents;
        v_lo := v_lo / 2;
        v_hi := v_hi / 2;
        v_level := v_level + 1;
    END LOOP;
    RETURN v_new;
END
$$;


-- seal_events as in 017, writing the chain in runs: a run ends with a Merkle group (its
-- 16th leaf) and with the seal. The leaves sealed before are the tree's size, from its last
-- group (at most 16 rows read).
CREATE OR REPLACE FUNCTION public.seal_events() RETURNS TABLE ("position" bigint, chain_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off  -- as 026 set it: a replaced function keeps no setting it does not name
AS $$
DECLARE
    v_last      bigint;
    v_hash      bytea;
    v_positions bigint[];
    v_hashes    bytea[];
    v_leaves    bigint := 0;
    v_count     integer;
    v_i         integer := 0;
    v_start     integer := 1;
    v_run       bytea := '\x'::bytea;
    v_starts    integer[] := '{}';
    v_ends      integer[] := '{}';
    v_runs      bytea[] := '{}';
    v_event     bytea;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    SELECT h.position, h.chain_hash INTO v_last, v_hash FROM public.chain_head() h;
    v_last := coalesce(v_last, 0);
    v_hash := coalesce(v_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    SELECT pg_catalog.array_agg(e.position ORDER BY e.position), pg_catalog.array_agg(e.hash ORDER BY e.position)
    INTO v_positions, v_hashes
    FROM public.events e
    WHERE e.position > v_last
      AND e.transaction_id < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());

    IF v_positions IS NOT NULL THEN
        v_count := pg_catalog.cardinality(v_positions);
        IF v_last > 0 THEN
            v_leaves := public.merkle_leaves_before(v_last) + 1;
        END IF;
        FOREACH v_event IN ARRAY v_hashes LOOP
            v_hash := pg_catalog.sha256(v_hash || v_event);
            v_run := v_run || v_hash;
            v_i := v_i + 1;
            IF (v_leaves + v_i) % 16 = 0 OR v_i = v_count THEN
                v_starts := v_starts || v_start;
                v_ends := v_ends || v_i;
                v_runs := v_runs || v_run;
                v_run := '\x'::bytea;
                v_start := v_i + 1;
            END IF;
        END LOOP;
        INSERT INTO public.chain_runs (first_position, positions, hashes)
        SELECT v_positions[u.s], v_positions[u.s:u.e], u.h
        FROM unnest(v_starts, v_ends, v_runs) AS u(s, e, h);  -- the multi-argument form is syntax
        PERFORM public.merkle_extend(v_positions, v_hashes);
        v_last := v_positions[v_count];
    END IF;

    RETURN QUERY SELECT v_last, v_hash;
END
$$;
