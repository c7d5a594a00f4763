-- Task logs.

-- name: insert_logs
INSERT INTO task_logs (job_id, chunk_id, worker_id, ts, level, message)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
FROM json_each(:entries);

-- name: delete_older_than
DELETE FROM task_logs WHERE ts < :cutoff;
