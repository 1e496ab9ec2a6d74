-- A third twin of each read model, for `audit verify --read-models` and the server's periodic
-- check: the read model recomputed from the log is written here inside one REPEATABLE READ
-- transaction, compared row by row with the live tables at the same checkpoint, and rolled
-- back. Nothing is ever committed to these tables; rows another session might commit there
-- meanwhile are outside the check's snapshot, and the TRUNCATE at its start clears them.
--
-- Made LIKE the live tables (same columns in the same order, so that a row-wise EXCEPT
-- compares them); a migration that changes a read model's tables changes these as well.

DO $$
DECLARE
    t record;
BEGIN
    CREATE SCHEMA rm_entities_verify;
    CREATE SCHEMA rm_i3_verify;
    FOR t IN SELECT schemaname, tablename FROM pg_catalog.pg_tables
             WHERE schemaname IN ('rm_entities', 'rm_i3') AND tablename <> 'checkpoint' ORDER BY 1, 2
    LOOP
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL)',
                       t.schemaname || '_verify', t.tablename, t.schemaname, t.tablename);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA rm_entities_verify, rm_i3_verify TO grantledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE
    ON ALL TABLES IN SCHEMA rm_entities_verify, rm_i3_verify TO grantledger_app;
