-- Maintenance: stale workers, stuck chunks.

-- name: mark_stale_offline
UPDATE workers SET status = 'offline', stopped_at = :now
WHERE status IN ('online', 'stopping') AND last_heartbeat < :cutoff
RETURNING id, host;

-- name: held_by_workers
-- FOR UPDATE OF c: a worker's late completion waits for the rescue, then
-- finds its lease gone.
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing' AND c.worker_id IN (SELECT value FROM json_each(:worker_ids))  -- sqlite
WHERE c.status = 'processing'  -- postgres
  AND c.worker_id IN (SELECT value FROM jsonb_array_elements_text(:worker_ids::jsonb) AS t(value))  -- postgres
FOR UPDATE OF c  -- postgres
;

-- name: stuck_chunks
-- Processing longer than their job's timeout, whoever holds them.
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries, j.timeout
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing' AND c.claimed_at < :now - j.timeout
FOR UPDATE OF c SKIP LOCKED  -- postgres
;
