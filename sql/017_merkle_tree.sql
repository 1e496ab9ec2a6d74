-- A Merkle tree over the sealed log, as RFC 9162 §2.1 defines it (docs/architecture.md,
-- "Transparency log"):
--   * leaf i is the i-th sealed event in position order (the leaf index is the event's rank:
--     positions may have gaps), recorded in merkle_leaves;
--   * the leaf input is the event's 32-byte content hash (events.hash);
--   * leaf hash = sha256(0x00 || input), node hash = sha256(0x01 || left || right).
--
-- merkle_nodes keeps every complete subtree: (level, node_index) covers the leaves
-- [node_index * 2^level, (node_index + 1) * 2^level), level 0 being the leaf hashes. The hash
-- of any subtree an inclusion or consistency proof names, for any tree size, follows from
-- O(log n) of these rows, so proofs never rebuild the tree.
--
-- The tree grows with the chain: seal_events() extends the chain, then merkle_extend() adds
-- the newly sealed events as leaves and the complete subtrees they close, one set-based
-- INSERT per level. Both tables are append-only like the log; the application role reads
-- them and writes them only through seal_events().

CREATE TABLE public.merkle_leaves (
    leaf_index bigint NOT NULL,
    position   bigint NOT NULL,
    CONSTRAINT merkle_leaves_pkey PRIMARY KEY (leaf_index),
    CONSTRAINT merkle_leaves_position_key UNIQUE (position)
);

CREATE TABLE public.merkle_nodes (
    level      smallint NOT NULL,
    node_index bigint   NOT NULL,
    hash       bytea    NOT NULL,
    CONSTRAINT merkle_nodes_pkey PRIMARY KEY (level, node_index)
);

COMMENT ON TABLE public.merkle_leaves IS 'Leaf index (rank) of each sealed event; append-only.';
COMMENT ON TABLE public.merkle_nodes IS 'Complete subtrees of the RFC 9162 Merkle tree over the log; append-only.';

CREATE TRIGGER merkle_leaves_append_only
    BEFORE UPDATE OR DELETE ON public.merkle_leaves
    FOR EACH ROW EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_leaves_no_truncate
    BEFORE TRUNCATE ON public.merkle_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_nodes_append_only
    BEFORE UPDATE OR DELETE ON public.merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION public.refuse_log_change();
CREATE TRIGGER merkle_nodes_no_truncate
    BEFORE TRUNCATE ON public.merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_log_change();

-- merkle_extend: adds every sealed event that is not a leaf yet, and the complete subtrees
-- this closes; returns the tree size. Runs under the sealing lock (re-entrant inside
-- seal_events()). Only the owner runs it: through seal_events(), an import, this migration.
CREATE FUNCTION public.merkle_extend() RETURNS bigint
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_old   bigint;
    v_new   bigint;
    v_last  bigint;
    v_added bigint;
    v_lo    bigint;
    v_hi    bigint;
    v_level integer := 0;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(7263542);
    SELECT l.leaf_index + 1, l.position INTO v_old, v_last
    FROM public.merkle_leaves l ORDER BY l.leaf_index DESC LIMIT 1;
    v_old := coalesce(v_old, 0);
    v_last := coalesce(v_last, 0);

    INSERT INTO public.merkle_leaves (leaf_index, position)
    SELECT v_old + pg_catalog.row_number() OVER (ORDER BY c.position) - 1, c.position
    FROM public.event_chain c WHERE c.position > v_last;
    GET DIAGNOSTICS v_added = ROW_COUNT;
    v_new := v_old + v_added;
    IF v_added = 0 THEN
        RETURN v_new;
    END IF;

    INSERT INTO public.merkle_nodes (level, node_index, hash)
    SELECT 0, l.leaf_index, pg_catalog.sha256('\x00'::bytea || e.hash)
    FROM public.merkle_leaves l JOIN public.events e ON e.position = l.position
    WHERE l.leaf_index >= v_old;

    -- At each level the node count goes from v_lo to v_hi; the parents of the new pairs are
    -- the nodes [v_lo / 2, v_hi / 2) of the level above.
    v_lo := v_old;
    v_hi := v_new;
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

    IF pg_catalog.cardinality(v_positions) > 0 THEN
        INSERT INTO public.event_chain (position, chain_hash)
        SELECT * FROM unnest(v_positions, v_hashes);  -- the multi-argument form is syntax, not a function
        PERFORM public.merkle_extend();
    END IF;

    RETURN QUERY SELECT v_last, v_hash;
END
$$;

REVOKE ALL ON public.merkle_leaves, public.merkle_nodes FROM PUBLIC;
GRANT SELECT ON public.merkle_leaves, public.merkle_nodes TO grantledger_app;
REVOKE ALL ON FUNCTION public.merkle_extend() FROM PUBLIC;

-- The events sealed before this migration become the first leaves.
SELECT public.merkle_extend();
