-- Sorting jobs by progress (the TUI's `o`, `--sort progress`) read and sorted
-- every job. This index holds the sort key (the expression of find.sql's
-- sort_progress: the planner matches it only if the two stay the same), so a
-- page is read in index order. It is written with the job row, in the same
-- transaction. chunks_completed is now an indexed column: a settle that
-- moves a running job's count is no longer a HOT update (it was one only
-- when the row's page had room for the new version).
CREATE INDEX IF NOT EXISTS jobs_progress
    ON jobs ((chunks_completed::double precision / greatest(chunks_total, 1)), id);
