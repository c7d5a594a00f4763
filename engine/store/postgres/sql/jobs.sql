-- PostgreSQL versions of the queries in ../jobs.sql that differ there;
-- every other query of ../jobs.sql runs on PostgreSQL as it is.

-- name: chunk_totals
-- PostgreSQL picks the partial index chunks_processing by itself.
SELECT coalesce(sum(chunks_total), 0) AS total,
       coalesce(sum(chunks_completed), 0) AS completed,
       coalesce(sum(chunks_failed), 0) AS failed,
       coalesce(sum(chunks_cancelled), 0) AS cancelled,
       (SELECT count(*) FROM chunks WHERE status = 'processing') AS processing
FROM jobs;
