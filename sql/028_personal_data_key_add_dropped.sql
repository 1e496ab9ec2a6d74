-- The one-key function goes: every key the code adds, one or many, has gone through
-- personal_data_keys_add() (sql/027) since that migration, so that one function carries the
-- rule. personal_data_key_add() stayed granted to the application role without a caller;
-- a function the role can call and no code needs is surface to defend and nothing else.
--
-- A server or import from before sql/027 calls the one-key function when it registers an
-- organisation; run this migration with the new binaries (docs/operations.md, "Upgrading").

DROP FUNCTION public.personal_data_key_add(uuid, text, bytea);
