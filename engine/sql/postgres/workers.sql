-- PostgreSQL versions of the queries in ../workers.sql that differ there;
-- every other query of ../workers.sql runs on PostgreSQL as it is.

-- name: set_status
UPDATE workers SET status = :status,
    stopped_at = CASE WHEN :status::text = 'offline' THEN :now ELSE stopped_at END
WHERE id = :id AND status != 'offline';

-- name: list_workers
SELECT w.*,
       (SELECT string_agg(c.job_id || '#' || c.chunk_index, ' ')
        FROM chunks c WHERE c.worker_id = w.id AND c.status = 'processing') AS current
FROM workers w
WHERE (:include_offline::boolean OR w.status != 'offline')
ORDER BY (w.status = 'offline'), w.started_at DESC, w.id
LIMIT :limit OFFSET :offset;

-- name: unrunnable_intents
SELECT j.intent, count(*) AS jobs
FROM jobs j
WHERE j.status IN ('pending', 'running')
  AND EXISTS (SELECT 1 FROM workers WHERE status = 'online' AND last_heartbeat >= :cutoff)
  AND j.chunks_completed + j.chunks_failed + j.chunks_cancelled < j.chunks_total
  AND NOT EXISTS (
      SELECT 1 FROM workers w
      WHERE w.status = 'online' AND w.last_heartbeat >= :cutoff
        AND (w.intents IS NULL OR w.intents::jsonb ? j.intent))
GROUP BY j.intent
ORDER BY j.intent;
