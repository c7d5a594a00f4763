-- Operator actions: retry, cancel, finalize, pause, resume.

-- name: lock_job
SELECT id, status, dedupe_key FROM jobs WHERE id = :job_id  -- sqlite
-- FOR UPDATE: two operators acting on one job take turns. The job's chunks
-- that may still change are locked first, in id order, as claims and
-- settles lock chunks before their jobs: an action holding the job while it
-- waits on a chunk that a settle holds, with the settle waiting on the job,
-- would be a deadlock.
SELECT id, status, dedupe_key FROM jobs  -- postgres
WHERE id = :job_id  -- postgres
  AND (SELECT count(*) FROM (SELECT 1 FROM chunks WHERE job_id = :job_id AND status <> 'completed'  -- postgres
                             ORDER BY id FOR UPDATE) AS held) >= 0  -- postgres
FOR UPDATE  -- postgres
;

-- name: job_status
-- Without a lock: what the TUI reads before asking an operator to confirm.
SELECT id, status FROM jobs WHERE id = :job_id;

-- name: chunk_status
SELECT id, status FROM chunks WHERE job_id = :job_id AND chunk_index = :chunk_index;

-- name: retry_counts
-- What a retry would take back, by status (failed and cancelled chunks).
SELECT status, count(*) AS n FROM chunks
WHERE job_id = :job_id AND status IN ('failed', 'cancelled')
  AND (:chunk_index IS NULL OR chunk_index = :chunk_index)  -- sqlite
  AND (:chunk_index::integer IS NULL OR chunk_index = :chunk_index::integer)  -- postgres
GROUP BY status;

-- name: retry_chunks
-- Failed and cancelled chunks back to pending with their attempts reset;
-- every past attempt stays in chunk_attempts.
UPDATE chunks
SET status = 'pending', attempt = 0, run_after = :now, finished_at = NULL,
    worker_id = NULL, lease_token = NULL
WHERE job_id = :job_id AND status IN ('failed', 'cancelled')
  AND (:chunk_index IS NULL OR chunk_index = :chunk_index)  -- sqlite
  AND (:chunk_index::integer IS NULL OR chunk_index = :chunk_index::integer)  -- postgres
RETURNING id;

-- name: reopen_job
-- The counters lose what went back to pending; a job with chunks still
-- ended (completed, or failed/cancelled ones not retried) is running.
UPDATE jobs
SET chunks_failed = chunks_failed - :failed,
    chunks_cancelled = chunks_cancelled - :cancelled,
    status = CASE WHEN status IN ('pending', 'running') THEN status
                  WHEN chunks_completed + chunks_failed - :failed + chunks_cancelled - :cancelled > 0 THEN 'running'
                  ELSE 'pending' END,
    finished_at = NULL
WHERE id = :job_id;

-- name: cancel_chunks
-- Pending and processing chunks end as cancelled. A worker still running
-- one learns it from its lease check and stops; its late result is fenced out.
UPDATE chunks
SET status = 'cancelled', lease_token = NULL, finished_at = :now
WHERE job_id = :job_id AND status IN ('pending', 'processing')
  AND (:chunk_index IS NULL OR chunk_index = :chunk_index)  -- sqlite
  AND (:chunk_index::integer IS NULL OR chunk_index = :chunk_index::integer)  -- postgres
RETURNING id;

-- name: end_job
UPDATE jobs
SET chunks_cancelled = chunks_cancelled + :cancelled,
    status = :status, finished_at = :now
WHERE id = :job_id
RETURNING id, status, on_finalize, schedule_id, chunks_total, chunks_completed, chunks_failed, chunks_cancelled;

-- name: count_cancelled
UPDATE jobs SET chunks_cancelled = chunks_cancelled + :cancelled WHERE id = :job_id;

-- name: set_paused
UPDATE queue_state SET paused = :paused, paused_at = :now, paused_by = :by WHERE id = 1;

-- name: queue_state
SELECT paused, paused_at, paused_by FROM queue_state WHERE id = 1;
