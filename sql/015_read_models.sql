-- Read models, created here by the owner instead of by the application at run time, so
-- that the application role needs no right to create anything (014).
--
-- Each read model has a live schema (rm_<name>) that reports read, and a build twin
-- (rm_<name>_build) of the same shape that `projections rebuild` fills from the log while
-- the live one keeps answering. swap_read_model() then exchanges the two names in one
-- statement; grants belong to the tables, so they move with them. The application role
-- writes both (they are derived data: a rebuild from the log restores them) but cannot
-- create, drop or rename anything.
--
-- A database where an earlier version let the application create these schemas has them
-- owned by grantledger_app; deploy/db.sh drops them before migrating (they are disposable).

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace
               WHERE nspname IN ('rm_entities', 'rm_entities_build', 'rm_i3', 'rm_i3_build')) THEN
        RAISE EXCEPTION 'read-model schemas from an earlier version exist: drop rm_entities, rm_entities_build, rm_i3 and rm_i3_build (they are rebuilt from the log) and migrate again';
    END IF;
END
$$;

CREATE SCHEMA rm_entities;
CREATE SCHEMA rm_i3;

CREATE TABLE rm_entities.checkpoint (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    position bigint NOT NULL
);
INSERT INTO rm_entities.checkpoint (position) VALUES (0);

-- Current state of every entity, one JSON document each, with parent and status for filters.
CREATE TABLE rm_entities.entities (
    kind    text  NOT NULL,
    id      text  NOT NULL,
    parent  text,
    status  text,
    doc     jsonb NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX entities_parent ON rm_entities.entities (kind, parent, id);

CREATE TABLE rm_i3.checkpoint (LIKE rm_entities.checkpoint INCLUDING ALL);
INSERT INTO rm_i3.checkpoint (position) VALUES (0);

-- The latest profile of each organisation, the reporting rules in force from each
-- position, and each call's programme: what a new access snapshots.
CREATE TABLE rm_i3.profiles (
    organisation_id text PRIMARY KEY,
    doc jsonb NOT NULL
);
CREATE TABLE rm_i3.rules (
    position bigint PRIMARY KEY,
    small_max_annual_budget_cents bigint NOT NULL,
    small_max_staff bigint NOT NULL
);
CREATE TABLE rm_i3.calls (
    call_id text PRIMARY KEY,
    programme text NOT NULL
);
-- Every access to EU funding with its organisation's snapshot; a later cancellation of a
-- sub-grant marks its position, so one table answers every cut-off.
CREATE TABLE rm_i3.accesses (
    position            bigint  NOT NULL,
    organisation_id     text    NOT NULL,
    channel             text    NOT NULL,
    access_date         date    NOT NULL,
    call_id             text    NOT NULL,
    programme           text    NOT NULL,
    sub_grant_id        text,
    cancelled_position  bigint,
    country             text    NOT NULL,
    small               boolean NOT NULL,
    leadership_gender   text    NOT NULL,
    region_code         text,
    settlement          text,
    registration_status text    NOT NULL,
    PRIMARY KEY (position, organisation_id, channel)
);
CREATE INDEX accesses_sub_grant ON rm_i3.accesses (sub_grant_id) WHERE sub_grant_id IS NOT NULL;
-- The report walks qualifying accesses per organisation in (date, position) order: this
-- covering index gives it that order without a sort.
CREATE INDEX accesses_first ON rm_i3.accesses (organisation_id, access_date, position)
    INCLUDE (channel, cancelled_position, call_id, programme, leadership_gender, region_code, settlement,
             registration_status)
    WHERE small AND country = 'KZ';

-- The build twins: same tables, same indexes, same starting checkpoint.
CREATE SCHEMA rm_entities_build;
CREATE SCHEMA rm_i3_build;
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT schemaname, tablename FROM pg_catalog.pg_tables
             WHERE schemaname IN ('rm_entities', 'rm_i3') ORDER BY 1, 2
    LOOP
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL)',
                       t.schemaname || '_build', t.tablename, t.schemaname, t.tablename);
    END LOOP;
END
$$;
INSERT INTO rm_entities_build.checkpoint (position) VALUES (0);
INSERT INTO rm_i3_build.checkpoint (position) VALUES (0);

GRANT USAGE ON SCHEMA rm_entities, rm_entities_build, rm_i3, rm_i3_build TO grantledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE
    ON ALL TABLES IN SCHEMA rm_entities, rm_entities_build, rm_i3, rm_i3_build TO grantledger_app;

-- Exchanges rm_<name> and rm_<name>_build. Only the two known read models; the caller
-- holds the read model's advisory lock so that no batch is projected meanwhile.
CREATE FUNCTION public.swap_read_model(p_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_name IS NULL OR p_name NOT IN ('entities', 'i3') THEN
        RAISE EXCEPTION 'unknown read model %', p_name USING ERRCODE = '22023';
    END IF;
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name, 'rm_' || p_name || '_swap');
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name || '_build', 'rm_' || p_name);
    EXECUTE format('ALTER SCHEMA %I RENAME TO %I', 'rm_' || p_name || '_swap', 'rm_' || p_name || '_build');
END
$$;

-- Refreshes the planner statistics of a read model's tables after a bulk write (ANALYZE
-- needs the owner).
CREATE FUNCTION public.analyze_read_model(p_schema text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    IF p_schema IS NULL OR p_schema NOT IN ('rm_entities', 'rm_entities_build', 'rm_i3', 'rm_i3_build') THEN
        RAISE EXCEPTION 'unknown read-model schema %', p_schema USING ERRCODE = '22023';
    END IF;
    FOR t IN SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = p_schema LOOP
        EXECUTE format('ANALYZE %I.%I', p_schema, t.tablename);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION public.swap_read_model(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.analyze_read_model(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.swap_read_model(text), public.analyze_read_model(text) TO grantledger_app;
