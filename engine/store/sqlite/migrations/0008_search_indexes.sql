-- Finding jobs among a million: trigram full-text indexes for free text and
-- err: (and intent: globs), and an index for the sort by last update.
-- jobs_text holds each job's intent and params, chunk_errors each chunk's
-- last error (chunks without one are not in it); both are FTS5 tables with
-- the trigram tokenizer over external content, so a word of three or more
-- characters is found as a substring, case-insensitively, without reading
-- every row. Triggers keep them in the transaction that changes the rows: a
-- submitted job costs one index insert, a chunk one only when its last error
-- changes (see README "TUI at a million jobs" for the measured cost).
CREATE VIRTUAL TABLE jobs_text USING fts5(intent, params, content='jobs', content_rowid='id', tokenize='trigram', columnsize=0);
INSERT INTO jobs_text (jobs_text) VALUES ('rebuild');
CREATE TRIGGER jobs_text_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO jobs_text (rowid, intent, params) VALUES (NEW.id, NEW.intent, NEW.params);
END;
CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, intent, params) VALUES ('delete', OLD.id, OLD.intent, OLD.params);
END;
CREATE TRIGGER jobs_text_update AFTER UPDATE OF intent, params ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, intent, params) VALUES ('delete', OLD.id, OLD.intent, OLD.params);
    INSERT INTO jobs_text (rowid, intent, params) VALUES (NEW.id, NEW.intent, NEW.params);
END;
CREATE VIRTUAL TABLE chunk_errors USING fts5(last_error, content='chunks', content_rowid='id', tokenize='trigram', columnsize=0);
INSERT INTO chunk_errors (rowid, last_error) SELECT id, last_error FROM chunks WHERE last_error IS NOT NULL;
CREATE TRIGGER chunk_errors_insert AFTER INSERT ON chunks WHEN NEW.last_error IS NOT NULL BEGIN
    INSERT INTO chunk_errors (rowid, last_error) VALUES (NEW.id, NEW.last_error);
END;
CREATE TRIGGER chunk_errors_delete AFTER DELETE ON chunks WHEN OLD.last_error IS NOT NULL BEGIN
    INSERT INTO chunk_errors (chunk_errors, rowid, last_error) VALUES ('delete', OLD.id, OLD.last_error);
END;
CREATE TRIGGER chunk_errors_update AFTER UPDATE OF last_error ON chunks
WHEN OLD.last_error IS NOT NEW.last_error BEGIN
    INSERT INTO chunk_errors (chunk_errors, rowid, last_error)
    SELECT 'delete', OLD.id, OLD.last_error WHERE OLD.last_error IS NOT NULL;
    INSERT INTO chunk_errors (rowid, last_error) SELECT NEW.id, NEW.last_error WHERE NEW.last_error IS NOT NULL;
END;
-- Sort by last update (the expression find.sql sorts by). Sorting by
-- progress has no index: the ratio changes with every chunk a job ends, and
-- an index on it would cost every settle a second index write.
CREATE INDEX jobs_updated ON jobs (coalesce(finished_at, started_at, created_at), id);
