-- Sorting jobs by progress (the TUI's `o`, `--sort progress`) read and sorted
-- every job. This index holds the sort key (the expression of find.sql's
-- sort_progress: the planner matches it only if the two stay the same) of
-- every job that is not running; find.py merges a page of it with the
-- running jobs, read through jobs_status. Running jobs are left out, so
-- their settles add no entry to it (though, as chunks_completed is now an
-- indexed column, a settle of a running job is no longer a HOT update).
CREATE INDEX IF NOT EXISTS jobs_progress
    ON jobs ((chunks_completed::double precision / greatest(chunks_total, 1)), id)
    WHERE status <> 'running';
