-- Bearer tokens for the HTTP API. Only a SHA-256 of each secret is kept; the secret is
-- shown once, when created. A token's name becomes the actor of the events it records.

CREATE TABLE api_tokens (
    name        text        NOT NULL,
    role        text        NOT NULL,
    token_hash  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (name),
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_role_check CHECK (role IN ('manager', 'auditor', 'viewer'))
);

GRANT SELECT, INSERT, UPDATE ON api_tokens TO grantledger_app;
