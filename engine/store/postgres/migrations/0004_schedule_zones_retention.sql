-- Schedule time zones and catch-up, retention indexes (see ../../sqlite/migrations/0004_schedule_zones_retention.sql).
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS tz text NOT NULL DEFAULT 'UTC';
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS catch_up text NOT NULL DEFAULT 'none'
    CHECK (catch_up IN ('none', 'once', 'all'));
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS max_catch_up integer NOT NULL DEFAULT 10 CHECK (max_catch_up >= 1);
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS missed integer NOT NULL DEFAULT 0 CHECK (missed >= 0);
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS last_missed_at double precision;
CREATE INDEX IF NOT EXISTS jobs_ended ON jobs (finished_at)
    WHERE status IN ('completed', 'partial', 'failed', 'cancelled');
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent_job_id);
CREATE INDEX IF NOT EXISTS task_logs_chunk ON task_logs (chunk_id);
CREATE INDEX IF NOT EXISTS schedule_runs_job ON schedule_runs (job_id);
CREATE INDEX IF NOT EXISTS schedule_runs_finished ON schedule_runs (finished_at);
