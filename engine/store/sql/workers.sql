-- Workers: registration, heartbeats, listing.

-- name: register
INSERT INTO workers (id, host, pid, status, concurrency, started_at, last_heartbeat, intents)
VALUES (:id, :host, :pid, 'online', :concurrency, :now, :now, :intents);

-- name: heartbeat
-- One UPDATE of the worker's own row. It never inserts: a worker that was
-- marked offline learns it from the row count and does not come back to life.
UPDATE workers SET last_heartbeat = :now
WHERE id = :id AND status IN ('online', 'stopping');

-- name: set_intents
-- The intents the worker's process can still run (one whose module failed
-- to import at first use is dropped).
UPDATE workers SET intents = :intents WHERE id = :id;

-- name: set_abandoned
-- How many timed-out sync handler threads the worker has left running.
UPDATE workers SET abandoned = :abandoned WHERE id = :id;

-- name: held_count
-- Chunks the worker still holds (chunks_processing): at its end, a worker
-- that holds some stays 'stopping' for the stale-worker rescue.
SELECT count(*) FROM chunks WHERE worker_id = :id AND status = 'processing';

-- name: set_status
UPDATE workers SET status = :status,
    stopped_at = CASE WHEN :status = 'offline' THEN :now ELSE stopped_at END  -- sqlite
    stopped_at = CASE WHEN :status::text = 'offline' THEN :now ELSE stopped_at END  -- postgres
WHERE id = :id AND status != 'offline';

-- name: list_workers
-- The page of workers is chosen first, then the chunks each holds are read
-- for those rows only (the first 16 by claim: the cell shows a few), so a
-- page costs the same however many workers and held chunks there are.
SELECT w.*,
       (SELECT group_concat(h.held, ' ') FROM (  -- sqlite
       (SELECT string_agg(h.held, ' ') FROM (  -- postgres
            SELECT c.job_id || '#' || c.chunk_index AS held
            FROM chunks c WHERE c.worker_id = w.id AND c.status = 'processing'
            ORDER BY c.claimed_at, c.id LIMIT 16) h) AS current
FROM (SELECT * FROM workers
      WHERE (:include_offline OR status != 'offline')  -- sqlite
      WHERE (:include_offline::boolean OR status != 'offline')  -- postgres
      ORDER BY (status = 'offline'), started_at DESC, id
      LIMIT :limit OFFSET :offset) w
ORDER BY (w.status = 'offline'), w.started_at DESC, w.id;

-- name: worker_counts
SELECT status, count(*) AS n FROM workers GROUP BY status;

-- name: stale_online_count
SELECT count(*) FROM workers WHERE status = 'online' AND last_heartbeat < :cutoff;

-- name: unrunnable_intents
-- Intents of unfinished jobs that no online worker can run, while some worker
-- is online: that work waits for a process with the handler. A worker with NULL
-- intents (recorded before workers said) counts as able to run anything.
SELECT j.intent, count(*) AS jobs
FROM jobs j
WHERE j.status IN ('pending', 'running')
  AND EXISTS (SELECT 1 FROM workers WHERE status = 'online' AND last_heartbeat >= :cutoff)
  AND j.chunks_completed + j.chunks_failed + j.chunks_cancelled < j.chunks_total
  AND NOT EXISTS (
      SELECT 1 FROM workers w
      WHERE w.status = 'online' AND w.last_heartbeat >= :cutoff
        AND (w.intents IS NULL OR EXISTS (SELECT 1 FROM json_each(w.intents) WHERE value = j.intent)))  -- sqlite
        AND (w.intents IS NULL OR w.intents::jsonb ? j.intent))  -- postgres
GROUP BY j.intent
ORDER BY j.intent;

-- name: online_elsewhere
-- Workers with a fresh heartbeat in processes other than this one.
SELECT count(*) FROM workers
WHERE status = 'online' AND last_heartbeat >= :cutoff AND NOT (host = :host AND pid = :pid);

-- name: engines_online
-- Engine processes (host, pid) with a worker whose heartbeat is fresh,
-- whether one of them is this process, and the oldest fresh heartbeat (the
-- first to go stale if no newer one comes).
SELECT count(*) AS engines, coalesce(sum(CASE WHEN host = :host AND pid = :pid THEN 1 ELSE 0 END), 0) AS here,
       min(oldest) AS oldest
FROM (SELECT host, pid, min(last_heartbeat) AS oldest FROM workers
      WHERE status = 'online' AND last_heartbeat >= :cutoff GROUP BY host, pid) AS alive;

-- name: held_chunks
-- The chunks a worker holds now, oldest claim first.
SELECT * FROM chunks WHERE worker_id = :worker_id AND status = 'processing' ORDER BY claimed_at, id;

-- name: worker_errors
-- A worker's newest failed attempts, newest first (read from the newest attempt back).
SELECT a.*, c.chunk_index, c.job_id FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id
WHERE a.worker_id = :worker_id
ORDER BY a.id DESC
LIMIT :limit;
