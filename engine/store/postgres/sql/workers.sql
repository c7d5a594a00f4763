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
