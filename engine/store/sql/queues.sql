-- Named queues: the claim of held queues (limited, rate-limited or paused),
-- their settings from the config, pause and resume, and the queues view.
-- See schema.sql ("Queues"); the ordinary claim (claims.sql) passes over
-- held queues' chunks.

-- name: held
-- The held queues and what holds them: read by workers now and then to know
-- which queues to claim from under their rows (services/queues.py).
SELECT name, global_limit, local_limit, rate_count, rate_period, paused
FROM queues
WHERE global_limit IS NOT NULL OR local_limit IS NOT NULL OR rate_count IS NOT NULL OR paused = 1
ORDER BY name;

-- name: lock_queues
-- These queues' rows, in name order (PostgreSQL: locked until the claim
-- commits, so claims of one held queue take turns and see each other's
-- chunks; SQLite's BEGIN IMMEDIATE already serializes them).
SELECT name, global_limit, local_limit, rate_count, rate_period, tokens, tokens_at, paused
FROM queues
WHERE name IN (SELECT value FROM json_each(:names))  -- sqlite
ORDER BY name  -- sqlite
WHERE name = ANY (ARRAY(SELECT jsonb_array_elements_text(:names::jsonb)))  -- postgres
ORDER BY name FOR UPDATE  -- postgres
;

-- name: running_in_queue
-- A queue's processing chunks, counted anew under its row's lock (a new
-- statement: PostgreSQL's READ COMMITTED sees every claim committed before it).
-- The literal `queue <> 'default'` lets both backends use the partial
-- index chunks_queue_processing.
SELECT count(*) FROM chunks WHERE status = 'processing' AND queue = :queue AND queue <> 'default';

-- name: running_in_default
-- The default queue's processing chunks: a walk of chunks_processing (every
-- chunk being processed, whatever its queue; few at any time).
SELECT count(*) FROM chunks WHERE status = 'processing' AND queue = 'default';

-- name: take_tokens
UPDATE queues SET tokens = :tokens, tokens_at = :now WHERE name = :name;

-- name: configure
-- A [queues.NAME] table written to its row: the config owns the limits and
-- the rate; the operator owns the pause. A changed rate starts a full bucket.
INSERT INTO queues (name, global_limit, local_limit, rate_count, rate_period, updated_at)
VALUES (:name, :global_limit, :local_limit, :rate_count, :rate_period, :now)
ON CONFLICT (name) DO UPDATE SET
    global_limit = excluded.global_limit, local_limit = excluded.local_limit,
    tokens = CASE WHEN queues.rate_count IS excluded.rate_count AND queues.rate_period IS excluded.rate_period  -- sqlite
    tokens = CASE WHEN queues.rate_count IS NOT DISTINCT FROM excluded.rate_count  -- postgres
                   AND queues.rate_period IS NOT DISTINCT FROM excluded.rate_period  -- postgres
                  THEN queues.tokens ELSE 1 END,
    rate_count = excluded.rate_count, rate_period = excluded.rate_period, updated_at = excluded.updated_at
WHERE queues.global_limit IS DISTINCT FROM excluded.global_limit  -- postgres
   OR queues.local_limit IS DISTINCT FROM excluded.local_limit  -- postgres
   OR queues.rate_count IS DISTINCT FROM excluded.rate_count  -- postgres
   OR queues.rate_period IS DISTINCT FROM excluded.rate_period  -- postgres
WHERE queues.global_limit IS NOT excluded.global_limit OR queues.local_limit IS NOT excluded.local_limit  -- sqlite
   OR queues.rate_count IS NOT excluded.rate_count OR queues.rate_period IS NOT excluded.rate_period  -- sqlite
;

-- name: unconfigure
-- Queues the config no longer names lose their limits and rate (a pause stays).
UPDATE queues SET global_limit = NULL, local_limit = NULL, rate_count = NULL, rate_period = NULL,
                  tokens = 1, updated_at = :now
WHERE name NOT IN (SELECT value FROM json_each(:names))  -- sqlite
WHERE name <> ALL (ARRAY(SELECT jsonb_array_elements_text(:names::jsonb)))  -- postgres
  AND (global_limit IS NOT NULL OR local_limit IS NOT NULL OR rate_count IS NOT NULL);

-- name: set_paused
-- Pause or resume one queue; a queue not seen before gets its row.
INSERT INTO queues (name, paused, paused_at, paused_by, updated_at)
VALUES (:name, :paused, CASE WHEN :paused = 1 THEN :now END, :by, :now)  -- sqlite
VALUES (:name, :paused, CASE WHEN :paused::integer = 1 THEN :now::double precision END, :by, :now)  -- postgres
ON CONFLICT (name) DO UPDATE SET
    paused = excluded.paused, paused_at = excluded.paused_at, paused_by = excluded.paused_by,
    updated_at = excluded.updated_at;

-- name: is_queue_paused
SELECT paused FROM queues WHERE name = :name;

-- name: queue_has_jobs
-- Whether some job was ever sent to this queue (a walk of the partial index jobs_queue).
SELECT 1 FROM jobs WHERE queue = :name AND queue <> 'default' LIMIT 1;

-- name: queue_rows
SELECT * FROM queues ORDER BY name;

-- name: pending_by_queue
-- Pending chunks of every queue but 'default', from chunks_queue_claim
-- (the default queue's are the state counter's pending less these).
SELECT queue, count(*) AS n FROM chunks WHERE status = 'pending' AND queue <> 'default' GROUP BY queue;

-- name: running_by_queue
SELECT queue, count(*) AS n FROM chunks WHERE status = 'processing' GROUP BY queue;

-- name: ended_by_queue
-- Jobs that ended since :since, by queue and status (jobs_ended holds only ended jobs, by time).
SELECT queue, status, count(*) AS n
FROM jobs INDEXED BY jobs_ended  -- sqlite
FROM jobs  -- postgres
WHERE status IN ('completed', 'partial', 'failed', 'cancelled') AND finished_at >= :since
GROUP BY queue, status;
