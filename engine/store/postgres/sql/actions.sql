-- PostgreSQL versions of the queries in ../actions.sql that differ there;
-- every other query of ../actions.sql runs on PostgreSQL as it is.

-- name: lock_job
-- FOR UPDATE: two operators acting on one job take turns.
SELECT id, status, dedupe_key FROM jobs WHERE id = :job_id FOR UPDATE;

-- name: retry_chunks
UPDATE chunks
SET status = 'pending', attempt = 0, run_after = :now, finished_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE job_id = :job_id AND status = 'failed'
  AND (:chunk_index::integer IS NULL OR chunk_index = :chunk_index::integer)
RETURNING id;

-- name: cancel_chunks
UPDATE chunks
SET status = 'cancelled', lease_token = NULL, finished_at = :now
WHERE job_id = :job_id AND status IN ('pending', 'processing')
  AND (:chunk_index::integer IS NULL OR chunk_index = :chunk_index::integer)
RETURNING id;
