-- PostgreSQL versions of the queries in ../circuits.sql that differ there
-- (greatest/least for SQLite's scalar max/min, jsonb for json_each); every
-- other query of ../circuits.sql runs on PostgreSQL as it is.

-- name: open_circuit
UPDATE circuits
SET state = 'open',
    opened_at = :now,
    cooldown = :cooldown,
    half_open_at = greatest(:now + :cooldown, :not_before),
    opens = opens + 1,
    updated_at = :now
WHERE host = :host AND state = 'closed' AND failures >= :threshold
RETURNING half_open_at, cooldown;

-- name: probe_failed
UPDATE circuits
SET state = 'open',
    opened_at = :now,
    cooldown = least(:max_cooldown, cooldown * 2),
    half_open_at = greatest(:now + least(:max_cooldown, cooldown * 2), :not_before),
    probe_token = NULL,
    probe_deadline = NULL,
    opens = opens + 1,
    updated_at = :now
WHERE host = :host AND state = 'half_open' AND probe_token = :token
RETURNING half_open_at, cooldown;

-- name: hold_chunks
UPDATE chunks
SET run_after = :until
WHERE status = 'pending'
  AND run_after < :until
  AND job_id IN (SELECT id FROM jobs
                 WHERE status IN ('pending', 'running')
                   AND intent IN (SELECT jsonb_array_elements_text(:intents::jsonb)));
