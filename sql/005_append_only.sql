-- The log tables refuse UPDATE, DELETE and TRUNCATE for everybody, owner included.
-- (A superuser can still disable triggers; the hash chain is what catches that.)

CREATE FUNCTION refuse_log_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the event log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'GL005';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_log_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_log_change();

CREATE TRIGGER event_chain_append_only
    BEFORE UPDATE OR DELETE ON event_chain
    FOR EACH ROW EXECUTE FUNCTION refuse_log_change();
CREATE TRIGGER event_chain_no_truncate
    BEFORE TRUNCATE ON event_chain
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_log_change();

CREATE TRIGGER commands_append_only
    BEFORE UPDATE OR DELETE ON commands
    FOR EACH ROW EXECUTE FUNCTION refuse_log_change();
CREATE TRIGGER commands_no_truncate
    BEFORE TRUNCATE ON commands
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_log_change();
