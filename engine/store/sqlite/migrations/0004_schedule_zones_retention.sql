-- Schedules read their cron in a time zone and decide what to do about due
-- times that passed while nothing ran them; retention deletes ended jobs,
-- so the foreign keys that point at jobs and chunks get indexes.
ALTER TABLE schedules ADD COLUMN tz TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE schedules ADD COLUMN catch_up TEXT NOT NULL DEFAULT 'none' CHECK (catch_up IN ('none', 'once', 'all'));
ALTER TABLE schedules ADD COLUMN max_catch_up INTEGER NOT NULL DEFAULT 10 CHECK (max_catch_up >= 1);
ALTER TABLE schedules ADD COLUMN missed INTEGER NOT NULL DEFAULT 0 CHECK (missed >= 0);
ALTER TABLE schedules ADD COLUMN last_missed_at REAL;
CREATE INDEX jobs_ended ON jobs (finished_at) WHERE status IN ('completed', 'partial', 'failed', 'cancelled');
CREATE INDEX jobs_parent ON jobs (parent_job_id);
CREATE INDEX task_logs_chunk ON task_logs (chunk_id);
CREATE INDEX schedule_runs_job ON schedule_runs (job_id);
CREATE INDEX schedule_runs_finished ON schedule_runs (finished_at);
