-- Bearer tokens of the HTTP API (issue 5). Only a SHA-256 of each token's secret is kept:
-- the token itself is printed once by `outcomes token create` and never stored.
CREATE TABLE api_clients (
    token_id       text        PRIMARY KEY,
    secret_sha256  bytea       NOT NULL,
    role           text        NOT NULL
                   CHECK (role IN ('provider', 'commissioner', 'quality', 'admin')),
    orgs           text[]      NOT NULL DEFAULT '{}',
    label          text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- A commissioner reads its CCG's providers (`ccg_provider` codes `CCG/PROVIDER`) and a
-- provider its own (`CCG/PROVIDER`, `PROVIDER/TEAM`) without knowing the other half of the
-- code: index both halves so scoped reads without a code filter stay indexed.
CREATE INDEX aggregates_code_head ON aggregates (split_part(code, '/', 1), level, period_kind, period);
CREATE INDEX aggregates_code_tail ON aggregates (split_part(code, '/', 2), level, period_kind, period);
