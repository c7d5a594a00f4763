-- PostgreSQL versions of the queries in ../claims.sql that differ there;
-- every other query of ../claims.sql runs on PostgreSQL as it is.

-- name: claim
-- SKIP LOCKED lets concurrent claimers pass over each other's rows instead
-- of queueing on them; MATERIALIZED keeps the LIMIT inside the lock.
WITH picked AS MATERIALIZED (
    SELECT id FROM chunks
    WHERE status = 'pending' AND run_after <= :now
      AND (:intents::jsonb IS NULL OR EXISTS (
               SELECT 1 FROM jobs
               WHERE jobs.id = chunks.job_id
                 AND jobs.intent IN (SELECT jsonb_array_elements_text(:intents::jsonb))))
    ORDER BY priority DESC, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
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
          chunks.lease_token, chunks.claimed_at;

-- name: settle
UPDATE chunks
SET status = o.status,
    run_after = coalesce(o.run_after, chunks.run_after),
    finished_at = o.finished_at,
    lease_token = NULL,
    attempt = chunks.attempt - o.refund,
    worker_id = CASE WHEN o.refund = 1 THEN NULL ELSE chunks.worker_id END,
    last_error = coalesce(o.error, chunks.last_error),
    result = o.result
FROM (
    SELECT (v ->> 'chunk_id')::bigint AS chunk_id,
           v ->> 'lease_token' AS lease_token,
           v ->> 'status' AS status,
           (v ->> 'run_after')::double precision AS run_after,
           (v ->> 'finished_at')::double precision AS finished_at,
           v ->> 'error' AS error,
           v ->> 'result' AS result,
           coalesce((v ->> 'refund')::integer, 0) AS refund
    FROM jsonb_array_elements(:outcomes::jsonb) AS t(v)
) AS o
WHERE chunks.id = o.chunk_id
  AND chunks.status = 'processing'
  AND chunks.lease_token = o.lease_token
RETURNING chunks.id, chunks.job_id, chunks.status;
