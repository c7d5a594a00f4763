-- A job's parent (an on-finalize follow-up's) and its schedule: checked once
-- per statement over the jobs it inserts, not by two foreign-key triggers per
-- job. Those fired for every job, a NULL one too, and queued an event each
-- until the statement's end: ~5 % of the server's work for a one-chunk job
-- of a bulk submit, where every job has neither. As for a chunk's job
-- (0012): a parent or schedule made by this same transaction cannot be
-- deleted by another; any other is locked FOR KEY SHARE until commit, as the
-- foreign key locked it, so a concurrent delete waits, and then sees the
-- new job. Deleting a job or a schedule sets its jobs' link to NULL (what ON
-- DELETE SET NULL did), and a link may only change to a row that exists.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_parent_job_id_fkey;
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_schedule_id_fkey;

-- The rows of `tbl` (jobs or schedules) with these ids, locked as above;
-- raises a foreign-key violation naming the first one missing.
CREATE OR REPLACE FUNCTION queuetop_links_exist(tbl regclass, ids bigint[], what text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    mine xid := pg_current_xact_id()::xid;
    found bigint;
    others bigint;
    missing bigint;
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- `= ANY` of an array: a probe of the primary key for each
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE xmin <> $2) FROM %s WHERE id = ANY ($1)', tbl)
        INTO found, others USING ids, mine;
    IF others > 0 THEN
        EXECUTE format('SELECT 1 FROM %s WHERE id = ANY ($1) AND xmin <> $2 FOR KEY SHARE', tbl) USING ids, mine;
        -- again once they are locked: one deleted meanwhile is gone
        EXECUTE format('SELECT count(*) FROM %s WHERE id = ANY ($1)', tbl) INTO found USING ids;
    END IF;
    IF found < cardinality(ids) THEN
        EXECUTE format('SELECT i FROM unnest($1) AS i WHERE NOT EXISTS (SELECT 1 FROM %s WHERE id = i) LIMIT 1', tbl)
            INTO missing USING ids;
        RAISE EXCEPTION 'insert or update on table "jobs" violates its %''s key: % % does not exist',
            what, what, missing USING ERRCODE = 'foreign_key_violation';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION queuetop_jobs_have_links() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parents bigint[];
    schedules bigint[];
BEGIN
    -- one pass over the new jobs, which mostly have neither
    SELECT coalesce(array_agg(DISTINCT parent_job_id) FILTER (WHERE parent_job_id IS NOT NULL), '{}'),
           coalesce(array_agg(DISTINCT schedule_id) FILTER (WHERE schedule_id IS NOT NULL), '{}')
    INTO parents, schedules FROM new_rows;
    PERFORM queuetop_links_exist('jobs', parents, 'parent job');
    PERFORM queuetop_links_exist('schedules', schedules, 'schedule');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_links_insert ON jobs;
CREATE TRIGGER jobs_links_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_jobs_have_links();
-- Nothing changes a job's links but the deletes below (to NULL); should
-- anything, a new one must exist.
CREATE OR REPLACE FUNCTION queuetop_job_links_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_job_id IS NOT NULL AND NEW.parent_job_id IS DISTINCT FROM OLD.parent_job_id THEN
        PERFORM queuetop_links_exist('jobs', ARRAY[NEW.parent_job_id], 'parent job');
    END IF;
    IF NEW.schedule_id IS NOT NULL AND NEW.schedule_id IS DISTINCT FROM OLD.schedule_id THEN
        PERFORM queuetop_links_exist('schedules', ARRAY[NEW.schedule_id], 'schedule');
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_links_update ON jobs;
CREATE TRIGGER jobs_links_update AFTER UPDATE OF parent_job_id, schedule_id ON jobs
    FOR EACH ROW WHEN ((NEW.parent_job_id IS NOT NULL AND NEW.parent_job_id IS DISTINCT FROM OLD.parent_job_id)
                       OR (NEW.schedule_id IS NOT NULL AND NEW.schedule_id IS DISTINCT FROM OLD.schedule_id))
    EXECUTE FUNCTION queuetop_job_links_changed();

CREATE OR REPLACE FUNCTION queuetop_jobs_delete_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- probes of jobs_parent, as the foreign key's own update made
    UPDATE jobs SET parent_job_id = NULL WHERE parent_job_id = ANY (ARRAY(SELECT id FROM old_rows));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS jobs_delete_links ON jobs;
CREATE TRIGGER jobs_delete_links AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_jobs_delete_links();
CREATE OR REPLACE FUNCTION queuetop_schedules_delete_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET schedule_id = NULL WHERE schedule_id = ANY (ARRAY(SELECT id FROM old_rows));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS schedules_delete_links ON schedules;
CREATE TRIGGER schedules_delete_links AFTER DELETE ON schedules REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_schedules_delete_links();
