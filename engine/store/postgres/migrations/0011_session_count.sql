-- The work sessions pane's total, kept like the jobs' and chunks' (0006):
-- rows ('sessions', 'all', +/-n) appended by statement triggers in the
-- transaction that inserts or deletes sessions, folded with the others, so
-- no refresh counts the sessions table. (An upsert that updates a stored
-- session has no row in the insert's transition table.)
ALTER TABLE counts DROP CONSTRAINT counts_kind_check;
ALTER TABLE counts ADD CONSTRAINT counts_kind_check CHECK (kind IN ('jobs', 'chunks', 'sessions'));
INSERT INTO counts (kind, state, n) SELECT 'sessions', 'all', count(*) FROM sessions;

CREATE FUNCTION queuetop_count_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO counts (kind, state, n) SELECT 'sessions', 'all', count(*) FROM new_rows HAVING count(*) > 0;
    ELSE
        INSERT INTO counts (kind, state, n) SELECT 'sessions', 'all', -count(*) FROM old_rows HAVING count(*) > 0;
    END IF;
    PERFORM queuetop_counts_fold();
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_sessions();
CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queuetop_count_sessions();
