-- A run's new organisation keys in one statement (docs/architecture.md, "Runs decided from
-- memory"): what personal_data_key_add() (sql/022) does for one key, for all the keys the
-- commands of a run made, so that a run of registrations sends one statement for its keys
-- instead of one per registration.
--
-- Refused whole (23505) when the database knows one of the key ids already, living or
-- erased (an erased key never comes back), and, by the unique index, when an organisation
-- has a living key already or appears twice; refused (22023) when the arrays differ in
-- length, hold a NULL, or hold more than 1,000 keys.

CREATE FUNCTION public.personal_data_keys_add(p_key_ids uuid[], p_organisation_ids text[], p_keys bytea[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
    v_known uuid;
    v_count integer;
BEGIN
    IF p_key_ids IS NULL OR p_organisation_ids IS NULL OR p_keys IS NULL
       OR pg_catalog.cardinality(p_key_ids) NOT BETWEEN 1 AND 1000
       OR pg_catalog.cardinality(p_organisation_ids) <> pg_catalog.cardinality(p_key_ids)
       OR pg_catalog.cardinality(p_keys) <> pg_catalog.cardinality(p_key_ids)
       OR pg_catalog.array_position(p_key_ids, NULL) IS NOT NULL
       OR pg_catalog.array_position(p_organisation_ids, NULL) IS NOT NULL
       OR pg_catalog.array_position(p_keys, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'personal_data_keys_add needs 1 to 1000 keys, each with its id and organisation'
            USING ERRCODE = '22023';
    END IF;
    SELECT k.key_id INTO v_known FROM public.personal_data_keys k WHERE k.key_id = ANY (p_key_ids) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'key % is known here already', v_known USING ERRCODE = '23505';
    END IF;
    INSERT INTO public.personal_data_keys (key_id, organisation_id, key)
    SELECT t.i, t.o, t.k
    FROM ROWS FROM (pg_catalog.unnest(p_key_ids), pg_catalog.unnest(p_organisation_ids), pg_catalog.unnest(p_keys))
         AS t(i, o, k);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

REVOKE ALL ON FUNCTION public.personal_data_keys_add(uuid[], text[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.personal_data_keys_add(uuid[], text[], bytea[]) TO grantledger_app;
