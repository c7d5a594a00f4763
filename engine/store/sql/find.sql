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
SELECT j.*, (SELECT count(*) FROM task_logs l WHERE l.job_id = j.id) AS log_count
FROM jobs j;

-- name: count
SELECT count(*) FROM jobs j;

-- name: totals
-- Rows by state from the counters the triggers keep (PostgreSQL holds
-- several rows per state between folds: hence the sum).
SELECT kind, state, sum(n) AS n FROM counts GROUP BY kind, state;

-- name: text
-- Free text: the intent, the params or a chunk's last error (chunks_errors
-- holds only the chunks that have one).
(j.intent LIKE :pattern ESCAPE '\' OR j.params LIKE :pattern ESCAPE '\'  -- sqlite
 OR j.id IN (SELECT job_id FROM chunks WHERE last_error IS NOT NULL AND last_error LIKE :pattern ESCAPE '\'))  -- sqlite
(j.intent ILIKE :pattern OR j.params ILIKE :pattern  -- postgres
 OR j.id IN (SELECT job_id FROM chunks WHERE last_error IS NOT NULL AND last_error ILIKE :pattern))  -- postgres
;

-- name: error
-- Per job (chunks_errors by job_id), so that with a state filter only the
-- few jobs in that state have their chunks read.
EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- sqlite
        AND c.last_error LIKE :pattern ESCAPE '\')  -- sqlite
EXISTS (SELECT 1 FROM chunks c WHERE c.job_id = j.id AND c.last_error IS NOT NULL  -- postgres
        AND c.last_error ILIKE :pattern)  -- postgres
;

-- name: state
j.status = :state;

-- name: states
j.status IN (SELECT value FROM json_each(:states))  -- sqlite
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
CAST(j.chunks_completed AS REAL) / max(j.chunks_total, 1)  -- sqlite
j.chunks_completed::double precision / greatest(j.chunks_total, 1)  -- postgres
;

-- name: sort_updated
coalesce(j.finished_at, j.started_at, j.created_at);
