-- PostgreSQL versions of the queries in ../jobs.sql that differ there;
-- every other query of ../jobs.sql runs on PostgreSQL as it is.

-- name: insert_chunks
INSERT INTO chunks (job_id, chunk_index, params, priority, run_after)
SELECT :job_id, t.ord - 1, t.value::text, :priority, :now
FROM jsonb_array_elements(:chunks::jsonb) WITH ORDINALITY AS t(value, ord);

-- name: list_jobs
SELECT j.*, (SELECT count(*) FROM task_logs l WHERE l.job_id = j.id) AS log_count
FROM jobs j
WHERE (:status::text IS NULL OR j.status = :status::text)
  AND (:search::text IS NULL OR j.intent LIKE '%' || :search::text || '%' OR j.id::text = :search::text)
ORDER BY j.id DESC
LIMIT :limit OFFSET :offset;

-- name: count_jobs
SELECT count(*) FROM jobs j
WHERE (:status::text IS NULL OR j.status = :status::text)
  AND (:search::text IS NULL OR j.intent LIKE '%' || :search::text || '%' OR j.id::text = :search::text);

-- name: chunk_totals
-- PostgreSQL picks the partial index chunks_processing by itself.
SELECT coalesce(sum(chunks_total), 0) AS total,
       coalesce(sum(chunks_completed), 0) AS completed,
       coalesce(sum(chunks_failed), 0) AS failed,
       coalesce(sum(chunks_cancelled), 0) AS cancelled,
       (SELECT count(*) FROM chunks WHERE status = 'processing') AS processing
FROM jobs;
