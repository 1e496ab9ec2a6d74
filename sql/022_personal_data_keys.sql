-- Keys of the texts that identify an organisation (docs/domain.md §15, docs/architecture.md
-- "Personal data"). An organisation's name and its sub-grants' purposes and cancellation
-- reasons are recorded in the log only encrypted (AES-256-GCM) with a random key of that
-- organisation, kept here, outside the log. Erasure destroys the key in the transaction that
-- records PersonalDataErased; the log, its hashes, tree and proofs never change.
--
-- The application role has no privilege on the table: it creates, reads, erases and
-- imports keys only through the functions below, which run as the owner. None of them can
-- bring an erased key back: an erased key's row stays, without its key, and a key id is
-- never inserted twice.

CREATE TABLE personal_data_keys (
    key_id           uuid        NOT NULL,
    organisation_id  text        NOT NULL,
    -- NULL once erased.
    key              bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    erased_at        timestamptz,
    CONSTRAINT personal_data_keys_pkey PRIMARY KEY (key_id),
    CONSTRAINT personal_data_keys_key_length CHECK (key IS NULL OR length(key) = 32),
    CONSTRAINT personal_data_keys_erased CHECK ((key IS NULL) = (erased_at IS NOT NULL)),
    CONSTRAINT personal_data_keys_organisation_length CHECK (length(organisation_id) BETWEEN 1 AND 128)
);

-- At most one living key per organisation.
CREATE UNIQUE INDEX personal_data_keys_living ON personal_data_keys (organisation_id) WHERE key IS NOT NULL;

REVOKE ALL ON personal_data_keys FROM PUBLIC;
REVOKE ALL ON personal_data_keys FROM grantledger_app;

-- The living key of an organisation, if it has one: a read, so that a command's transaction
-- can take it before append_events() (which must be its first write). An organisation without
-- one gets a new key from the command that first needs it, added after its append
-- (personal_data_key_add), in the same transaction.
CREATE FUNCTION public.personal_data_key_living(p_organisation_id text)
RETURNS TABLE (key_id uuid, key bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT k.key_id, k.key FROM public.personal_data_keys k
    WHERE k.organisation_id = p_organisation_id AND k.key IS NOT NULL
$$;

-- The keys of p_key_ids: NULL for an erased one; an id never created is absent.
CREATE FUNCTION public.personal_data_keys_read(p_key_ids uuid[])
RETURNS TABLE (key_id uuid, key bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT k.key_id, k.key FROM public.personal_data_keys k WHERE k.key_id = ANY (p_key_ids)
$$;

-- Every living key, for `audit export --keys`.
CREATE FUNCTION public.personal_data_keys_living()
RETURNS TABLE (key_id uuid, organisation_id text, key bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT k.key_id, k.organisation_id, k.key FROM public.personal_data_keys k
    WHERE k.key IS NOT NULL ORDER BY k.organisation_id
$$;

-- Destroys the organisation's living key. Refused unless the organisation's stream ends
-- with a PersonalDataErased event written by this very transaction: a key is destroyed
-- only together with the record of its erasure. Returns the number of keys destroyed.
CREATE FUNCTION public.personal_data_erase(p_organisation_id text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM (
            SELECT e.type, e.transaction_id FROM public.events e
            WHERE e.stream_id = 'organisation-' || p_organisation_id
            ORDER BY e.stream_version DESC LIMIT 1
        ) last
        WHERE last.type = 'PersonalDataErased' AND last.transaction_id = pg_catalog.pg_current_xact_id()
    ) THEN
        RAISE EXCEPTION 'a key is destroyed only in the transaction that records PersonalDataErased for %',
            p_organisation_id USING ERRCODE = '42501';
    END IF;
    UPDATE public.personal_data_keys k SET key = NULL, erased_at = pg_catalog.now()
    WHERE k.organisation_id = p_organisation_id AND k.key IS NOT NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- Adds a living key: a command's new key (after its append, in its transaction), or a key
-- from another database's `audit export --keys`. Refused for a key id this database knows
-- already (living or erased: an erased key never comes back) and, by the unique index, for
-- an organisation that has a living key (a concurrent command made one first: it retries).
CREATE FUNCTION public.personal_data_key_add(p_key_id uuid, p_organisation_id text, p_key bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.personal_data_keys k WHERE k.key_id = p_key_id) THEN
        RAISE EXCEPTION 'key % is known here already', p_key_id USING ERRCODE = '23505';
    END IF;
    INSERT INTO public.personal_data_keys (key_id, organisation_id, key) VALUES (p_key_id, p_organisation_id, p_key);
END
$$;

REVOKE ALL ON FUNCTION public.personal_data_key_living(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.personal_data_keys_read(uuid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.personal_data_keys_living() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.personal_data_erase(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.personal_data_key_add(uuid, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.personal_data_key_living(text) TO grantledger_app;
GRANT EXECUTE ON FUNCTION public.personal_data_keys_read(uuid[]) TO grantledger_app;
GRANT EXECUTE ON FUNCTION public.personal_data_keys_living() TO grantledger_app;
GRANT EXECUTE ON FUNCTION public.personal_data_erase(text) TO grantledger_app;
GRANT EXECUTE ON FUNCTION public.personal_data_key_add(uuid, text, bytea) TO grantledger_app;

-- Erasure looks up an organisation's sub-grants.
CREATE INDEX events_subgrant_organisation ON events ((data->>'organisationId')) WHERE type = 'SubGrantAwarded';
