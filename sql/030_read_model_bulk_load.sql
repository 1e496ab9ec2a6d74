-- A rebuild loads a read model's build twin without its indexes, then builds them
-- (docs/performance.md, "Rebuilds load first and index after").
--
-- Loading 786,000 entity documents and 440,000 access rows into tables that already carry
-- their six indexes costs PostgreSQL one B-tree insertion per row and index; building each
-- index once from the loaded table sorts instead, and WAL-logs whole pages. Measured on the
-- benchmark log: 11.4 s of loading with the indexes against 7.2 s of loading and building.
--
-- read_model_load_begin(schema) empties the build twin's tables (its checkpoint aside),
-- notes each index as the statement that makes it again, and drops it;
-- read_model_load_end(schema) runs those statements and forgets them. The application role
-- calls both in the transaction that loads, so a failed load rolls every drop back. The
-- statements come from the catalogue of tables the migrations made, never from a caller,
-- and live in a table only the owner reads and writes. A load left without its end (a
-- caller that committed between the two) is finished by the next begin, and
-- swap_read_model() refuses to put a twin without its indexes live.

CREATE TABLE public.read_model_load_indexes (
    schema_name text    NOT NULL,
    ordinal     integer NOT NULL,
    statement   text    NOT NULL,
    CONSTRAINT read_model_load_indexes_pkey PRIMARY KEY (schema_name, ordinal)
);

COMMENT ON TABLE public.read_model_load_indexes IS
    'The indexes of a read model''s build twin dropped for a bulk load, as the statements that make them again.';

REVOKE ALL ON public.read_model_load_indexes FROM PUBLIC;

-- Builds the indexes read_model_load_begin() dropped; returns how many. The sorts of a
-- large index get more memory than a session's default.
CREATE FUNCTION public.read_model_load_end(p_schema text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off
SET maintenance_work_mem = '256MB'
AS $$
DECLARE
    s record;
    n integer := 0;
BEGIN
    IF p_schema IS NULL OR p_schema NOT IN ('rm_entities_build', 'rm_i3_build') THEN
        RAISE EXCEPTION 'unknown read-model build schema %', p_schema USING ERRCODE = '22023';
    END IF;
    FOR s IN SELECT l.statement FROM public.read_model_load_indexes l
             WHERE l.schema_name = p_schema ORDER BY l.ordinal
    LOOP
        EXECUTE s.statement;
        n := n + 1;
    END LOOP;
    DELETE FROM public.read_model_load_indexes l WHERE l.schema_name = p_schema;
    RETURN n;
END
$$;

-- Empties the build twin's tables but its checkpoint, and drops their indexes (primary
-- keys included), noting how to make each again. No exception block: the truncations stay
-- in the caller's transaction, so its COPY may freeze the rows it loads.
CREATE FUNCTION public.read_model_load_begin(p_schema text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET jit = off
AS $$
DECLARE
    t record;
    i record;
    n integer := 0;
BEGIN
    -- A load that committed without its end: its indexes come back first. (The end refuses
    -- any schema but the two build twins.)
    PERFORM public.read_model_load_end(p_schema);
    FOR t IN SELECT c.oid, c.relname FROM pg_catalog.pg_class c
             WHERE c.relnamespace = p_schema::regnamespace AND c.relkind = 'r' AND c.relname <> 'checkpoint'
             ORDER BY c.relname
    LOOP
        EXECUTE format('TRUNCATE %I.%I', p_schema, t.relname);
        -- Constraints first (their indexes go with them), then the other indexes.
        FOR i IN SELECT k.conname, pg_catalog.pg_get_constraintdef(k.oid) AS definition
                 FROM pg_catalog.pg_constraint k
                 WHERE k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x')
                 ORDER BY k.conname
        LOOP
            n := n + 1;
            INSERT INTO public.read_model_load_indexes (schema_name, ordinal, statement)
            VALUES (p_schema, n, format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', p_schema, t.relname, i.conname,
                                        i.definition));
            EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', p_schema, t.relname, i.conname);
        END LOOP;
        FOR i IN SELECT ic.relname, pg_catalog.pg_get_indexdef(x.indexrelid) AS definition
                 FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
                 WHERE x.indrelid = t.oid
                 ORDER BY ic.relname
        LOOP
            n := n + 1;
            INSERT INTO public.read_model_load_indexes (schema_name, ordinal, statement)
            VALUES (p_schema, n, i.definition);
            EXECUTE format('DROP INDEX %I.%I', p_schema, i.relname);
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;

-- swap_read_model as in 015, refusing a twin whose indexes a load has not built again.
CREATE OR REPLACE FUNCTION public.swap_read_model(p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_name IS NULL OR p_name NOT IN ('entities', 'i3') THEN
        RAISE EXCEPTION 'unknown read model %', p_name USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM public.read_model_load_indexes l WHERE l.schema_name = 'rm_' || p_name || '_build') THEN
        RAISE EXCEPTION 'the build twin of read model % is loaded without its indexes: read_model_load_end() first',
            p_name USING ERRCODE = '55000';
    END IF;
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name, 'rm_' || p_name || '_swap');
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name || '_build', 'rm_' || p_name);
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name || '_swap', 'rm_' || p_name || '_build');
END
$$;

REVOKE ALL ON FUNCTION public.read_model_load_begin(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.read_model_load_end(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.read_model_load_begin(text), public.read_model_load_end(text) TO grantledger_app;
