-- Sorting jobs by progress (the TUI's `o`, `--sort progress`) read and sorted
-- every job: 1.5-2.3 s at a million. This index holds the sort key (the
-- expression of find.sql's sort_progress: the planner matches it only if the
-- two stay the same), so a page is read in index order. It is written with
-- the job row, in the same transaction: a settle that moves a running job's
-- completed count moves its entry too (one more index write per job per
-- settle; leaving running jobs out and merging them in at query time was
-- tried: 100,000 running jobs took 230 ms to sort).
CREATE INDEX IF NOT EXISTS jobs_progress ON jobs (CAST(chunks_completed AS REAL) / max(chunks_total, 1), id);
