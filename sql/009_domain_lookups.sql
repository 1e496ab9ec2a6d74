-- Lookups the command handler makes across streams, each guarded by a lock on the entity
-- that owns the rule (see Sources/Ledger/PostgresStateReader.swift). Partial indexes, so
-- events of other types cost nothing extra on append.

-- Awards under a call (budget) and to a consortium (membership freeze).
CREATE INDEX events_grant_awarded_call ON events ((data->>'callId')) WHERE type = 'GrantAwarded';
CREATE INDEX events_grant_awarded_consortium ON events ((data->>'consortiumId')) WHERE type = 'GrantAwarded';
-- Contract numbers are unique across grants.
CREATE INDEX events_grant_awarded_contract ON events ((data->>'contractNumber')) WHERE type = 'GrantAwarded';
-- One live application per consortium and call.
CREATE INDEX events_application_consortium ON events ((data->>'consortiumId')) WHERE type = 'ApplicationSubmitted';
-- Sub-grants of a grant (envelope).
CREATE INDEX events_subgrant_grant ON events ((data->>'grantId')) WHERE type = 'SubGrantAwarded';
