-- PostgreSQL versions of the queries in ../logs.sql that differ there;
-- every other query of ../logs.sql runs on PostgreSQL as it is.

-- name: insert_logs
INSERT INTO task_logs (job_id, chunk_id, worker_id, ts, level, message)
SELECT (v ->> 0)::bigint, (v ->> 1)::bigint, v ->> 2, (v ->> 3)::double precision, v ->> 4, v ->> 5
FROM jsonb_array_elements(:entries::jsonb) AS t(v);
