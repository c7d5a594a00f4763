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
-- never collide.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)  -- sqlite
SELECT (SELECT coalesce(max(id), 0) FROM jobs) + i AS id FROM n ORDER BY i  -- sqlite
SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id FROM generate_series(1, :n)  -- postgres
;

-- name: insert_jobs
-- Many jobs in one statement, from one JSON array; params arrive as JSON
-- text so they are stored byte for byte as given. Rows go in dedupe-key
-- order, so two concurrent PostgreSQL submitters meet their shared keys in
-- the same order and cannot deadlock. A key a concurrent submit took first
-- makes its row insert nothing (PostgreSQL waits for that transaction); the
-- caller reads the winner's id.
INSERT INTO jobs (id, intent, params, priority, max_retries, timeout, dedupe_key,
                  on_finalize, parent_job_id, schedule_id, chunks_total, created_at)
SELECT value ->> 'id', value ->> 'intent', value ->> 'params', value ->> 'priority',  -- sqlite
       value ->> 'max_retries', value ->> 'timeout', value ->> 'dedupe_key',  -- sqlite
       value ->> 'on_finalize', value ->> 'parent_job_id', value ->> 'schedule_id',  -- sqlite
       value ->> 'chunks_total', :now  -- sqlite
FROM json_each(:jobs)  -- sqlite
-- SQLite needs a WHERE here to tell the ON CONFLICT clause from a join's ON
WHERE true ORDER BY value ->> 'dedupe_key', key  -- sqlite
SELECT (v ->> 'id')::bigint, v ->> 'intent', v ->> 'params', (v ->> 'priority')::integer,  -- postgres
       (v ->> 'max_retries')::integer, (v ->> 'timeout')::double precision, v ->> 'dedupe_key',  -- postgres
       v ->> 'on_finalize', (v ->> 'parent_job_id')::bigint, (v ->> 'schedule_id')::bigint,  -- postgres
       (v ->> 'chunks_total')::integer, :now  -- postgres
FROM jsonb_array_elements(:jobs::jsonb) WITH ORDINALITY AS t(v, ord)  -- postgres
ORDER BY v ->> 'dedupe_key', ord  -- postgres
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING
RETURNING id;

-- name: insert_chunks
-- Every chunk of many jobs in one statement: one JSON array of
-- {job_id, priority, chunks: "[...]"} (each job's chunk list as JSON text),
-- much cheaper than a bound statement per chunk or per job.
INSERT INTO chunks (job_id, chunk_index, params, priority, run_after)
SELECT j.value ->> 'job_id', c.key, json(c.value), j.value ->> 'priority', :now  -- sqlite
FROM json_each(:jobs) AS j, json_each(j.value ->> 'chunks') AS c  -- sqlite
SELECT (j.v ->> 'job_id')::bigint, c.ord - 1, c.value::text, (j.v ->> 'priority')::integer, :now  -- postgres
FROM jsonb_array_elements(:jobs::jsonb) AS j(v)  -- postgres
CROSS JOIN LATERAL jsonb_array_elements((j.v ->> 'chunks')::jsonb) WITH ORDINALITY AS c(value, ord)  -- postgres
;

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
  AND (:search::text IS NULL OR j.intent LIKE '%' || :search::text || '%' OR j.id::text = :search::text)  -- postgres
ORDER BY j.id DESC
LIMIT :limit OFFSET :offset;

-- name: count_jobs
SELECT count(*) FROM jobs j
WHERE (:status IS NULL OR j.status = :status)  -- sqlite
  AND (:search IS NULL OR j.intent LIKE '%' || :search || '%' OR CAST(j.id AS TEXT) = :search)  -- sqlite
WHERE (:status::text IS NULL OR j.status = :status::text)  -- postgres
  AND (:search::text IS NULL OR j.intent LIKE '%' || :search::text || '%' OR j.id::text = :search::text)  -- postgres
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
