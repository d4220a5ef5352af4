-- Aggregate rows and outbox records are written whole on every derivation pass and read
-- whole by the API; pglz compression of their multi-kilobyte JSON cost more than half of
-- the time spent writing them (issue 7: 17,900 aggregate rows took 5.6 s compressed, 2.4 s
-- not). Disk is cheap next to that: keep them out of line, uncompressed.
ALTER TABLE aggregates
    ALTER COLUMN figures SET STORAGE EXTERNAL,
    ALTER COLUMN counters SET STORAGE EXTERNAL;
ALTER TABLE outbox ALTER COLUMN value SET STORAGE EXTERNAL;
