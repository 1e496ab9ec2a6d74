-- Events that do not decode as their type, as each read model passed them over.
--
-- The application role can append any well-formed JSON through append_events(); an event
-- of a known type whose data does not fit it used to stop every projection and rebuild.
-- Projections now treat such an event as absent and list it here, in each read model and
-- its build twin (the two swap on rebuild), so that GET /v1/audit/quarantine, /readyz and
-- the metrics can name it. Like every read model, the list is derived from the log and
-- checked against it by `audit verify --read-models`; `audit verify` finds such events in
-- the log itself.

DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['rm_entities', 'rm_entities_build', 'rm_i3', 'rm_i3_build'] LOOP
        EXECUTE format($f$CREATE TABLE %I.quarantine (
            position bigint NOT NULL PRIMARY KEY,
            type     text   NOT NULL,
            reason   text   NOT NULL
        )$f$, s);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %I.quarantine TO grantledger_app', s);
    END LOOP;
END
$$;
