-- merkle_extend() without a sort of the new leaves and without joining merkle_nodes to
-- itself (docs/performance.md, "Sealing without a sort; what bounds a seal").
--
-- The tree and what is stored of it are unchanged (sql/017_merkle_tree.sql); only the way
-- the new leaves' groups and nodes are computed changes. As 017 wrote it:
--   * the level-4 roots came from one statement that hashed every new leaf, sorted all of
--     them by group (spilling to disk for a large seal: 78 MB for 1.2 million leaves) and
--     sorted each group again inside array_agg(); the groups came from filtering every new
--     leaf by its index. A seal of the benchmark's 1.2 million events spent 5.2 s and
--     0.75 s in those two statements of its 12.9 s;
--   * each level above came from joining merkle_nodes to itself, planned from the table's
--     statistics. Statistics that count no rows over pages left behind (an ANALYZE after a
--     large seal or import rolled back) make that plan a nested loop of sequential scans,
--     quadratic in the new nodes: on a tree of 1.2 million leaves in that state, 017's form
--     was cancelled after 200 s, where this one takes 5 s.
--
-- Now the new leaves are addressed by index in the arrays the function is given (PL/pgSQL
-- keeps an array argument expanded, so p_hashes[i] costs the same wherever i is), and every
-- new node is computed in arrays, level by level:
--   * merkle_groups: one row per group that starts among the new leaves, from
--     generate_series over the group indexes;
--   * level 4: a loop over the groups completed now, each root from its 16 leaf hashes in
--     one expression; the first group, when the tree so far ends inside it, reads its
--     earlier leaves back from the log (at most 15), as before;
--   * each level above: the parents of the new nodes, pair by pair, with the one stored
--     left sibling read by its key when the new nodes start at an odd index.
-- Each level's new nodes are inserted from their array. Nothing is sorted or joined, and
-- the few rows read (the tree's last group, the earlier leaves of its last group, a left
-- sibling per level) are read by key: the function turns sequential scans off, which
-- statistics of an empty table would otherwise choose.
-- Leaf i of the new ones is p_hashes[i - v_old + 1]; group g holds leaves [16g, 16g + 16).

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
        v_old := 16 * v_group + (SELECT pg_catalog.count(*) FROM public.event_chain c
                                 WHERE c.position >= v_first AND c.position < p_positions[1]);
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
            FROM public.event_chain c JOIN public.events e ON e.position = c.position
            WHERE c.position >= v_first AND c.position < p_positions[1]
            ORDER BY c.position);
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
