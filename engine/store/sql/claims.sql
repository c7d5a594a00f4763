-- Claims and the end of attempts: the hot path.

-- name: claim
-- Due pending chunks by priority, then age, flipped to processing under a
-- fresh lease token. The inner WHERE must keep `status = 'pending'` as it is:
-- it is what lets SQLite use the partial index chunks_claim.
UPDATE chunks
SET status = 'processing',
    worker_id = :worker_id,
    attempt = attempt + 1,
    lease_token = lower(hex(randomblob(12))),
    claimed_at = :now,
    finished_at = NULL
WHERE id IN (
    SELECT id FROM chunks
    WHERE status = 'pending' AND run_after <= :now
      -- nothing while the queue is paused (one statement fewer per claim than asking first)
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE id = 1 AND paused = 1)
      -- chunks of held queues (a limit, a rate or a pause) are claimed under their
      -- queue's row by services/queues.py, with this statement and this line
      -- alone swapped (see queries.with_line); while no queue is held, the
      -- first test is true once per statement and no chunk's queue is read
      AND /* queues */ (NOT EXISTS (SELECT 1 FROM held_queues) OR chunks.queue NOT IN (SELECT name FROM held_queues))
      -- only intents this process can run: the others wait, unspent, for a process that can
      AND (:intents IS NULL OR EXISTS (SELECT 1 FROM jobs
                                       WHERE jobs.id = chunks.job_id
                                         AND jobs.intent IN (SELECT value FROM json_each(:intents))))
    ORDER BY priority DESC, id
    LIMIT :limit
)
-- (claims.claims_from_rows reads the returned columns by position, in this order)
RETURNING id, job_id, chunk_index, params, attempt, lease_token, claimed_at;

-- name: job_specs
-- What the workers of a claim batch need of its jobs (SQLite: the claim
-- returns only its chunks, so a job of many chunks is read once a batch,
-- not once a chunk). The jobs are not written (see claims.defers_job_starts).
SELECT id, intent, params, max_retries, timeout FROM jobs  -- read by position (claims.job_specs)
WHERE id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE id = ANY (ARRAY(SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value)))  -- postgres
;

-- name: claim_plan
-- Run before the claim on PostgreSQL only (its own text, and why, is in
-- the PostgreSQL claims file); SQLite plans the claim from the partial
-- index as it stands.
SELECT 1

-- name: claim_durability
-- PostgreSQL only, with claim_plan (see the PostgreSQL claims file).
SELECT 1

-- name: next_due
-- When the earliest pending chunk falls due (NULL: none is pending).
SELECT min(run_after) FROM chunks WHERE status = 'pending';

-- name: start_jobs
-- The jobs of a claim batch that starts them, all in one statement: each
-- pending one becomes running. (Writing a running job's row again changes
-- nothing in it.)
UPDATE jobs
SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
    started_at = CASE WHEN status = 'pending' THEN :now ELSE started_at END
WHERE id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE id = ANY (ARRAY(SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value)))  -- postgres
;

-- name: settle
-- End attempts in one statement: each outcome applies only where its chunk
-- is still processing under the same lease token (the fence). A worker that
-- lost its lease changes nothing. The outcomes are read out of their JSON
-- once each (MATERIALIZED): flattened into the UPDATE, each use of a field
-- parsed its object again.
WITH o AS MATERIALIZED (
    SELECT value ->> 'chunk_id' AS chunk_id,
           value ->> 'lease_token' AS lease_token,
           value ->> 'status' AS status,
           value ->> 'run_after' AS run_after,
           value ->> 'finished_at' AS finished_at,
           value ->> 'error' AS error,
           value ->> 'result' AS result,
           coalesce(value ->> 'refund', 0) AS refund
    FROM json_each(:outcomes)
)
UPDATE chunks
SET status = o.status,
    run_after = coalesce(o.run_after, chunks.run_after),
    finished_at = o.finished_at,
    lease_token = NULL,
    attempt = chunks.attempt - o.refund,
    worker_id = CASE WHEN o.refund THEN NULL ELSE chunks.worker_id END,
    last_error = coalesce(o.error, chunks.last_error),
    result = o.result
FROM o
WHERE chunks.id = o.chunk_id
  AND chunks.status = 'processing'
  AND chunks.lease_token = o.lease_token
RETURNING chunks.id, chunks.job_id, chunks.status;

-- name: settle_all
-- PostgreSQL only (its text, and why, is in the PostgreSQL claims file):
-- SQLite settles with settle, record_attempts, count_job_chunks and
-- count_worker_chunks, each a statement of its own, all in-process.
SELECT 1

-- name: record_attempts
INSERT INTO chunk_attempts (chunk_id, attempt, worker_id, outcome, error, started_at, ended_at)
SELECT value ->> 'chunk_id', value ->> 'attempt', value ->> 'worker_id', value ->> 'kind',  -- sqlite
       value ->> 'error', value ->> 'started_at', :now  -- sqlite
FROM json_each(:attempts)  -- sqlite
SELECT (v ->> 'chunk_id')::bigint, (v ->> 'attempt')::integer, v ->> 'worker_id', v ->> 'kind',  -- postgres
       v ->> 'error', (v ->> 'started_at')::double precision, :now  -- postgres
FROM jsonb_array_elements(:attempts::jsonb) AS t(v)  -- postgres
;

-- name: count_job_chunks
-- Move the counters of every job a settle touched and end each job whose
-- last chunk this was, all in one statement. The SET expressions see the
-- row as it was, so the counters after this update are written out as
-- (old + delta). Every job here had a chunk in flight a moment ago, so none
-- had ended: a final status among the returned rows was set by this
-- statement (settle_in relies on that).
-- A row with a started_at also starts its job if it is still pending: a
-- PostgreSQL worker's claims leave their jobs pending and its next settle
-- starts them here, where a job whose chunks have all ended by then goes
-- from pending to its end in one row version. Such a row may carry no
-- counts: a job already running is then not written at all.
-- On SQLite the counts are read out of their JSON once each (MATERIALIZED):
-- flattened into the UPDATE, each use of a field parsed its object again.
WITH c AS MATERIALIZED (  -- sqlite
    SELECT value ->> 'job_id' AS job_id, value ->> 'completed' AS completed,  -- sqlite
           value ->> 'failed' AS failed, value ->> 'cancelled' AS cancelled,  -- sqlite
           value ->> 'started_at' AS started_at  -- sqlite
    FROM json_each(:counts)  -- sqlite
)  -- sqlite
UPDATE jobs
SET chunks_completed = chunks_completed + c.completed,
    chunks_failed = chunks_failed + c.failed,
    chunks_cancelled = chunks_cancelled + c.cancelled,
    status = CASE
        WHEN status NOT IN ('pending', 'running')
          OR chunks_completed + c.completed + chunks_failed + c.failed
             + chunks_cancelled + c.cancelled < chunks_total
        THEN CASE WHEN status = 'pending' AND c.started_at IS NOT NULL THEN 'running' ELSE status END
        WHEN chunks_completed + c.completed = chunks_total THEN 'completed'
        WHEN chunks_completed + c.completed > 0 THEN 'partial'
        WHEN chunks_failed + c.failed > 0 THEN 'failed'
        ELSE 'cancelled' END,
    started_at = CASE WHEN status = 'pending' AND c.started_at IS NOT NULL THEN c.started_at ELSE jobs.started_at END,
    finished_at = CASE
        WHEN status IN ('pending', 'running')
         AND chunks_completed + c.completed + chunks_failed + c.failed
             + chunks_cancelled + c.cancelled = chunks_total THEN :now
        ELSE finished_at END
FROM c  -- sqlite
FROM (  -- postgres
    SELECT (v ->> 'job_id')::bigint AS job_id, (v ->> 'completed')::integer AS completed,  -- postgres
           (v ->> 'failed')::integer AS failed, (v ->> 'cancelled')::integer AS cancelled,  -- postgres
           (v ->> 'started_at')::double precision AS started_at  -- postgres
    FROM jsonb_array_elements(:counts::jsonb) AS t(v)  -- postgres
) AS c  -- postgres
WHERE jobs.id = c.job_id
  -- each job found by its key: joined as above alone, a few thousand jobs
  -- were enough for the planner to read them all on every settle
  AND jobs.id = ANY (ARRAY(SELECT (v ->> 'job_id')::bigint FROM jsonb_array_elements(:counts::jsonb) AS t(v)))  -- postgres
  AND (c.completed + c.failed + c.cancelled > 0 OR (jobs.status = 'pending' AND c.started_at IS NOT NULL))
RETURNING jobs.id, jobs.status, jobs.on_finalize, jobs.schedule_id, jobs.chunks_total,
          jobs.chunks_completed, jobs.chunks_failed, jobs.chunks_cancelled;

-- name: unstart_jobs
-- After chunks were handed back unspent (released at shutdown, deferred): each of these jobs that
-- has nothing to show (no chunk ended, none processing, no attempt spent) is pending again, as
-- before its first claim. Left running, a queue stopped mid-chunk read as work under way.
UPDATE jobs SET status = 'pending', started_at = NULL
WHERE id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
  AND status = 'running' AND chunks_completed + chunks_failed + chunks_cancelled = 0
  AND NOT EXISTS (SELECT 1 FROM chunks
                  WHERE chunks.job_id = jobs.id AND (chunks.status <> 'pending' OR chunks.attempt > 0));

-- name: finalize_if_ended
-- Each of these jobs whose every chunk has ended gets its final status,
-- once: the status guard makes a second pass change nothing.
-- :cut_short is the number of chunks an operator's finalize has just
-- cancelled (0 otherwise): the status follows the chunks that had ended
-- before it, so a job finalized with nothing but completed chunks behind it
-- is completed (see actions.finalize).
UPDATE jobs
SET status = CASE
        WHEN chunks_completed > 0 AND chunks_completed = chunks_total - :cut_short THEN 'completed'
        WHEN chunks_completed > 0 THEN 'partial'
        WHEN chunks_failed > 0 THEN 'failed'
        ELSE 'cancelled' END,
    finished_at = :now
WHERE id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE id IN (SELECT value::bigint FROM jsonb_array_elements_text(:job_ids::jsonb) AS t(value))  -- postgres
  AND status IN ('pending', 'running')
  AND chunks_completed + chunks_failed + chunks_cancelled = chunks_total
RETURNING id, status, on_finalize, schedule_id, chunks_total, chunks_completed, chunks_failed, chunks_cancelled;

-- name: count_worker_chunks
UPDATE workers
SET chunks_done = chunks_done + c.done, chunks_failed = chunks_failed + c.failed
FROM (
    SELECT value ->> 'worker_id' AS worker_id, value ->> 'done' AS done, value ->> 'failed' AS failed  -- sqlite
    FROM json_each(:counts)  -- sqlite
    SELECT v ->> 'worker_id' AS worker_id, (v ->> 'done')::integer AS done,  -- postgres
           (v ->> 'failed')::integer AS failed  -- postgres
    FROM jsonb_array_elements(:counts::jsonb) AS t(v)  -- postgres
) AS c
WHERE workers.id = c.worker_id;

-- name: held_by_worker
-- The chunks the database says a worker holds (chunks_processing): what it
-- runs whose lease is still current, and any it holds but no longer runs.
SELECT id, job_id, chunk_index, attempt, lease_token, claimed_at FROM chunks
WHERE worker_id = :worker_id AND status = 'processing';
