-- Grantee tokens (docs/domain.md §12, issue "grantees report their own activities"): a
-- token of role grantee is bound to one organisation, and only a grantee token is. The
-- application role still only reads api_tokens; tokens are written by the owner.

ALTER TABLE api_tokens ADD COLUMN organisation_id text;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('manager', 'auditor', 'viewer', 'grantee'));
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_grantee_organisation_check
    CHECK ((role = 'grantee') = (organisation_id IS NOT NULL));
