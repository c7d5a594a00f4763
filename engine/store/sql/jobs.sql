-- Jobs and chunks: submitting and reading.

-- name: unfinished_by_dedupe_keys
-- The unfinished jobs that already hold any of these dedupe keys: one probe
-- of the partial index jobs_dedupe per key (CROSS JOIN keeps the keys the
-- outer loop in SQLite; the IS NOT NULL and the status list are what let it
-- use that index).
SELECT j.id, j.dedupe_key
FROM json_each(:keys) AS k CROSS JOIN jobs AS j ON j.dedupe_key = k.value  -- sqlite
FROM jsonb_array_elements_text(:keys::jsonb) AS k(value) JOIN jobs AS j ON j.dedupe_key = k.value  -- postgres
WHERE j.dedupe_key IS NOT NULL AND j.status IN ('pending', 'running');

-- name: reserve_job_ids
-- :n new job ids, in increasing order, so that each job's chunks can name it
-- in the same statement that inserts them all. SQLite: the caller holds the
-- write lock, so nothing else can take the ids after the current maximum.
-- PostgreSQL: taken from the identity sequence, so concurrent submitters
-- never collide; the sequence is looked up once, not for every id (that
-- catalog lookup cost as much as the rest of the statement).
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)  -- sqlite
SELECT (SELECT coalesce(max(id), 0) FROM jobs) + i AS id FROM n ORDER BY i  -- sqlite
WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('jobs', 'id')::regclass AS seq)  -- postgres
SELECT nextval(s.seq) AS id FROM s, generate_series(1, :n) ORDER BY 1  -- postgres
;

-- name: reserve_batch
-- PostgreSQL's bulk submit, before each batch's transaction (services/bulk.py):
-- reserve_job_ids as one array in one row (a row object per id cost the
-- client more than the server's whole reservation), and the batch's intents
-- stored and committed. A statement trigger adds each job's intent to
-- job_intents; two batches written at once adding one new intent in their
-- transactions would each wait for the other's commit, where the later must
-- commit last. (SQLite writes one batch at a time and has no such table.)
WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('jobs', 'id')::regclass AS seq),  -- postgres
     intents AS (INSERT INTO job_intents (intent)  -- postgres
                 SELECT DISTINCT value FROM jsonb_array_elements_text(:intents::jsonb) AS t(value) ORDER BY 1  -- postgres
                 ON CONFLICT DO NOTHING)  -- postgres
SELECT array_agg(nextval(s.seq) ORDER BY n) FROM s, generate_series(1, :n) AS n  -- postgres
SELECT NULL  -- sqlite
;

-- name: insert_jobs
-- Many jobs in one statement, from one JSON array of rows, each an array in
-- the order of jobs.JOB_FIELDS (id, intent, params, priority, max_retries,
-- timeout, dedupe_key, on_finalize, parent_job_id, schedule_id,
-- chunks_total, queue); params arrive as JSON text so they are stored byte for
-- byte as given. Rows go in dedupe-key order, so two concurrent PostgreSQL
-- submitters meet their shared keys in the same order and cannot deadlock.
-- A key a concurrent submit took first makes its row insert nothing
-- (PostgreSQL waits for that transaction); the caller reads the winner's id.
-- Each job's random nonce (16 bytes as hex) is made here, once.
INSERT INTO jobs (id, intent, params, priority, max_retries, timeout, dedupe_key,
                  on_finalize, parent_job_id, schedule_id, chunks_total, queue, created_at,
                  nonce)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,  -- sqlite
       value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, :now,  -- sqlite
       lower(hex(randomblob(16)))  -- sqlite
FROM json_each(:jobs)  -- sqlite
-- SQLite needs a WHERE here to tell the ON CONFLICT clause from a join's ON
WHERE true ORDER BY value ->> 6, key  -- sqlite
SELECT (v ->> 0)::bigint, v ->> 1, v ->> 2, (v ->> 3)::integer, (v ->> 4)::integer,  -- postgres
       (v ->> 5)::double precision, v ->> 6, v ->> 7, (v ->> 8)::bigint, (v ->> 9)::bigint,  -- postgres
       (v ->> 10)::integer, v ->> 11, :now,  -- postgres
       encode(uuid_send(gen_random_uuid()), 'hex')  -- postgres
FROM jsonb_array_elements(:jobs::jsonb) WITH ORDINALITY AS t(v, ord)  -- postgres
ORDER BY v ->> 6, ord  -- postgres
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING
RETURNING id;

-- name: insert_chunks
-- Every chunk of many jobs in one statement: one flat JSON array of
-- [job_id, chunk_index, params, priority(, queue)] rows, params as JSON text
-- (a row without a queue is in 'default'). (Each
-- job's own list, walked nested inside the outer one, was re-read whole for
-- every chunk on SQLite: 20,000 chunks took a second.)
INSERT INTO chunks (job_id, chunk_index, params, priority, queue, run_after)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, coalesce(value ->> 4, 'default'), :now  -- sqlite
FROM json_each(:chunks)  -- sqlite
SELECT (v ->> 0)::bigint, (v ->> 1)::integer, v ->> 2, (v ->> 3)::integer, coalesce(v ->> 4, 'default'),  -- postgres
       :now  -- postgres
FROM jsonb_array_elements(:chunks::jsonb) AS t(v)  -- postgres
;

-- name: copy_jobs
-- PostgreSQL's bulk submit (jobs.insert_jobs in a bulk transaction): the
-- jobs without a dedupe key, which no other job can conflict with, streamed
-- as text (jobs.copied_jobs), their ids reserved and nonces made by the
-- caller. (SQLite has no COPY: it never runs this.)
COPY jobs (id, intent, params, priority, max_retries, timeout, on_finalize, parent_job_id,  -- postgres
           schedule_id, chunks_total, queue, created_at, nonce) FROM STDIN  -- postgres
;

-- name: copy_chunks
-- Every chunk of the jobs a bulk submit made, streamed as copy_jobs.
COPY chunks (job_id, chunk_index, params, priority, queue, run_after) FROM STDIN  -- postgres
;

-- name: job_nonce
-- A job's random nonce (the http handler's idempotency keys): NULL when the
-- job is gone, or was written by something other than insert_jobs.
SELECT nonce FROM jobs WHERE id = :job_id;

-- name: get_job
SELECT j.*, (SELECT count(*) FROM task_logs l WHERE l.job_id = j.id) AS log_count
FROM jobs j WHERE j.id = :job_id;

-- name: list_jobs
-- A page of jobs, newest first, with their log counts in the same query.
SELECT j.*, (SELECT count(*) FROM task_logs l WHERE l.job_id = j.id) AS log_count
FROM jobs j
WHERE (:status IS NULL OR j.status = :status)  -- sqlite
  AND (:search IS NULL OR j.intent LIKE '%' || :search || '%' OR CAST(j.id AS TEXT) = :search)  -- sqlite
WHERE (:status::text IS NULL OR j.status = :status::text)  -- postgres
  AND (:search::text IS NULL OR j.id::text = :search::text  -- postgres
       OR j.intent = ANY (ARRAY(SELECT intent FROM job_intents WHERE intent LIKE '%' || :search::text || '%')))  -- postgres
ORDER BY j.id DESC
LIMIT :limit OFFSET :offset;

-- name: count_jobs
SELECT count(*) FROM jobs j
WHERE (:status IS NULL OR j.status = :status)  -- sqlite
  AND (:search IS NULL OR j.intent LIKE '%' || :search || '%' OR CAST(j.id AS TEXT) = :search)  -- sqlite
WHERE (:status::text IS NULL OR j.status = :status::text)  -- postgres
  AND (:search::text IS NULL OR j.id::text = :search::text  -- postgres
       OR j.intent = ANY (ARRAY(SELECT intent FROM job_intents WHERE intent LIKE '%' || :search::text || '%')))  -- postgres
;

-- name: list_chunks
SELECT * FROM chunks WHERE job_id = :job_id
ORDER BY chunk_index LIMIT :limit OFFSET :offset;

-- name: get_chunk
SELECT * FROM chunks WHERE job_id = :job_id AND chunk_index = :chunk_index;

-- name: attempts_of_job
SELECT a.*, c.chunk_index FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id
WHERE c.job_id = :job_id ORDER BY c.chunk_index, a.attempt, a.id;

-- name: attempts_of_chunk
SELECT a.*, c.chunk_index FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id
WHERE a.chunk_id = :chunk_id ORDER BY a.attempt, a.id;

-- name: job_logs
SELECT * FROM task_logs WHERE job_id = :job_id AND id > :after_id
ORDER BY id DESC LIMIT :limit;

-- name: attempt_counts
-- Failed attempts per job, for a page of jobs at once (the jobs pane's ERR column).
SELECT c.job_id, count(*) AS n FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id
WHERE c.job_id IN (SELECT value FROM json_each(:job_ids))  -- sqlite
WHERE c.job_id IN (SELECT jsonb_array_elements_text(:job_ids::jsonb)::bigint)  -- postgres
GROUP BY c.job_id;
