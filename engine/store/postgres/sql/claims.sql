-- PostgreSQL versions of the queries in ../claims.sql that differ there;
-- every other query of ../claims.sql runs on PostgreSQL as it is.

-- name: claim
-- One statement does the whole claim: pick due chunks, hold them under
-- fresh lease tokens, and return each chunk with what its worker needs of
-- its job. SKIP LOCKED lets concurrent claimers pass over each other's rows
-- instead of queueing on them; MATERIALIZED keeps the LIMIT inside the lock.
-- The jobs are read, not written: claims.claim starts them with start_jobs
-- when asked to, and a worker leaves that to its next settle (see
-- count_job_chunks), where a job whose only chunk has already ended is
-- started and ended in one row version instead of two.
WITH picked AS MATERIALIZED (
    SELECT id FROM chunks
    WHERE status = 'pending' AND run_after <= :now
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE id = 1 AND paused = 1)
      -- chunks of held queues (a limit, a rate or a pause) are claimed under their
      -- queue's row by services/queues.py, with this statement and this line
      -- alone swapped (see queries.with_line); while no queue is held, the
      -- first test is true once per statement and no chunk's queue is read
      AND /* queues */ (NOT EXISTS (SELECT 1 FROM held_queues) OR chunks.queue NOT IN (SELECT name FROM held_queues))
      -- the job's intent, looked up by primary key for each chunk looked at
      -- (with the NULL test outside the EXISTS, the planner hashed every job
      -- in the table on each claim)
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
    WHERE chunks.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING chunks.id, chunks.job_id, chunks.chunk_index, chunks.params, chunks.attempt,
              chunks.lease_token, chunks.claimed_at
)
-- read by position (claims.claims_from_rows and claims.job_specs): the chunk's columns as
-- SQLite's claim returns them, then the job's
SELECT claimed.*, job.intent, job.params AS job_params, job.max_retries, job.timeout
FROM claimed, LATERAL (SELECT intent, params, max_retries, timeout FROM jobs WHERE jobs.id = claimed.job_id) AS job;

-- name: claim_plan
-- The claim must walk chunks_claim in (priority, id) order and stop after
-- :limit rows. Statistics that say few chunks are pending (a table not yet
-- analyzed, or a burst of submits since the last analyze) make the planner
-- prefer a bitmap scan of every pending chunk, then a sort: one claim then
-- reads the whole backlog (24 ms at 20,000 pending instead of 0.2 ms), and
-- draining a backlog costs its square. For the claim's transaction only.
SET LOCAL enable_bitmapscan = off

-- name: claim_durability
-- A claim's commit does not wait for its WAL to reach the disk (the WAL
-- writer flushes it a moment later, with other commits): a claim is sent
-- back as soon as its rows are written. A server that crashes in that
-- moment loses the claim with every row it wrote (the chunks are pending
-- again, their attempts and a held queue's tokens unspent, as if never
-- claimed; the worker's settle of them is then fenced out by the lease
-- token): at least once, as after any crash. Settles and everything else
-- still commit durably. For the claim's transaction only.
SET LOCAL synchronous_commit = off

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
  -- each chunk found by its key, whatever the statistics say (see count_job_chunks)
  AND chunks.id = ANY (ARRAY(SELECT (v ->> 'chunk_id')::bigint FROM jsonb_array_elements(:outcomes::jsonb) AS t(v)))
  -- The fence: the same lease token, which only a processing chunk has (the
  -- table's CHECK), so the status need not be asked. Asked, it let the plan
  -- cached for this statement AND the keys with the partial index
  -- chunks_processing, read whole by a bitmap scan, which never marks the
  -- entries of ended chunks dead: until a vacuum, each settle read one
  -- entry per chunk ever claimed.
  AND chunks.lease_token = o.lease_token
RETURNING chunks.id, chunks.job_id, chunks.status;

-- name: settle_all
-- A whole settle in one statement, one round trip: what settle,
-- record_attempts, count_job_chunks and count_worker_chunks (../claims.sql)
-- do one after the other on SQLite, each a statement and a round trip of
-- its own here before. The data-modifying parts all see the rows as they
-- were before the statement and feed each other only through RETURNING:
-- the chunks' update (fenced by the lease token, as in settle) hands the
-- chunks it applied to the failed attempts' records, to the workers'
-- counters and, counted per job, to the jobs' update, which moves the
-- counters, starts the :starts jobs still pending and ends those whose last
-- chunk this was (as count_job_chunks). The statement-level counting
-- triggers fire once per table at its end, in this transaction.
-- Rows come back as 'chunk' (applied: id, job_id, status) and 'job' (the
-- row of each job written, as count_job_chunks returns it).
-- Chunks and jobs are each found by key (= ANY of an array: see settle and
-- count_job_chunks) and locked in the order of their ids: :outcomes come in
-- chunk id order and c is sorted by job id, as concurrent settles and
-- actions.lock_job lock them.
WITH o AS MATERIALIZED (
    SELECT (v ->> 'chunk_id')::bigint AS chunk_id,
           v ->> 'lease_token' AS lease_token,
           v ->> 'status' AS status,
           (v ->> 'run_after')::double precision AS run_after,
           (v ->> 'finished_at')::double precision AS finished_at,
           v ->> 'error' AS error,
           v ->> 'result' AS result,
           coalesce((v ->> 'refund')::integer, 0) AS refund,
           (v ->> 'attempt')::integer AS attempt,
           v ->> 'worker_id' AS worker_id,
           v ->> 'kind' AS kind,
           (v ->> 'started_at')::double precision AS started_at
    FROM jsonb_array_elements(:outcomes::jsonb) AS t(v)
), settled AS (
    UPDATE chunks
    SET status = o.status,
        run_after = coalesce(o.run_after, chunks.run_after),
        finished_at = o.finished_at,
        lease_token = NULL,
        attempt = chunks.attempt - o.refund,
        worker_id = CASE WHEN o.refund = 1 THEN NULL ELSE chunks.worker_id END,
        last_error = coalesce(o.error, chunks.last_error),
        result = o.result
    FROM o
    WHERE chunks.id = o.chunk_id
      AND chunks.id = ANY (ARRAY(SELECT chunk_id FROM o))
      AND chunks.lease_token = o.lease_token  -- the fence (see settle)
    RETURNING chunks.id, chunks.job_id, chunks.status, o.attempt, o.worker_id, o.kind, o.error, o.started_at
), attempts AS (
    INSERT INTO chunk_attempts (chunk_id, attempt, worker_id, outcome, error, started_at, ended_at)
    SELECT id, attempt, worker_id, kind, error, started_at, :now FROM settled WHERE kind IS NOT NULL
), worker_counts AS (
    UPDATE workers
    SET chunks_done = chunks_done + w.done, chunks_failed = chunks_failed + w.failed
    FROM (SELECT worker_id, count(*) FILTER (WHERE status = 'completed') AS done,
                 count(*) FILTER (WHERE status = 'failed') AS failed
          FROM settled
          WHERE worker_id IS NOT NULL AND status IN ('completed', 'failed', 'cancelled')
          GROUP BY worker_id) AS w
    WHERE workers.id = w.worker_id
), c AS MATERIALIZED (
    SELECT coalesce(n.job_id, s.job_id) AS job_id,
           coalesce(n.completed, 0) AS completed, coalesce(n.failed, 0) AS failed,
           coalesce(n.cancelled, 0) AS cancelled, s.started_at
    FROM (SELECT job_id, count(*) FILTER (WHERE status = 'completed') AS completed,
                 count(*) FILTER (WHERE status = 'failed') AS failed,
                 count(*) FILTER (WHERE status = 'cancelled') AS cancelled
          FROM settled GROUP BY job_id) AS n
    FULL JOIN (SELECT (v ->> 'job_id')::bigint AS job_id, (v ->> 'started_at')::double precision AS started_at
               FROM jsonb_array_elements(:starts::jsonb) AS t(v)) AS s ON s.job_id = n.job_id
    ORDER BY 1
), counted AS (
    -- count_job_chunks, fed by the CTE above (see there)
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
        started_at = CASE WHEN status = 'pending' AND c.started_at IS NOT NULL THEN c.started_at
                          ELSE jobs.started_at END,
        finished_at = CASE
            WHEN status IN ('pending', 'running')
             AND chunks_completed + c.completed + chunks_failed + c.failed
                 + chunks_cancelled + c.cancelled = chunks_total THEN :now
            ELSE finished_at END
    FROM c
    WHERE jobs.id = c.job_id
      AND jobs.id = ANY (ARRAY(SELECT job_id FROM c))
      AND (c.completed + c.failed + c.cancelled > 0 OR (jobs.status = 'pending' AND c.started_at IS NOT NULL))
    RETURNING jobs.id, jobs.status, jobs.on_finalize, jobs.schedule_id, jobs.chunks_total,
              jobs.chunks_completed, jobs.chunks_failed, jobs.chunks_cancelled
), refused AS (
    -- :one_trip (a settle sent with its COMMIT, in one round trip: see claims.settle):
    -- a job this statement ends that did not complete, or that asks for an
    -- on-finalize job, needs what follows its end in this same transaction,
    -- which a transaction already committing cannot give it. The statement
    -- then fails, having written nothing (a cast that cannot succeed; it
    -- names a column, so the planner cannot fold it and fail every time),
    -- and the settle is made again the other way. Read last, after counted.
    SELECT CAST('queuetop: settle again with its follow-ups (job ' || id || ')' AS integer) AS job
    FROM counted
    WHERE :one_trip AND status NOT IN ('pending', 'running') AND (status <> 'completed' OR on_finalize IS NOT NULL)
    LIMIT 1
)
SELECT 'chunk' AS row_kind, id, job_id, status, NULL AS on_finalize, NULL::bigint AS schedule_id,
       NULL::integer AS chunks_total, NULL::integer AS chunks_completed, NULL::integer AS chunks_failed,
       NULL::integer AS chunks_cancelled
FROM settled
UNION ALL
SELECT 'job', id, NULL, status, on_finalize, schedule_id, chunks_total, chunks_completed, chunks_failed,
       chunks_cancelled
FROM counted
UNION ALL
SELECT 'refused', job, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM refused;
