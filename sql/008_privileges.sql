-- The application role reads the log and appends only through append_events(); it has no
-- UPDATE, DELETE or TRUNCATE on the log tables and cannot insert into them directly.
-- The role is created by deploy/ with a password; here it is only made to exist.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grantledger_app') THEN
        CREATE ROLE grantledger_app NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON events, event_chain, commands FROM PUBLIC;
GRANT SELECT ON events, event_chain, commands TO grantledger_app;
REVOKE ALL ON FUNCTION append_events(text, text, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION seal_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events(text, text, jsonb, jsonb) TO grantledger_app;
GRANT EXECUTE ON FUNCTION seal_events() TO grantledger_app;
GRANT USAGE ON SCHEMA public TO grantledger_app;
