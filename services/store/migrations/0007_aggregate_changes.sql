-- roms.aggregates.v1 is published from the aggregates table, not from copies in the outbox
-- (issue 8: the soak's lag). A derivation pass queues only the keys it moved; the drain
-- publishes each queued key's row as the drain finds it (a tombstone where the row is gone),
-- in turns across workers. A key moved by several passes between two drains is published
-- once, with its newest figures: the topic is latest-value, so no figure is lost. Copying
-- ~7 KB of figures per key and pass into the outbox was ~3 KB of output per input event.
CREATE TABLE aggregate_changes (
    id            bigserial PRIMARY KEY,
    method        text NOT NULL,
    level         text NOT NULL,
    code          text NOT NULL,
    period        text NOT NULL,
    cohort        text NOT NULL,
    cohort_value  text NOT NULL
);
