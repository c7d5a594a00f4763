-- A cheaper insert of many small jobs. Each job inserted paid for ~10
-- trigram entries of its intent in jobs_text_trgm, though a queue has few
-- intents, and for a foreign-key check of its chunk (a lookup and a row lock
-- per chunk, queued and run one by one); together a third of the server's
-- work per one-chunk job.
--
-- Intents: every intent ever given is a row of job_intents, added by a
-- statement trigger on jobs (only intents not already there, in one order,
-- so that concurrent submitters never wait on each other for a known one).
-- A text search finds the matching intents there, then their jobs through
-- jobs_intent. The trigram index keeps the params only, and only of jobs that
-- have some ('{}' holds no trigram anyway, but had an index entry).
CREATE TABLE IF NOT EXISTS job_intents (
    intent  text PRIMARY KEY
);
INSERT INTO job_intents (intent) SELECT DISTINCT intent FROM jobs ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION queuetop_job_intents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_intents (intent)
    SELECT n.intent FROM (SELECT DISTINCT intent FROM new_rows) AS n
    WHERE NOT EXISTS (SELECT 1 FROM job_intents i WHERE i.intent = n.intent)
    ORDER BY n.intent
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_intents_insert ON jobs;
CREATE TRIGGER jobs_intents_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_job_intents();
-- Nothing changes a job's intent; should anything, the new one is added.
CREATE OR REPLACE FUNCTION queuetop_job_intent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_intents (intent) VALUES (NEW.intent) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_intents_update ON jobs;
CREATE TRIGGER jobs_intents_update AFTER UPDATE OF intent ON jobs
    FOR EACH ROW WHEN (NEW.intent IS DISTINCT FROM OLD.intent) EXECUTE FUNCTION queuetop_job_intent_changed();

DO $$
DECLARE
    trgm text;
BEGIN
    SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    DROP INDEX IF EXISTS jobs_text_trgm;
    IF trgm IS NOT NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS jobs_params_trgm ON jobs USING gin (params %I.gin_trgm_ops) '
                       'WHERE params <> ''{}''', trgm);
    END IF;
END $$;

-- A chunk's job: checked once per statement over all the chunks it inserts
-- (an anti-join), not by a foreign-key trigger per chunk. A job made by
-- this same transaction cannot be seen, let alone deleted, by another; any
-- other job is locked FOR KEY SHARE until commit, as the foreign key locked
-- it, so a concurrent delete waits, and its cascade then sees the chunks.
-- Deleting jobs deletes their chunks (what ON DELETE CASCADE did), and a
-- chunk's job_id may only change to a job that exists.
ALTER TABLE chunks DROP CONSTRAINT IF EXISTS chunks_job_id_fkey;

CREATE OR REPLACE FUNCTION queuetop_chunks_have_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- looked up by `= ANY` of an array, so each is a probe of the primary
    -- key: a join with the transition table may be planned as a hash join
    -- over every job
    ids bigint[] := ARRAY(SELECT DISTINCT job_id FROM new_rows);
    mine xid := pg_current_xact_id()::xid;
    found bigint;
    others bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE xmin <> mine) INTO found, others FROM jobs WHERE id = ANY (ids);
    IF others > 0 THEN
        PERFORM 1 FROM jobs WHERE id = ANY (ids) AND xmin <> mine FOR KEY SHARE;
        -- again once they are locked: one deleted meanwhile is gone
        SELECT count(*) INTO found FROM jobs WHERE id = ANY (ids);
    END IF;
    IF found < cardinality(ids) THEN
        RAISE EXCEPTION 'insert or update on table "chunks" violates its job''s key: job % does not exist',
            (SELECT i FROM unnest(ids) AS i WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE id = i) LIMIT 1)
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS chunks_job_insert ON chunks;
CREATE TRIGGER chunks_job_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_chunks_have_jobs();
-- Nothing moves a chunk to another job; should anything, that job must exist.
CREATE OR REPLACE FUNCTION queuetop_chunk_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM jobs WHERE id = NEW.job_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insert or update on table "chunks" violates its job''s key: job % does not exist', NEW.job_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS chunks_job_update ON chunks;
CREATE TRIGGER chunks_job_update AFTER UPDATE OF job_id ON chunks
    FOR EACH ROW WHEN (NEW.job_id IS DISTINCT FROM OLD.job_id) EXECUTE FUNCTION queuetop_chunk_job_changed();

CREATE OR REPLACE FUNCTION queuetop_jobs_delete_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunks WHERE job_id = ANY (ARRAY(SELECT id FROM old_rows));  -- probes, as above
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_delete_chunks ON jobs;
CREATE TRIGGER jobs_delete_chunks AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_jobs_delete_chunks();
