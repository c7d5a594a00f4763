-- Prometheus metrics (engine/services/metrics.py): reads only.

-- name: settling
-- The chunks a settle is about to end, by primary key: their intent and
-- when they were due and claimed (the queue wait), read before the settle
-- moves run_after for a retry.
SELECT c.id, c.run_after, c.claimed_at, j.intent
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.id IN (SELECT value FROM json_each(:chunk_ids))  -- sqlite
WHERE c.id IN (SELECT value::bigint FROM jsonb_array_elements_text(:chunk_ids::jsonb) AS t(value))  -- postgres
;
