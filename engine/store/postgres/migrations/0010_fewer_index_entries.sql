-- Fewer index entries per job. A job's start and end, and a chunk's claim and
-- settle, each change an indexed column (the status), so none of them is a
-- HOT update: every index of the table gets a new entry for the new row
-- version, unless it is a partial index whose predicate the row fails.
--
-- jobs_parent holds only the jobs that have a parent (on-finalize
-- follow-ups): every other job's NULL had an entry, written when the job was
-- inserted and again at its start and at its end. Lookups by parent, and the
-- foreign key's ON DELETE SET NULL, compare with `=`, which no NULL satisfies.
DROP INDEX IF EXISTS jobs_parent;
CREATE INDEX jobs_parent ON jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
-- chunks_job_status leaves completed chunks out: nothing looks a job's
-- chunks up by that status (an operator's lock of a job takes the chunks
-- that may still change, a retry the failed and cancelled ones, a cancel the
-- pending and processing ones), and most chunks end completed: each settle
-- wrote an entry nothing reads, and the index held one per chunk ever run.
DROP INDEX IF EXISTS chunks_job_status;
CREATE INDEX chunks_job_status ON chunks (job_id, status) WHERE status <> 'completed';
