-- Rows by state, kept by triggers in the transaction that changes the rows
-- (see ../../sqlite/migrations/0006_counts_and_find.sql). Here a statement
-- appends its changes as rows (kind, state, +/-n) rather than updating one
-- row per state: concurrent writers then never wait on each other's counter
-- rows (nor deadlock over them); reads sum the rows, and now and then a
-- writer folds them into one row per state (one writer at a time, under a
-- transaction advisory lock it only tries to take).
CREATE TABLE counts (
    kind   text NOT NULL CHECK (kind IN ('jobs', 'chunks')),
    state  text NOT NULL,
    n      bigint NOT NULL
);
INSERT INTO counts (kind, state, n) SELECT 'jobs', status, count(*) FROM jobs GROUP BY status;
INSERT INTO counts (kind, state, n) SELECT 'chunks', status, count(*) FROM chunks GROUP BY status;

CREATE FUNCTION queuetop_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- 0x71756575 ('queu'): the key of this fold's advisory lock.
    IF random() < 0.02 AND pg_try_advisory_xact_lock(1903520117) THEN
        WITH gone AS (DELETE FROM counts RETURNING kind, state, n)
        INSERT INTO counts (kind, state, n)
        SELECT kind, state, sum(n) FROM gone GROUP BY kind, state HAVING sum(n) <> 0;
    END IF;
END $$;

CREATE FUNCTION queuetop_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO counts (kind, state, n)
        SELECT TG_ARGV[0], status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO counts (kind, state, n)
        SELECT TG_ARGV[0], status, -count(*) FROM old_rows GROUP BY status;
    ELSE
        -- Every row is in both tables: what is left per state is what changed.
        INSERT INTO counts (kind, state, n)
        SELECT TG_ARGV[0], status, sum(d) FROM (
            SELECT status, -1 AS d FROM old_rows UNION ALL SELECT status, 1 FROM new_rows) AS moved
        GROUP BY status HAVING sum(d) <> 0;
    END IF;
    PERFORM queuetop_counts_fold();
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('jobs');
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('jobs');
CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('jobs');
CREATE TRIGGER chunks_count_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('chunks');
CREATE TRIGGER chunks_count_delete AFTER DELETE ON chunks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('chunks');
CREATE TRIGGER chunks_count_update AFTER UPDATE ON chunks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_rows('chunks');

CREATE INDEX jobs_intent ON jobs (intent, id);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX chunks_errors ON chunks (job_id) WHERE last_error IS NOT NULL;
