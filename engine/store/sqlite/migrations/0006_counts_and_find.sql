-- Rows by state, kept by triggers in the transaction that changes the rows:
-- the header's totals and the jobs pane's "of N" read this small table
-- instead of counting the jobs and chunks tables. Indexes for finding jobs
-- (`/` in the TUI, `queuetop jobs --where`). A status change costs two
-- primary-key updates of counts (about 4 µs per changed row, bench/tui.py).
CREATE TABLE counts (
    kind   TEXT NOT NULL CHECK (kind IN ('jobs', 'chunks')),
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (kind, state)
) WITHOUT ROWID;
INSERT INTO counts (kind, state, n)
SELECT 'jobs', s.state, (SELECT count(*) FROM jobs WHERE status = s.state)
FROM (SELECT 'pending' AS state UNION ALL SELECT 'running' UNION ALL SELECT 'completed'
      UNION ALL SELECT 'partial' UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;
INSERT INTO counts (kind, state, n)
SELECT 'chunks', s.state, (SELECT count(*) FROM chunks WHERE status = s.state)
FROM (SELECT 'pending' AS state UNION ALL SELECT 'processing' UNION ALL SELECT 'completed'
      UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'jobs' AND state = NEW.status;
END;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'jobs' AND state = OLD.status;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'jobs' AND state = OLD.status;
    UPDATE counts SET n = n + 1 WHERE kind = 'jobs' AND state = NEW.status;
END;
CREATE TRIGGER chunks_count_insert AFTER INSERT ON chunks BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'chunks' AND state = NEW.status;
END;
CREATE TRIGGER chunks_count_delete AFTER DELETE ON chunks BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'chunks' AND state = OLD.status;
END;
CREATE TRIGGER chunks_count_update AFTER UPDATE OF status ON chunks WHEN OLD.status <> NEW.status BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'chunks' AND state = OLD.status;
    UPDATE counts SET n = n + 1 WHERE kind = 'chunks' AND state = NEW.status;
END;
-- Sort by intent, filter by age, find the jobs whose chunks have an error
-- (few chunks do: the partial index stays small).
CREATE INDEX jobs_intent ON jobs (intent, id);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX chunks_errors ON chunks (job_id) WHERE last_error IS NOT NULL;
