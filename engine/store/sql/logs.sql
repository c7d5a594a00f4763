-- Task logs.

-- name: insert_logs
INSERT INTO task_logs (job_id, chunk_id, worker_id, ts, level, message)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5  -- sqlite
FROM json_each(:entries)  -- sqlite
SELECT (v ->> 0)::bigint, (v ->> 1)::bigint, v ->> 2, (v ->> 3)::double precision, v ->> 4, v ->> 5  -- postgres
FROM jsonb_array_elements(:entries::jsonb) AS t(v)  -- postgres
;
