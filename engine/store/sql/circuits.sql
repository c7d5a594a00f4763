-- HTTP circuit breakers, one row per host (see engine/handlers/circuits.py).
-- Lines that differ between SQLite and PostgreSQL end in -- sqlite / -- postgres.
-- Every transition is a compare-and-set on the row's state (and, for the
-- probe, its token) inside a BEGIN IMMEDIATE transaction, so any number of
-- engine processes sharing the database agree on one state per host.

-- name: get_circuit
SELECT host, state, failures, opened_at, cooldown, half_open_at, probe_deadline
FROM circuits WHERE host = :host;

-- name: list_circuits
-- Open circuits first: they are what an operator looks for.
SELECT host, state, failures, opened_at, cooldown, half_open_at,
       probe_token IS NOT NULL AS probe_in_flight, probe_deadline, opens,
       last_error, last_error_at, updated_at
FROM circuits
ORDER BY CASE state WHEN 'open' THEN 0 WHEN 'half_open' THEN 1 ELSE 2 END, host;

-- name: record_failure
-- One more consecutive transient failure; the row is made on the first.
-- (circuits.failures, qualified: PostgreSQL finds a bare name ambiguous here.)
INSERT INTO circuits (host, failures, cooldown, last_error, last_error_at, updated_at)
VALUES (:host, 1, :cooldown, :error, :now, :now)
ON CONFLICT (host) DO UPDATE SET
    failures = circuits.failures + 1,
    last_error = excluded.last_error,
    last_error_at = excluded.last_error_at,
    updated_at = excluded.updated_at
RETURNING state, failures, half_open_at;

-- name: open_circuit
-- A closed circuit opens once its consecutive failures reach the threshold.
-- It half-opens after the cooldown, or later if the server said so
-- (Retry-After, :not_before).
UPDATE circuits
SET state = 'open',
    opened_at = :now,
    cooldown = :cooldown,
    half_open_at = max(:now + :cooldown, :not_before),  -- sqlite
    half_open_at = greatest(:now + :cooldown, :not_before),  -- postgres
    opens = opens + 1,
    updated_at = :now
WHERE host = :host AND state = 'closed' AND failures >= :threshold
RETURNING half_open_at, cooldown;

-- name: take_probe
-- Of all the attempts that find the circuit due to half-open, exactly one
-- gets the probe: the one whose UPDATE matches. A probe whose holder
-- vanished (a killed process) is taken over once its deadline has passed.
UPDATE circuits
SET state = 'half_open', probe_token = :token, probe_deadline = :deadline, updated_at = :now
WHERE host = :host
  AND ((state = 'open' AND half_open_at <= :now)
       OR (state = 'half_open' AND probe_deadline <= :now))
RETURNING host;

-- name: probe_failed
-- The probe failed: open again, with the cooldown doubled up to its cap.
-- (Every right-hand side reads the row as it was before this UPDATE.)
UPDATE circuits
SET state = 'open',
    opened_at = :now,
    cooldown = min(:max_cooldown, cooldown * 2),  -- sqlite
    half_open_at = max(:now + min(:max_cooldown, cooldown * 2), :not_before),  -- sqlite
    cooldown = least(:max_cooldown, cooldown * 2),  -- postgres
    half_open_at = greatest(:now + least(:max_cooldown, cooldown * 2), :not_before),  -- postgres
    probe_token = NULL,
    probe_deadline = NULL,
    opens = opens + 1,
    updated_at = :now
WHERE host = :host AND state = 'half_open' AND probe_token = :token
RETURNING half_open_at, cooldown;

-- name: close_circuit
-- The probe got an answer from the host: closed, counters and cooldown reset.
UPDATE circuits
SET state = 'closed',
    failures = 0,
    cooldown = :cooldown,
    opened_at = NULL,
    half_open_at = NULL,
    probe_token = NULL,
    probe_deadline = NULL,
    updated_at = :now
WHERE host = :host AND state = 'half_open' AND probe_token = :token
RETURNING host;

-- name: release_probe
-- A probe that ended without an answer (cancelled, shutting down) hands the
-- half-open slot back at once instead of holding it until its deadline.
UPDATE circuits
SET state = 'open', half_open_at = :now, probe_token = NULL, probe_deadline = NULL, updated_at = :now
WHERE host = :host AND state = 'half_open' AND probe_token = :token;

-- name: reset_failures
-- A success while closed ends the run of consecutive failures.
UPDATE circuits SET failures = 0, updated_at = :now
WHERE host = :host AND state = 'closed' AND failures > 0;

-- name: hold_chunks
-- While a host's circuit is open its chunks are not claimed: the pending
-- chunks of every intent that calls the host wait until it half-opens.
-- Chunks already due later (a longer back-off or Retry-After) keep their time.
UPDATE chunks
SET run_after = :until
WHERE status = 'pending'
  AND run_after < :until
  AND job_id IN (SELECT id FROM jobs
                 WHERE status IN ('pending', 'running')
                   AND intent IN (SELECT value FROM json_each(:intents)))  -- sqlite
                   AND intent IN (SELECT jsonb_array_elements_text(:intents::jsonb)))  -- postgres
;
