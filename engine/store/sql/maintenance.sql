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

-- name: old_ended_jobs
-- Retention (cleanup-old-jobs). Every delete below takes at most one batch
-- of rows in its own short transaction, and every one checks again that its
-- job has ended and is old enough: an active job is never touched, and an
-- operator's retry between two batches keeps what is left of that job.
SELECT id FROM jobs
WHERE status IN ('completed', 'partial', 'failed', 'cancelled') AND finished_at < :cutoff
ORDER BY finished_at, id LIMIT :batch;

-- name: delete_job_logs
DELETE FROM task_logs WHERE id IN (
    SELECT l.id FROM task_logs l JOIN jobs j ON j.id = l.job_id
    WHERE j.id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
    WHERE j.id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
      AND j.status IN ('completed', 'partial', 'failed', 'cancelled') AND j.finished_at < :cutoff
    LIMIT :batch
);

-- name: delete_job_attempts
DELETE FROM chunk_attempts WHERE id IN (
    SELECT a.id FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id JOIN jobs j ON j.id = c.job_id
    WHERE j.id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
    WHERE j.id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
      AND j.status IN ('completed', 'partial', 'failed', 'cancelled') AND j.finished_at < :cutoff
    LIMIT :batch
);

-- name: delete_job_chunks
DELETE FROM chunks WHERE id IN (
    SELECT c.id FROM chunks c JOIN jobs j ON j.id = c.job_id
    WHERE j.id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
    WHERE j.id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
      AND j.status IN ('completed', 'partial', 'failed', 'cancelled') AND j.finished_at < :cutoff
    LIMIT :batch
);

-- name: delete_jobs
DELETE FROM jobs
WHERE id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
  AND status IN ('completed', 'partial', 'failed', 'cancelled') AND finished_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = jobs.id);

-- name: delete_old_schedule_runs
DELETE FROM schedule_runs WHERE id IN (
    SELECT id FROM schedule_runs WHERE status <> 'running' AND finished_at < :cutoff
    ORDER BY finished_at LIMIT :batch
);

-- name: delete_old_task_logs
-- One batch of log lines older than the cutoff, oldest first (task_logs_ts).
DELETE FROM task_logs WHERE id IN (SELECT id FROM task_logs WHERE ts < :cutoff ORDER BY ts LIMIT :batch);

-- name: delete_old_alerts
-- Old alerts that are done with (delivered, or failed for good) and their
-- delivery records (ON DELETE CASCADE); one still to deliver is kept.
DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_at < :cutoff
                                 AND status IN ('delivered', 'failed') ORDER BY id LIMIT :batch);
