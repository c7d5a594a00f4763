-- Jobs and chunks: submitting and reading.

-- name: find_unfinished_by_dedupe_key
SELECT id FROM jobs
WHERE dedupe_key = :dedupe_key AND status IN ('pending', 'running');

-- name: insert_job
-- A concurrent submit of the same dedupe key makes this insert nothing
-- (PostgreSQL waits for the other transaction first); the caller then reads
-- the winner's id.
INSERT INTO jobs (intent, params, priority, max_retries, timeout, dedupe_key,
                  on_finalize, parent_job_id, schedule_id, chunks_total, created_at)
VALUES (:intent, :params, :priority, :max_retries, :timeout, :dedupe_key,
        :on_finalize, :parent_job_id, :schedule_id, :chunks_total, :now)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING
RETURNING id;

-- name: insert_chunks
-- One statement for all chunks of a job: the chunk list arrives as one JSON
-- array, which is much cheaper than one bound statement per chunk.
INSERT INTO chunks (job_id, chunk_index, params, priority, run_after)
SELECT :job_id, key, json(value), :priority, :now  -- sqlite
FROM json_each(:chunks)  -- sqlite
SELECT :job_id, t.ord - 1, t.value::text, :priority, :now  -- postgres
FROM jsonb_array_elements(:chunks::jsonb) WITH ORDINALITY AS t(value, ord)  -- postgres
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
