-- Read models are disposable: the application role creates, fills and swaps their schemas
-- (rm_entities, rm_i3, ...) itself, so a rebuild can build a fresh schema next to the live
-- one and swap them by renaming. It gets CREATE on this database for that, and nothing
-- more on the log tables.

DO $$
BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO grantledger_app', current_database());
END
$$;
