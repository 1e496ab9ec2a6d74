-- A Merkle tree over the sealed log, as RFC 9162 §2.1 defines it (docs/architecture.md,
-- "Transparency log"):
--   * leaf i is the i-th sealed event in position order: the leaf index is the event's rank
--     (positions may have gaps);
--   * the leaf input is the event's 32-byte content hash (events.hash);
--   * leaf hash = sha256(0x00 || input), node hash = sha256(0x01 || left || right).
--
-- What is stored, so that any proof reads O(log n) rows and sealing stays a few set-based
-- statements:
--   * merkle_groups: the leaves in groups of 16 (group g holds leaves [16g, 16g + 16)), each
--     with the position of its first leaf. The rank of a position is 16g plus the sealed
--     events of its group before it; a group's leaf hashes come from its (at most 16) events.
--   * merkle_nodes: every complete subtree of 16 leaves or more: (level, node_index) covers
--     leaves [node_index * 2^level, (node_index + 1) * 2^level), level >= 4. Smaller subtrees
--     a proof names are computed from their group's events.
--
-- The tree grows with the chain: seal_events() extends the chain, then merkle_extend() adds
-- the newly sealed events. Both tables are append-only like the log; the application role
-- reads them and writes them only through seal_events().

CREATE TABLE public.merkle_groups (
    group_index    bigint NOT NULL,
    first_position bigint NOT NULL,
    CONSTRAINT merkle_groups_pkey PRIMARY KEY (group_index),
    CONSTRAINT merkle_groups_first_position_key UNIQUE (first_position)
);

CREATE TABLE public.merkle_nodes (
    level      smallint NOT NULL,
    node_index bigint   NOT NULL,
    hash       bytea    NOT NULL,
    CONSTRAINT merkle_nodes_pkey PRIMARY KEY (level, node_index),
    CONSTRAINT merkle_nodes_level_check CHECK (level >= 4)
);

COMMENT ON TABLE public.merkle_groups IS 'Sealed events in groups of 16 leaves, by the position of each group''s first leaf; append-only.';
COMMENT ON TABLE public.merkle_nodes IS 'Complete subtrees of 16 leaves or more of the RFC 9162 Merkle tree over the log; append-only.';

CREATE TRIGGER merkle_groups_append_only
    BEFORE UPDATE OR DELETE ON public.merkle_groups
    FOR EACH ROW EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_groups_no_truncate
    BEFORE TRUNCATE ON public.merkle_groups
    FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_nodes_append_only
    BEFORE UPDATE OR DELETE ON public.merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_nodes_no_truncate
    BEFORE TRUNCATE ON public.merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_log_change();

-- The root of 16 leaf hashes, a[1] .. a[16]. (No SET clause: it would cost a GUC swap per
-- call; pg_catalog is searched first anyway for the functions and operators it names.)
CREATE FUNCTION public.merkle_root16(a bytea[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT sha256('\x01'::bytea
        || sha256('\x01'::bytea
            || sha256('\x01'::bytea || sha256('\x01'::bytea || a[1] || a[2]) || sha256('\x01'::bytea || a[3] || a[4]))
            || sha256('\x01'::bytea || sha256('\x01'::bytea || a[5] || a[6]) || sha256('\x01'::bytea || a[7] || a[8])))
        || sha256('\x01'::bytea
            || sha256('\x01'::bytea || sha256('\x01'::bytea || a[9] || a[10]) || sha256('\x01'::bytea || a[11] || a[12]))
            || sha256('\x01'::bytea || sha256('\x01'::bytea || a[13] || a[14]) || sha256('\x01'::bytea || a[15] || a[16]))))
$$;

-- merkle_leaves_before: the number of sealed events before position p: the leaf index of
-- the sealed event at p, or the size of the tree of the events before it. The last group
-- starting before p, plus its sealed events before p (at most 16 rows read).
CREATE FUNCTION public.merkle_leaves_before(p bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce((
        SELECT g.group_index * 16
               + (SELECT pg_catalog.count(*) FROM public.event_chain c
                  WHERE c.position >= g.first_position AND c.position < p)
        FROM public.merkle_groups g WHERE g.first_position < p
        ORDER BY g.first_position DESC LIMIT 1), 0)
$$;

-- merkle_extend: adds the sealed events at p_positions (ascending, all after the tree's
-- last leaf, their content hashes in p_hashes) as the next leaves; returns the tree size.
-- Runs under the sealing lock (re-entrant inside seal_events()). Only the owner runs it:
-- through seal_events(), an import, this migration.
CREATE FUNCTION public.merkle_extend(p_positions bigint[], p_hashes bytea[]) RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
SET work_mem = '128MB'  -- a large seal sorts its new leaves in memory
AS $$
DECLARE
    v_group    bigint;
    v_first    bigint;
    v_old      bigint := 0;
    v_new      bigint;
    v_lo       bigint;
    v_hi       bigint;
    v_level    integer := 4;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    IF pg_catalog.cardinality(p_positions) IS NULL OR pg_catalog.cardinality(p_positions) = 0 THEN
        RETURN NULL;
    END IF;
    -- The tree so far: its last group and that group's leaves before the new ones.
    SELECT g.group_index, g.first_position INTO v_group, v_first
    FROM public.merkle_groups g ORDER BY g.group_index DESC LIMIT 1;
    IF v_group IS NOT NULL THEN
        v_old := 16 * v_group + (SELECT pg_catalog.count(*) FROM public.event_chain c
                                 WHERE c.position >= v_first AND c.position < p_positions[1]);
    END IF;
    v_new := v_old + pg_catalog.cardinality(p_positions);

    INSERT INTO public.merkle_groups (group_index, first_position)
    SELECT (v_old + u.n - 1) / 16, u.p
    FROM unnest(p_positions) WITH ORDINALITY AS u(p, n)
    WHERE (v_old + u.n - 1) % 16 = 0;

    -- The groups completed now: their roots are the level-4 nodes. The leaves of the first
    -- one sealed earlier are read back (at most 15).
    IF v_new / 16 > v_old / 16 THEN
        INSERT INTO public.merkle_nodes (level, node_index, hash)
        SELECT 4, l.i / 16, public.merkle_root16(pg_catalog.array_agg(l.h ORDER BY l.i))
        FROM (
            SELECT (v_old / 16) * 16 + pg_catalog.row_number() OVER (ORDER BY c.position) - 1 AS i,
                   pg_catalog.sha256('\x00'::bytea || e.hash) AS h
            FROM public.event_chain c JOIN public.events e ON e.position = c.position
            WHERE v_old % 16 > 0 AND c.position >= v_first AND c.position < p_positions[1]
            UNION ALL
            SELECT v_old + u.n - 1, pg_catalog.sha256('\x00'::bytea || u.h)
            FROM unnest(p_hashes) WITH ORDINALITY AS u(h, n)
            WHERE v_old + u.n - 1 < (v_new / 16) * 16
        ) l
        GROUP BY l.i / 16;
    END IF;

    -- Above: at each level the node count goes from v_lo to v_hi; the parents of the new
    -- pairs are the nodes [v_lo / 2, v_hi / 2) of the level above.
    v_lo := v_old / 16;
    v_hi := v_new / 16;
    WHILE v_hi / 2 > v_lo / 2 LOOP
        INSERT INTO public.merkle_nodes (level, node_index, hash)
        SELECT (v_level + 1)::smallint, l.node_index / 2, pg_catalog.sha256('\x01'::bytea || l.hash || r.hash)
        FROM public.merkle_nodes l
        JOIN public.merkle_nodes r ON r.level = v_level AND r.node_index = l.node_index + 1
        WHERE l.level = v_level
          AND l.node_index >= (v_lo / 2) * 2 AND l.node_index < (v_hi / 2) * 2
          AND l.node_index % 2 = 0;
        v_lo := v_lo / 2;
        v_hi := v_hi / 2;
        v_level := v_level + 1;
    END LOOP;
    RETURN v_new;
END
$$;

-- seal_events as in 013, reading the new events in one statement and extending the tree.
CREATE OR REPLACE FUNCTION public.seal_events() RETURNS TABLE ("position" bigint, chain_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_last      bigint;
    v_hash      bytea;
    v_positions bigint[];
    v_hashes    bytea[];
    v_chain     bytea[] := '{}';
    v_event     bytea;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    SELECT c.position, c.chain_hash INTO v_last, v_hash
    FROM public.event_chain c ORDER BY c.position DESC LIMIT 1;
    v_last := coalesce(v_last, 0);
    v_hash := coalesce(v_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    SELECT pg_catalog.array_agg(e.position ORDER BY e.position), pg_catalog.array_agg(e.hash ORDER BY e.position)
    INTO v_positions, v_hashes
    FROM public.events e
    WHERE e.position > v_last
      AND e.transaction_id < pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());

    IF v_positions IS NOT NULL THEN
        FOREACH v_event IN ARRAY v_hashes LOOP
            v_hash := pg_catalog.sha256(v_hash || v_event);
            v_chain := v_chain || v_hash;
        END LOOP;
        INSERT INTO public.event_chain (position, chain_hash)
        SELECT * FROM unnest(v_positions, v_chain);  -- the multi-argument form is syntax, not a function
        PERFORM public.merkle_extend(v_positions, v_hashes);
        v_last := v_positions[pg_catalog.cardinality(v_positions)];
    END IF;

    RETURN QUERY SELECT v_last, v_hash;
END
$$;

REVOKE ALL ON public.merkle_groups, public.merkle_nodes FROM PUBLIC;
GRANT SELECT ON public.merkle_groups, public.merkle_nodes TO grantledger_app;
REVOKE ALL ON FUNCTION public.merkle_extend(bigint[], bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.merkle_root16(bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.merkle_leaves_before(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.merkle_leaves_before(bigint) TO grantledger_app;

-- The events sealed before this migration become the first leaves.
SELECT public.merkle_extend(
    (SELECT pg_catalog.array_agg(c.position ORDER BY c.position) FROM public.event_chain c),
    (SELECT pg_catalog.array_agg(e.hash ORDER BY c.position)
     FROM public.event_chain c JOIN public.events e ON e.position = c.position));
