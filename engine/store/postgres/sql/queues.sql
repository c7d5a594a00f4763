-- PostgreSQL versions of the queries in ../queues.sql that differ there.

-- name: claim_in_queue
-- As claims.sql's claim (one statement: pick, hold, start the jobs), for one
-- held queue (not 'default') whose row the caller has locked.
WITH picked AS MATERIALIZED (
    SELECT id FROM chunks
    WHERE status = 'pending' AND queue = :queue AND queue <> 'default' AND run_after <= :now
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE id = 1 AND paused = 1)
      AND EXISTS (SELECT 1 FROM jobs
                  WHERE jobs.id = chunks.job_id
                    AND (:intents::jsonb IS NULL
                         OR jobs.intent = ANY (ARRAY(SELECT jsonb_array_elements_text(:intents::jsonb)))))
    ORDER BY priority DESC, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE chunks
    SET status = 'processing',
        worker_id = :worker_id,
        attempt = chunks.attempt + 1,
        lease_token = md5(random()::text || chunks.id::text || clock_timestamp()::text),
        claimed_at = :now,
        finished_at = NULL
    FROM picked
    WHERE chunks.id = picked.id
    RETURNING chunks.id, chunks.job_id, chunks.chunk_index, chunks.params, chunks.attempt,
              chunks.lease_token, chunks.claimed_at
), locked AS (
    SELECT id FROM jobs WHERE id IN (SELECT job_id FROM claimed) ORDER BY id FOR UPDATE
), started AS (
    UPDATE jobs
    SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
        started_at = CASE WHEN status = 'pending' THEN :now ELSE started_at END
    FROM locked
    WHERE jobs.id = locked.id
    RETURNING jobs.id, jobs.intent, jobs.params, jobs.max_retries, jobs.timeout
)
SELECT claimed.*, started.intent, started.params AS job_params, started.max_retries, started.timeout
FROM claimed JOIN started ON started.id = claimed.job_id;

-- name: claim_in_default
WITH picked AS MATERIALIZED (
    SELECT id FROM chunks
    WHERE status = 'pending' AND run_after <= :now AND queue = 'default'
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE id = 1 AND paused = 1)
      AND EXISTS (SELECT 1 FROM jobs
                  WHERE jobs.id = chunks.job_id
                    AND (:intents::jsonb IS NULL
                         OR jobs.intent = ANY (ARRAY(SELECT jsonb_array_elements_text(:intents::jsonb)))))
    ORDER BY priority DESC, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE chunks
    SET status = 'processing',
        worker_id = :worker_id,
        attempt = chunks.attempt + 1,
        lease_token = md5(random()::text || chunks.id::text || clock_timestamp()::text),
        claimed_at = :now,
        finished_at = NULL
    FROM picked
    WHERE chunks.id = picked.id
    RETURNING chunks.id, chunks.job_id, chunks.chunk_index, chunks.params, chunks.attempt,
              chunks.lease_token, chunks.claimed_at
), locked AS (
    SELECT id FROM jobs WHERE id IN (SELECT job_id FROM claimed) ORDER BY id FOR UPDATE
), started AS (
    UPDATE jobs
    SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
        started_at = CASE WHEN status = 'pending' THEN :now ELSE started_at END
    FROM locked
    WHERE jobs.id = locked.id
    RETURNING jobs.id, jobs.intent, jobs.params, jobs.max_retries, jobs.timeout
)
SELECT claimed.*, started.intent, started.params AS job_params, started.max_retries, started.timeout
FROM claimed JOIN started ON started.id = claimed.job_id;
