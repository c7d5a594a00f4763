-- Finding jobs: the pieces engine/store/find.py puts together for a parsed
-- query (engine/model/query.py). The WHERE is the named filters below joined
-- by AND; every value is a bound parameter. A filter used more than once gets
-- its parameters numbered (:pattern becomes :pattern_2). Text patterns are
-- LIKE patterns with `\` as the escape, built by find.py from the operator's
-- text (whose own %, _ and \ are escaped); matches ignore case.
-- The sort_ pieces are sort keys: find.py adds the direction and the id as
-- the tie-break. Age sorts by id (ids are handed out in order of creation,
-- so the primary key and jobs_status serve it); state sorts by name.

-- name: select
-- Over the page's rows (p: select_jobs, filtered, sorted and limited).
SELECT p.*, (SELECT count(*) FROM task_logs l WHERE l.job_id = p.id) AS log_count;

-- name: select_jobs
SELECT j.* FROM jobs j;

-- name: count
-- Bounded: counting stops at :count_cap matching jobs (the filters and
-- count_end close the inner SELECT).
SELECT count(*) FROM (SELECT 1 FROM jobs j;

-- name: count_end
LIMIT :count_cap) AS counted;

-- name: totals
-- Rows by state from the counters the triggers keep (PostgreSQL holds
-- several rows per state between folds: hence the sum).
SELECT kind, state, sum(n) AS n FROM counts GROUP BY kind, state;

-- name: text
-- Free text, read job by job: the intent, the params or a chunk's last error
-- (chunks_errors by job_id). Used when other filters leave few jobs to read
-- (find.py: NARROW) and for words too short for the trigram indexes.
(j.intent LIKE :pattern ESCAPE '\' OR j.params LIKE :pattern ESCAPE '\'  -- sqlite
 OR EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- sqlite
            AND c.last_error LIKE :pattern ESCAPE '\'))  -- sqlite
(j.intent ILIKE :pattern OR j.params ILIKE :pattern  -- postgres
 OR EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- postgres
            AND c.last_error ILIKE :pattern))  -- postgres
;

-- name: text_indexed
-- Free text through the trigram indexes (SQLite: the FTS5 tables jobs_text
-- and chunk_errors, :phrase a quoted FTS5 string; PostgreSQL: pg_trgm GIN
-- indexes under ILIKE), for words rarer than :cap (find.py probes first).
-- PostgreSQL: the newest :cap jobs of the intents that hold the word
-- (job_intents, a row per intent, then jobs_intent), of the params that do
-- (their trigram index, of jobs with params other than '{}' only) and of the
-- chunks' errors that do (theirs), as one array of ids: an array is looked up
-- through the primary key, where an IN or an OR of the three was planned as
-- a filter on every job. An intent's jobs are asked for BETWEEN it and itself
-- in (intent, id) order: with `=` the planner drops the intent from the order
-- and walks every job backwards by id, filtering on the intent.
(j.id IN (SELECT rowid FROM jobs_text WHERE jobs_text MATCH :phrase ORDER BY rowid DESC LIMIT :cap)  -- sqlite
 OR j.id IN (SELECT c.job_id FROM chunks c WHERE c.id IN (  -- sqlite
     SELECT rowid FROM chunk_errors WHERE chunk_errors MATCH :phrase ORDER BY rowid DESC LIMIT :cap)))  -- sqlite
j.id = ANY (ARRAY(  -- postgres
    SELECT id FROM (SELECT m.id FROM job_intents i CROSS JOIN LATERAL (  -- postgres
                        SELECT id FROM jobs WHERE intent BETWEEN i.intent AND i.intent  -- postgres
                        ORDER BY intent DESC, id DESC LIMIT :cap) AS m  -- postgres
                    WHERE i.intent ILIKE :pattern ORDER BY m.id DESC LIMIT :cap) AS by_intent  -- postgres
    UNION ALL  -- postgres
    SELECT id FROM (SELECT id FROM jobs WHERE params <> '{}' AND params ILIKE :pattern  -- postgres
                    ORDER BY id DESC LIMIT :cap) AS by_params  -- postgres
    UNION ALL  -- postgres
    SELECT job_id FROM (SELECT job_id FROM chunks WHERE last_error IS NOT NULL AND last_error ILIKE :pattern  -- postgres
                        ORDER BY id DESC LIMIT :cap) AS by_error))  -- postgres
;

-- name: text_newest
-- text_indexed for a lone common word on a page by id, newest first (SQLite):
-- such a word is looked for among its indexes' newest :cap matches only, and
-- the first :top (the page's offset and limit) of those by job id are in the
-- newest :top of the jobs' own matches (a job's rowid in jobs_text is its id)
-- and in the newest :top distinct jobs of its chunks' matches (chunks are
-- numbered in the order of their jobs). Read through all 2 x :cap, the page
-- read and sorted every candidate job's row: 45 ms for `503` at a million jobs.
(j.id IN (SELECT rowid FROM jobs_text WHERE jobs_text MATCH :phrase ORDER BY rowid DESC LIMIT :top)  -- sqlite
 OR j.id IN (SELECT job_id FROM (SELECT DISTINCT c.job_id FROM chunks c WHERE c.id IN (  -- sqlite
     SELECT rowid FROM chunk_errors WHERE chunk_errors MATCH :phrase ORDER BY rowid DESC LIMIT :cap)  -- sqlite
     ORDER BY c.job_id DESC LIMIT :top)))  -- sqlite
;

-- name: recent
-- A word too short for the trigram indexes is looked for among the newest
-- :span jobs only (find.py: SHORT_SPAN), so a keystroke never reads them all.
j.id > coalesce((SELECT id FROM jobs ORDER BY id DESC LIMIT 1 OFFSET :span), 0);

-- name: error
-- Per job (chunks_errors by job_id), so that with a state filter only the
-- few jobs in that state have their chunks read.
EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- sqlite
        AND c.last_error LIKE :pattern ESCAPE '\')  -- sqlite
EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- postgres
        AND c.last_error ILIKE :pattern)  -- postgres
;

-- name: error_indexed
-- The chunks whose last error holds the word, through the trigram index
-- (its newest :cap matches at most), then their jobs.
j.id IN (SELECT c.job_id FROM chunks c WHERE c.id IN (  -- sqlite
    SELECT rowid FROM chunk_errors WHERE chunk_errors MATCH :phrase ORDER BY rowid DESC LIMIT :cap))  -- sqlite
j.id IN (SELECT job_id FROM chunks WHERE last_error IS NOT NULL AND last_error ILIKE :pattern  -- postgres
         ORDER BY id DESC LIMIT :cap)  -- postgres
;

-- name: intent_indexed
-- An intent glob with a run of three or more plain characters: the trigram
-- index finds candidates (its newest :cap), the LIKE keeps the exact matches.
-- PostgreSQL: the matching intents of job_intents, the newest :cap of their
-- jobs through jobs_intent (an array of ids, as in text_indexed).
(j.intent LIKE :pattern ESCAPE '\' AND j.id IN (  -- sqlite
    SELECT rowid FROM jobs_text WHERE jobs_text MATCH :phrase ORDER BY rowid DESC LIMIT :cap))  -- sqlite
j.id = ANY (ARRAY(SELECT m.id FROM job_intents i CROSS JOIN LATERAL (  -- postgres
                      SELECT id FROM jobs WHERE intent BETWEEN i.intent AND i.intent  -- postgres
                        ORDER BY intent DESC, id DESC LIMIT :cap) AS m  -- postgres
                  WHERE i.intent ILIKE :pattern ORDER BY m.id DESC LIMIT :cap))  -- postgres
;

-- name: probe_text
-- How many rows the indexes give for a free-text word, up to :cap + 1: more
-- than :cap means text_indexed saw only the newest :cap.
SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs_text WHERE jobs_text MATCH :phrase LIMIT :cap + 1))  -- sqlite
     + (SELECT count(*) FROM (SELECT 1 FROM chunk_errors WHERE chunk_errors MATCH :phrase LIMIT :cap + 1))  -- sqlite
SELECT (SELECT count(*) FROM (SELECT 1 FROM job_intents i CROSS JOIN LATERAL (  -- postgres
                                  SELECT 1 FROM jobs WHERE intent = i.intent LIMIT :cap + 1) AS m  -- postgres
                              WHERE i.intent ILIKE :pattern LIMIT :cap + 1) AS a)  -- postgres
     + (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE params <> '{}' AND params ILIKE :pattern  -- postgres
                              LIMIT :cap + 1) AS b)  -- postgres
     + (SELECT count(*) FROM (SELECT 1 FROM chunks WHERE last_error IS NOT NULL  -- postgres
                              AND last_error ILIKE :pattern LIMIT :cap + 1) AS t)  -- postgres
;

-- name: probe_error
SELECT count(*) FROM (SELECT 1 FROM chunk_errors WHERE chunk_errors MATCH :phrase LIMIT :cap + 1)  -- sqlite
SELECT count(*) FROM (SELECT 1 FROM chunks WHERE last_error IS NOT NULL  -- postgres
                      AND last_error ILIKE :pattern LIMIT :cap + 1) AS t  -- postgres
;

-- name: probe_intent
SELECT count(*) FROM (SELECT 1 FROM jobs_text WHERE jobs_text MATCH :phrase LIMIT :cap + 1)  -- sqlite
SELECT count(*) FROM (SELECT 1 FROM job_intents i CROSS JOIN LATERAL (  -- postgres
                          SELECT 1 FROM jobs WHERE intent = i.intent LIMIT :cap + 1) AS m  -- postgres
                      WHERE i.intent ILIKE :pattern LIMIT :cap + 1) AS t  -- postgres
;

-- name: state
j.status = :state;

-- name: states
j.status IN (SELECT value FROM json_each(:states))  -- sqlite
j.status IN (SELECT jsonb_array_elements_text(:states::jsonb))  -- postgres
;

-- name: state_checked
-- The same, when a rare word's index finds the candidates: `+` keeps SQLite
-- from reading every job in the state through jobs_status instead.
+j.status = :state;

-- name: states_checked
+j.status IN (SELECT value FROM json_each(:states))  -- sqlite
j.status IN (SELECT jsonb_array_elements_text(:states::jsonb))  -- postgres
;

-- name: intent
j.intent LIKE :pattern ESCAPE '\'  -- sqlite
j.intent ILIKE :pattern  -- postgres
;

-- name: queue
-- One queue other than 'default': the literal lets both backends use the
-- partial index jobs_queue.
(j.queue = :queue AND j.queue <> 'default');

-- name: queue_default
j.queue = 'default';

-- name: queues
j.queue IN (SELECT value FROM json_each(:queues))  -- sqlite
j.queue IN (SELECT jsonb_array_elements_text(:queues::jsonb))  -- postgres
;

-- name: older
j.created_at < :cutoff;

-- name: younger
j.created_at > :cutoff;

-- name: id
j.id = :id;

-- name: ids
j.id IN (SELECT value FROM json_each(:ids))  -- sqlite
j.id IN (SELECT value::bigint FROM jsonb_array_elements_text(:ids::jsonb) AS t(value))  -- postgres
;

-- name: nothing
1 = 0;

-- name: sort_id
j.id;

-- name: sort_intent
j.intent;

-- name: sort_state
j.status;

-- name: sort_progress
-- The expression the index jobs_progress holds (migration 0013): keep them the same.
CAST(j.chunks_completed AS REAL) / max(j.chunks_total, 1)  -- sqlite
j.chunks_completed::double precision / greatest(j.chunks_total, 1)  -- postgres
;

-- name: sort_updated
coalesce(j.finished_at, j.started_at, j.created_at);
