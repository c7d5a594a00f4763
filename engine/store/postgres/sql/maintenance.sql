-- PostgreSQL versions of the queries in ../maintenance.sql that differ there;
-- every other query of ../maintenance.sql runs on PostgreSQL as it is.

-- name: held_by_workers
-- FOR UPDATE OF c: a worker's late completion waits for the rescue, then
-- finds its lease gone.
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing'
  AND c.worker_id IN (SELECT value FROM jsonb_array_elements_text(:worker_ids::jsonb) AS t(value))
FOR UPDATE OF c;

-- name: stuck_chunks
SELECT c.id, c.job_id, c.chunk_index, c.params, c.attempt, c.lease_token, c.claimed_at, c.worker_id,
       j.max_retries, j.timeout
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'processing' AND c.claimed_at < :now - j.timeout
FOR UPDATE OF c SKIP LOCKED;
