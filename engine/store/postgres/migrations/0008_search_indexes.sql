-- Finding jobs among a million (see ../../sqlite/migrations/0008_search_indexes.sql):
-- trigram GIN indexes (pg_trgm) on the jobs' intent and params and on the
-- chunks' last errors, so ILIKE '%word%' reads the index instead of every
-- row, and an index for the sort by last update. pg_trgm is created in the
-- public schema (a queue's own schema may be dropped with its data; the
-- extension must outlive it) and its operator classes are named through the
-- schema it is in. Where it cannot be created (not installed, or no right to
-- create it) the indexes are left out: searches then scan, still bounded
-- (find.py), and everything else works the same.
DO $$
DECLARE
    trgm text;
BEGIN
    SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF trgm IS NULL THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm could not be created (%): text searches scan', SQLERRM;
        END;
        SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    END IF;
    IF trgm IS NOT NULL THEN
        EXECUTE format('CREATE INDEX jobs_text_trgm ON jobs USING gin (intent %1$I.gin_trgm_ops, params %1$I.gin_trgm_ops)', trgm);
        EXECUTE format('CREATE INDEX chunks_errors_trgm ON chunks USING gin (last_error %I.gin_trgm_ops) '
                       'WHERE last_error IS NOT NULL', trgm);
    END IF;
END $$;
CREATE INDEX jobs_updated ON jobs ((coalesce(finished_at, started_at, created_at)), id);
