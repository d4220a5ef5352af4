-- Alerts on deteriorating cohorts and referral-level notices (outcomes.md §6), the webhooks
-- that receive them and every delivery attempt's outcome.

-- One row per stable alert key. Funnel alerts have referral_id ''; notices name the referral
-- (level 'referral', code = provider, period = the session's date). ``sequence`` counts the
-- transitions (open, resolved, re-opened …) so each one is delivered exactly once per webhook.
CREATE TABLE alerts (
    rule          text        NOT NULL,
    level         text        NOT NULL,
    code          text        NOT NULL,
    cohort        text        NOT NULL,
    cohort_value  text        NOT NULL,
    measure       text        NOT NULL,
    perspective   text        NOT NULL,
    period        text        NOT NULL,
    referral_id   text        NOT NULL DEFAULT '',
    provider_code text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('open', 'resolved')),
    figures       jsonb       NOT NULL,
    limits        jsonb       NOT NULL DEFAULT '{}',
    sequence      integer     NOT NULL DEFAULT 1,
    raised_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, level, code, cohort, cohort_value, measure, perspective, period,
                 referral_id)
);
CREATE INDEX alerts_by_state ON alerts (state, provider_code, period);
CREATE INDEX alerts_by_referral ON alerts (provider_code, referral_id) WHERE referral_id <> '';

-- HTTPS endpoints per organisation: a provider code receives its own alerts and notices
-- unsuppressed; a CCG code receives the suppressed funnel alerts of the providers serving it.
-- The secret signs every body (HMAC-SHA256); it is never logged nor shown.
CREATE TABLE webhooks (
    id          bigserial   PRIMARY KEY,
    org_code    text        NOT NULL,
    url         text        NOT NULL,
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_code, url)
);

-- One row per (webhook, alert transition). The body is fixed when queued, so every retry
-- sends (and signs) the same bytes under the same idempotency key.
CREATE TABLE deliveries (
    id               bigserial   PRIMARY KEY,
    webhook_id       bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    idempotency_key  text        NOT NULL,
    body             bytea       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (webhook_id, idempotency_key)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
