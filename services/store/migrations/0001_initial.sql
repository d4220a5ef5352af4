-- Facts are stored by their natural key; everything else is derived from them and can be
-- rebuilt by replaying roms.events.v1 (ARCHITECTURE.md, invariants 1 and 4).

-- Every unique valid event, by its idempotency key. A duplicate event_id changes nothing.
CREATE TABLE events (
    event_id       uuid PRIMARY KEY,
    provider_code  text        NOT NULL,
    referral_id    text        NOT NULL,
    event_type     text        NOT NULL,
    emitted_at     timestamptz NOT NULL,
    body           jsonb       NOT NULL,
    source         text        NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_referral ON events (provider_code, referral_id);

-- Every rejected event or left-out coded score, keyed by where it came from so that a
-- re-delivered message is recorded once.
CREATE TABLE dead_letters (
    source       text        NOT NULL,
    error_code   text        NOT NULL,
    record       jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, error_code)
);
CREATE INDEX dead_letters_by_code ON dead_letters (error_code);

-- The current scored form of each assessment (latest emitted_at, not withdrawn).
CREATE TABLE scored_assessments (
    provider_code    text        NOT NULL,
    referral_id      text        NOT NULL,
    assessment_id    text        NOT NULL,
    measure          text        NOT NULL,
    informant        text        NOT NULL,
    completed_on     date        NOT NULL,
    emitted_at       timestamptz NOT NULL,
    record           jsonb       NOT NULL,
    scoring_version  text        NOT NULL,
    PRIMARY KEY (provider_code, referral_id, assessment_id, measure, informant)
);

-- One row per referral and method: the referral's profile and outcome as last computed.
-- The old row is what aggregates are moved away from when the referral changes.
CREATE TABLE referral_outcomes (
    provider_code    text        NOT NULL,
    referral_id      text        NOT NULL,
    method           text        NOT NULL,
    in_cohort        boolean     NOT NULL,
    closed_on        date,
    ccg_code         text,
    events           integer     NOT NULL,
    record           jsonb       NOT NULL,
    scoring_version  text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_code, referral_id, method)
);
CREATE INDEX referral_outcomes_by_ccg ON referral_outcomes (ccg_code, closed_on);

-- One row per aggregate key. ``counters`` are additive sums, the exact state, moved only by
-- differences (never blind increments); ``figures`` are derived from them in the same
-- transaction and are what the API and roms.aggregates.v1 publish. Both are json, not jsonb:
-- always read and written whole, and json costs half as much to write.
CREATE TABLE aggregates (
    method           text        NOT NULL,
    level            text        NOT NULL,
    code             text        NOT NULL,
    period           text        NOT NULL,
    period_kind      text        NOT NULL,
    cohort           text        NOT NULL,
    cohort_value     text        NOT NULL,
    counters         json        NOT NULL,
    figures          json        NOT NULL DEFAULT '{}',
    events           bigint      NOT NULL DEFAULT 0,
    scoring_version  text        NOT NULL DEFAULT '',
    computed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, level, code, period, cohort, cohort_value)
);
CREATE INDEX aggregates_query ON aggregates (level, code, period_kind, period, cohort, method);

-- Transactional outbox: records committed with the facts, published to Kafka afterwards.
CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea       NOT NULL,
    value         bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Highest offset per partition whose batch is committed here: "caught up" is decided from
-- what was consumed and written, never from broker end offsets (Tansu gets them wrong).
CREATE TABLE consumer_progress (
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);
