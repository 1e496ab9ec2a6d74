-- The canonical text of an event, the input of its SHA-256 hash.
--
-- jsonb's text form is deterministic (keys sorted, whitespace fixed), and recorded_at is
-- rendered in UTC with microseconds, so the same row always yields the same bytes whatever
-- the session's TimeZone or DateStyle. The position is part of it, so moving an event to
-- another place in the log changes its hash.

CREATE FUNCTION event_canonical(
    p_position bigint, p_stream_id text, p_stream_version bigint, p_event_id uuid,
    p_type text, p_data jsonb, p_metadata jsonb, p_recorded_at timestamptz
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_array(
        p_position, p_stream_id, p_stream_version, p_event_id::text, p_type,
        to_char(p_recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        p_data, p_metadata
    )::text
$$;
