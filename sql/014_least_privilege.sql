-- Least privilege for the application role, grantledger_app (see docs/architecture.md,
-- "Roles"). It may:
--   * read the log (events, event_chain, commands), the tokens and schema_migrations;
--   * append and seal only through append_events() and seal_events(), which run as the
--     owner with a fixed search_path (013);
--   * write the read models (015), which are derived from the log and can be rebuilt.
-- It may not create anything: no schema (a schema named after the owner was the way into
-- the definer functions), no table in public, no temporary object, no function.

DO $$
BEGIN
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM grantledger_app', current_database());
    EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO grantledger_app', current_database());
END
$$;

-- PostgreSQL 15 creates public without CREATE for PUBLIC; older clusters and databases
-- made from another template may not.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM grantledger_app;

-- Functions are executable by PUBLIC unless revoked; nothing created later by the owner
-- should be.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE ALL ON FUNCTION public.event_canonical(bigint, text, bigint, uuid, text, jsonb, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.event_canonical(bigint, text, bigint, uuid, text, jsonb, jsonb, timestamptz)
    TO grantledger_app;
REVOKE ALL ON FUNCTION public.refuse_log_change() FROM PUBLIC;

-- Tokens are created and revoked by the owner (grantledger token ..., through the
-- migration role); a role written into api_tokens by the application role would be an
-- escalation from viewer to manager.
REVOKE ALL ON public.api_tokens FROM grantledger_app;
GRANT SELECT ON public.api_tokens TO grantledger_app;

-- The sequence behind positions is only advanced by append_events().
REVOKE ALL ON SEQUENCE public.events_position_seq FROM PUBLIC;
REVOKE ALL ON SEQUENCE public.events_position_seq FROM grantledger_app;
