-- Maintenance: stale workers, stuck chunks.

-- name: mark_stale_offline
UPDATE workers SET status = 'offline', stopped_at = :now
WHERE status IN ('online', 'stopping') AND last_heartbeat < :cutoff
RETURNING id;

-- name: held_by_workers
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing' AND c.worker_id IN (SELECT value FROM json_each(:worker_ids));

-- name: stuck_chunks
-- Processing longer than their job's timeout, whoever holds them.
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries, j.timeout
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing' AND c.claimed_at < :now - j.timeout;
