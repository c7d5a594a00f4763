-- The work sessions pane's total, kept like the jobs' and chunks' (0006): a
-- counts row ('sessions', 'all') that triggers change in the transaction
-- that inserts or deletes sessions, so no refresh counts the sessions table.
-- (An upsert that updates a stored session fires no insert trigger.)
-- counts' CHECK names its kinds, and SQLite cannot change a CHECK: the table
-- is made again with the new kind, its triggers dropped meanwhile and made
-- again as they were.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_delete;
DROP TRIGGER jobs_count_update;
DROP TRIGGER chunks_count_insert;
DROP TRIGGER chunks_count_delete;
DROP TRIGGER chunks_count_update;
CREATE TABLE counts_new (
    kind   TEXT NOT NULL CHECK (kind IN ('jobs', 'chunks', 'sessions')),
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (kind, state)
) WITHOUT ROWID;
INSERT INTO counts_new (kind, state, n) SELECT kind, state, n FROM counts;
DROP TABLE counts;
ALTER TABLE counts_new RENAME TO counts;
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
INSERT INTO counts (kind, state, n) SELECT 'sessions', 'all', count(*) FROM sessions;
CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'sessions' AND state = 'all';
END;
CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'sessions' AND state = 'all';
END;
