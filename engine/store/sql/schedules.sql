-- Schedules and their runs.

-- name: upsert
-- Config and CLI own cron, zone, intent, params and catch-up; the operator
-- owns `active`, so a restart with the same config never re-enables a paused
-- schedule. The next run is kept unless the cron or the zone changed (a due
-- time kept across a restart is what missed-run detection looks at).
INSERT INTO schedules (name, cron, kind, intent, params, active, next_run_at, created_at, tz, catch_up,
                       max_catch_up, queue)
VALUES (:name, :cron, :kind, :intent, :params, :active, :next_run_at, :now, :tz, :catch_up, :max_catch_up, :queue)
ON CONFLICT (name) DO UPDATE SET
    next_run_at = CASE WHEN schedules.cron = excluded.cron AND schedules.tz = excluded.tz
                       THEN schedules.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron, kind = excluded.kind, intent = excluded.intent, params = excluded.params,
    tz = excluded.tz, catch_up = excluded.catch_up, max_catch_up = excluded.max_catch_up,
    queue = excluded.queue
RETURNING *;

-- name: get
SELECT * FROM schedules WHERE name = :name;

-- name: list
SELECT * FROM schedules ORDER BY kind = 'maintenance', name;

-- name: due
SELECT * FROM schedules WHERE active = 1 AND next_run_at <= :now ORDER BY next_run_at;

-- name: next_due
SELECT min(next_run_at) FROM schedules WHERE active = 1;

-- name: set_active
UPDATE schedules SET active = :active,
    next_run_at = CASE WHEN :active = 1 THEN :next_run_at ELSE next_run_at END
WHERE name = :name RETURNING *;

-- name: remove
DELETE FROM schedules WHERE name = :name;

-- name: advance
-- Compare-and-set on the next run time: of all the processes that saw this
-- schedule due, exactly one moves it on, and only that one fires it.
UPDATE schedules SET next_run_at = :next_run_at, last_run_at = :now
WHERE id = :id AND active = 1 AND next_run_at = :expected;

-- name: start_run
INSERT INTO schedule_runs (schedule_id, scheduled_for, started_at, worker_id)
VALUES (:schedule_id, :scheduled_for, :now, :worker_id)
RETURNING id;

-- name: end_run
UPDATE schedule_runs SET finished_at = :now, status = :status, error = :error, job_id = :job_id
WHERE id = :run_id;

-- name: record_missed
-- In the transaction that moved the schedule past its missed due times.
UPDATE schedules SET missed = missed + :count, last_missed_at = :now WHERE id = :id;

-- name: record_last
UPDATE schedules SET last_status = :status, last_error = :error, last_run_at = :now WHERE id = :id;

-- name: get_run
SELECT * FROM schedule_runs WHERE id = :run_id;

-- name: runs
SELECT r.* FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id
WHERE s.name = :name ORDER BY r.scheduled_for DESC, r.id DESC LIMIT :limit;

-- name: last_failed_error
SELECT last_error FROM chunks
WHERE job_id = :job_id AND status = 'failed'
ORDER BY finished_at DESC LIMIT 1;

-- name: job_run_failed
-- A scheduled job that ended badly marks its run, and its schedule, as an error.
UPDATE schedule_runs SET status = 'error', error = :error
WHERE job_id = :job_id
RETURNING schedule_id;
