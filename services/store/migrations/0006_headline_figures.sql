-- Aggregate rows keep their counters (the exact state) and only their headline figures
-- (MHS110–115 and percentages: the names without a dot). The ~800 per-measure figures are a
-- function of the counters, derived when asked for (scoring.published.derive); writing ~6 KB
-- of them with every move cost over a third of a derivation pass (issue 8: the soak's lag).
UPDATE aggregates SET figures = coalesce(
    (SELECT json_object_agg(key, value) FROM json_each(figures) WHERE position('.' IN key) = 0),
    '{}'::json
);
