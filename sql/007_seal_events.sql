-- seal_events: extends event_chain over every event all readers can see, and returns the
-- sealed head (position 0 and 32 zero bytes for an empty log).
--
-- Only events of transactions older than the snapshot's xmin are sealed, the same gap-free
-- prefix readers see, so a late-committing event is never sealed out of order.

CREATE FUNCTION seal_events() RETURNS TABLE ("position" bigint, chain_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    v_last      bigint;
    v_hash      bytea;
    v_positions bigint[] := '{}';
    v_hashes    bytea[] := '{}';
    r           record;
BEGIN
    PERFORM pg_advisory_xact_lock(7263542);
    SELECT c.position, c.chain_hash INTO v_last, v_hash
    FROM event_chain c ORDER BY c.position DESC LIMIT 1;
    v_last := coalesce(v_last, 0);
    v_hash := coalesce(v_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);

    FOR r IN
        SELECT e.position, e.hash FROM events e
        WHERE e.position > v_last
          AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.position
    LOOP
        v_hash := sha256(v_hash || r.hash);
        v_last := r.position;
        v_positions := v_positions || r.position;
        v_hashes := v_hashes || v_hash;
    END LOOP;

    INSERT INTO event_chain (position, chain_hash)
    SELECT * FROM unnest(v_positions, v_hashes);

    RETURN QUERY SELECT v_last, v_hash;
END
$$;
