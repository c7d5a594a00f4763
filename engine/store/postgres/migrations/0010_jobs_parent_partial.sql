-- jobs_parent holds only the jobs that have a parent (on-finalize follow-ups):
-- every other job's NULL had an entry of its own, written when the job was
-- inserted and again by each of its updates (a job's start and its end both
-- move indexed columns, so neither is a HOT update and every index of the
-- table gets a new entry). Lookups by parent, and the foreign key's ON DELETE
-- SET NULL, compare with `=`, which no NULL satisfies: they use it as before.
DROP INDEX IF EXISTS jobs_parent;
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
