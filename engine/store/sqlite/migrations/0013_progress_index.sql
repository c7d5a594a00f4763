-- Sorting jobs by progress (the TUI's `o`, `--sort progress`) read and sorted
-- every job: 1.7-2.3 s at a million. This index holds the sort key (the
-- expression of find.sql's sort_progress: the planner matches it only if the
-- two stay the same) of every job that is not running; find.py merges a page
-- of it with the running jobs, read through jobs_status. Running jobs are
-- left out because their ratio moves with every settle: an entry for them
-- would be one more index write per settle. A job's entry is written when its
-- status changes (its start takes it out, its end puts it back), in the
-- transaction that changes it.
CREATE INDEX IF NOT EXISTS jobs_progress ON jobs (CAST(chunks_completed AS REAL) / max(chunks_total, 1), id)
    WHERE status <> 'running';
