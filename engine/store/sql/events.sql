-- Event files, events and work sessions: the tailer's writes and every read.

-- name: file_by_path
-- A file's row, made on first sight. The no-op DO UPDATE makes RETURNING
-- give the row whether it was just inserted or already there.
INSERT INTO event_files (path, first_seen_at) VALUES (:path, :now)
ON CONFLICT (path) DO UPDATE SET path = excluded.path
RETURNING *;

-- name: file_state
SELECT * FROM event_files WHERE id = :id;

-- name: update_file
-- A batch's progress, in the batch's transaction. Compare-and-set on the
-- offset and generation this batch started from: if another process moved
-- the file on meanwhile, nothing changes and the batch is rolled back.
UPDATE event_files
SET read_offset = :read_offset,
    skipping = :skipping,
    device = :device,
    inode = :inode,
    head_len = :head_len,
    head_hash = :head_hash,  -- sqlite
    head_hash = :head_hash::bytea,  -- postgres
    generation = :generation,
    state = 'present',
    missing_since = NULL,
    size_seen = :size_seen,
    lines_read = lines_read + :lines,
    bytes_read = bytes_read + :bytes,
    events_stored = events_stored + :stored,
    duplicates = duplicates + :duplicates,
    bad_lines = bad_lines + :bad,
    last_bad_offset = coalesce(:last_bad_offset, last_bad_offset),  -- sqlite
    last_bad_reason = coalesce(:last_bad_reason, last_bad_reason),  -- sqlite
    last_bad_at = CASE WHEN :last_bad_reason IS NULL THEN last_bad_at ELSE :now END,  -- sqlite
    last_reset_reason = coalesce(:reset_reason, last_reset_reason),  -- sqlite
    last_reset_at = CASE WHEN :reset_reason IS NULL THEN last_reset_at ELSE :now END,  -- sqlite
    last_bad_offset = coalesce(:last_bad_offset::bigint, last_bad_offset),  -- postgres
    last_bad_reason = coalesce(:last_bad_reason::text, last_bad_reason),  -- postgres
    last_bad_at = CASE WHEN :last_bad_reason::text IS NULL THEN last_bad_at ELSE :now END,  -- postgres
    last_reset_reason = coalesce(:reset_reason::text, last_reset_reason),  -- postgres
    last_reset_at = CASE WHEN :reset_reason::text IS NULL THEN last_reset_at ELSE :now END,  -- postgres
    last_read_at = :now
WHERE id = :id AND read_offset = :expect_offset AND generation = :expect_generation;

-- name: mark_file_missing
UPDATE event_files SET state = 'missing', missing_since = :now
WHERE id = :id AND state <> 'missing';

-- name: count_bad_line
INSERT INTO event_file_bad_lines (file_id, reason, count, last_offset, last_at)
VALUES (:file_id, :reason, :count, :last_offset, :now)
ON CONFLICT (file_id, reason) DO UPDATE
SET count = count + excluded.count, last_offset = excluded.last_offset, last_at = excluded.last_at  -- sqlite
SET count = event_file_bad_lines.count + excluded.count, last_offset = excluded.last_offset,  -- postgres
    last_at = excluded.last_at  -- postgres
;

-- name: lock_events
-- Held by a batch until it commits, so that event ids grow in commit order.
-- SQLite has one writer at a time already: nothing to do (PostgreSQL locks).
SELECT 1  -- sqlite
-- A batch holds this advisory lock until it commits, so that event ids grow in
-- commit order as on SQLite (readers page on them, and a batch finds the rows
-- it inserted by id). 1364477270 is "QTEV".
SELECT pg_advisory_xact_lock(1364477270)  -- postgres
;

-- name: max_event_id
SELECT coalesce(max(id), 0) FROM events;

-- name: insert_event
-- One event; a re-read of the same event conflicts on (ts_ms, hash) and is skipped.
-- :data arrives as the UTF-8 bytes the parser already has; the CAST stores
-- them as text without a round trip through a Python str.
-- :data arrives as the parser's UTF-8 bytes (bytea): decoded by the server.
INSERT INTO events (hash, ts_ms, type, agent_id, session_id, session_key, thread_key, role,
                    category, confidence, data, file_id, line_offset, ingested_at)
VALUES (:hash, :ts_ms, :type, :agent_id, :session_id, :session_key, :thread_key, :role,
        :category, :confidence, CAST(:data AS TEXT), :file_id, :line_offset, :ingested_at)  -- sqlite
        :category, :confidence, convert_from(:data, 'UTF8'), :file_id, :line_offset, :ingested_at)  -- postgres
ON CONFLICT (ts_ms, hash) DO NOTHING;

-- name: create_staging
-- Bulk-ingest workers only, on their own connection: a chunk's rows are
-- bound into this in-memory table while the worker waits for its turn to
-- commit, so that the commit itself is one INSERT ... SELECT in C. The
-- per-row binding (the costliest part of an insert from Python) then
-- overlaps another worker's commit instead of lengthening the critical path.
CREATE TEMP TABLE IF NOT EXISTS staged_events (
    hash BLOB, ts_ms INTEGER, type TEXT, agent_id TEXT, session_id TEXT, session_key INTEGER,
    thread_key TEXT, role TEXT, category TEXT, confidence REAL, data TEXT, line_offset INTEGER
);

-- name: clear_staging
DELETE FROM temp.staged_events;

-- name: stage_event
INSERT INTO temp.staged_events (hash, ts_ms, type, agent_id, session_id, session_key, thread_key, role,
                                category, confidence, data, line_offset)
VALUES (:hash, :ts_ms, :type, :agent_id, :session_id, :session_key, :thread_key, :role,
        :category, :confidence, CAST(:data AS TEXT), :line_offset);

-- name: insert_staged_events
-- The staged chunk, in staging order (file order), into events. The WHERE
-- is what SQLite's parser needs before ON CONFLICT in an INSERT ... SELECT.
INSERT INTO events (hash, ts_ms, type, agent_id, session_id, session_key, thread_key, role,
                    category, confidence, data, file_id, line_offset, ingested_at)
SELECT hash, ts_ms, type, agent_id, session_id, session_key, thread_key, role,
       category, confidence, data, :file_id, line_offset, :now
FROM temp.staged_events WHERE true ORDER BY rowid
ON CONFLICT (ts_ms, hash) DO NOTHING;

-- name: inserted_since
-- The rows a batch inserted, when some of its events were already stored.
SELECT id, hash FROM events WHERE id > :after_id ORDER BY id;

-- name: upsert_session
-- One batch's delta for one session. SET expressions see the row as it was,
-- so each CASE compares the delta with the stored values before the update.
INSERT INTO sessions (id, first_ts_ms, last_ts_ms, event_count, agents, last_event_type,
                      last_outcome, last_outcome_ts_ms, category, category_confidence,
                      category_ts_ms, created_at, updated_at)
VALUES (:id, :first_ts_ms, :last_ts_ms, :event_count, :agents, :last_event_type,
        :last_outcome, :last_outcome_ts_ms, :category, :category_confidence,
        :category_ts_ms, :now, :now)
ON CONFLICT (id) DO UPDATE SET
    event_count = sessions.event_count + excluded.event_count,
    first_ts_ms = min(sessions.first_ts_ms, excluded.first_ts_ms),  -- sqlite
    last_ts_ms = max(sessions.last_ts_ms, excluded.last_ts_ms),  -- sqlite
    first_ts_ms = least(sessions.first_ts_ms, excluded.first_ts_ms),  -- postgres
    last_ts_ms = greatest(sessions.last_ts_ms, excluded.last_ts_ms),  -- postgres
    last_event_type = CASE WHEN excluded.last_ts_ms >= sessions.last_ts_ms
                           THEN excluded.last_event_type ELSE sessions.last_event_type END,
    last_outcome = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(sessions.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                        THEN excluded.last_outcome ELSE sessions.last_outcome END,
    last_outcome_ts_ms = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(sessions.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                              THEN excluded.last_outcome_ts_ms ELSE sessions.last_outcome_ts_ms END,
    agents = CASE WHEN excluded.agents = '[]' OR excluded.agents = sessions.agents THEN sessions.agents
                  ELSE (SELECT json_group_array(value) FROM (  -- sqlite
                            SELECT value FROM json_each(sessions.agents)  -- sqlite
                            UNION SELECT value FROM json_each(excluded.agents) ORDER BY value)) END,  -- sqlite
                  ELSE (SELECT '[' || string_agg(to_json(a.value)::text, ',' ORDER BY a.value COLLATE "C") || ']'  -- postgres
                        FROM (SELECT value FROM jsonb_array_elements_text(sessions.agents::jsonb)  -- postgres
                              UNION SELECT value FROM jsonb_array_elements_text(excluded.agents::jsonb)) AS a) END,  -- postgres
    category = CASE WHEN excluded.category IS NOT NULL AND (sessions.category IS NULL
                         OR excluded.category_confidence > sessions.category_confidence
                         OR (excluded.category_confidence = sessions.category_confidence
                             AND excluded.category_ts_ms >= sessions.category_ts_ms))
                    THEN excluded.category ELSE sessions.category END,
    category_confidence = CASE WHEN excluded.category IS NOT NULL AND (sessions.category IS NULL
                         OR excluded.category_confidence > sessions.category_confidence
                         OR (excluded.category_confidence = sessions.category_confidence
                             AND excluded.category_ts_ms >= sessions.category_ts_ms))
                    THEN excluded.category_confidence ELSE sessions.category_confidence END,
    category_ts_ms = CASE WHEN excluded.category IS NOT NULL AND (sessions.category IS NULL
                         OR excluded.category_confidence > sessions.category_confidence
                         OR (excluded.category_confidence = sessions.category_confidence
                             AND excluded.category_ts_ms >= sessions.category_ts_ms))
                    THEN excluded.category_ts_ms ELSE sessions.category_ts_ms END,
    updated_at = excluded.updated_at;

-- name: upsert_thread
INSERT INTO session_threads (session_id, thread_key, from_agent, to_agent, agents, first_ts_ms,
                             last_ts_ms, event_count, last_event_type, last_outcome, last_outcome_ts_ms)
VALUES (:session_id, :thread_key, :from_agent, :to_agent, :agents, :first_ts_ms,
        :last_ts_ms, :event_count, :last_event_type, :last_outcome, :last_outcome_ts_ms)
ON CONFLICT (session_id, thread_key) DO UPDATE SET
    from_agent = coalesce(session_threads.from_agent, excluded.from_agent),
    to_agent = coalesce(session_threads.to_agent, excluded.to_agent),
    event_count = session_threads.event_count + excluded.event_count,
    first_ts_ms = min(session_threads.first_ts_ms, excluded.first_ts_ms),  -- sqlite
    last_ts_ms = max(session_threads.last_ts_ms, excluded.last_ts_ms),  -- sqlite
    first_ts_ms = least(session_threads.first_ts_ms, excluded.first_ts_ms),  -- postgres
    last_ts_ms = greatest(session_threads.last_ts_ms, excluded.last_ts_ms),  -- postgres
    last_event_type = CASE WHEN excluded.last_ts_ms >= session_threads.last_ts_ms
                           THEN excluded.last_event_type ELSE session_threads.last_event_type END,
    last_outcome = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(session_threads.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                        THEN excluded.last_outcome ELSE session_threads.last_outcome END,
    last_outcome_ts_ms = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(session_threads.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                              THEN excluded.last_outcome_ts_ms ELSE session_threads.last_outcome_ts_ms END,
    agents = CASE WHEN excluded.agents = '[]' OR excluded.agents = session_threads.agents THEN session_threads.agents
                  ELSE (SELECT json_group_array(value) FROM (  -- sqlite
                            SELECT value FROM json_each(session_threads.agents)  -- sqlite
                            UNION SELECT value FROM json_each(excluded.agents) ORDER BY value)) END  -- sqlite
                  ELSE (SELECT '[' || string_agg(to_json(a.value)::text, ',' ORDER BY a.value COLLATE "C") || ']'  -- postgres
                        FROM (SELECT value FROM jsonb_array_elements_text(session_threads.agents::jsonb)  -- postgres
                              UNION SELECT value FROM jsonb_array_elements_text(excluded.agents::jsonb)) AS a) END  -- postgres
;

-- name: update_thread_counts
-- Thread counts of the sessions a batch touched, from the primary key of
-- session_threads: a range scan per session, never a table scan.
UPDATE sessions
SET thread_count = (SELECT count(*) FROM session_threads t WHERE t.session_id = sessions.id)
WHERE id IN (SELECT value FROM json_each(:session_ids))  -- sqlite
WHERE id IN (SELECT jsonb_array_elements_text(:session_ids::jsonb))  -- postgres
;

-- name: events_since
SELECT * FROM events WHERE id > :after_id ORDER BY id LIMIT :limit;

-- name: session_events_since
SELECT * FROM events
WHERE session_key = :session_key AND session_id = :session_id AND id > :after_id
ORDER BY id LIMIT :limit;

-- name: session_events
-- A session's events, newest first, paging back with :before_id.
SELECT * FROM events
WHERE session_key = :session_key AND session_id = :session_id
  AND (:before_id IS NULL OR id < :before_id)  -- sqlite
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)  -- postgres
ORDER BY id DESC LIMIT :limit;

-- name: latest_event_id
SELECT coalesce(max(id), 0) FROM events;

-- name: count_events
SELECT count(*) FROM events;

-- name: delete_old_events
-- One batch of retention, oldest first, through the (ts_ms, hash) index.
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE ts_ms < :cutoff_ms ORDER BY ts_ms LIMIT :batch
);

-- name: file_stats
SELECT id, path, state, read_offset, size_seen, lines_read, bytes_read, events_stored, duplicates,
       bad_lines, last_bad_offset, last_bad_reason, last_bad_at, generation, last_reset_reason,
       last_reset_at, first_seen_at, last_read_at, missing_since
FROM event_files ORDER BY path;

-- name: bad_lines_by_reason
SELECT file_id, reason, count FROM event_file_bad_lines ORDER BY file_id, reason;

-- name: list_sessions
-- A page of sessions, latest activity first. A status is a range of
-- last_ts_ms (:after_ms < last_ts_ms <= :until_ms) worked out from the clock.
SELECT * FROM sessions
WHERE (:after_ms IS NULL OR last_ts_ms > :after_ms)  -- sqlite
  AND (:until_ms IS NULL OR last_ts_ms <= :until_ms)  -- sqlite
  AND (:category IS NULL OR coalesce(category_override, category) = :category)  -- sqlite
  AND (:search IS NULL OR id LIKE '%' || :search || '%'  -- sqlite
       OR coalesce(category_override, category) LIKE '%' || :search || '%'  -- sqlite
       OR agents LIKE '%' || :search || '%')  -- sqlite
WHERE (:after_ms::double precision IS NULL OR last_ts_ms > :after_ms::double precision)  -- postgres
  AND (:until_ms::double precision IS NULL OR last_ts_ms <= :until_ms::double precision)  -- postgres
  AND (:category::text IS NULL OR coalesce(category_override, category) = :category::text)  -- postgres
  AND (:search::text IS NULL OR id LIKE '%' || :search::text || '%'  -- postgres
       OR coalesce(category_override, category) LIKE '%' || :search::text || '%'  -- postgres
       OR agents LIKE '%' || :search::text || '%')  -- postgres
ORDER BY last_ts_ms DESC, id
LIMIT :limit OFFSET :offset;

-- name: session_total
-- Every session, from the counter the triggers keep (PostgreSQL holds
-- several rows between folds: hence the sum).
SELECT coalesce(sum(n), 0) FROM counts WHERE kind = 'sessions';

-- name: count_sessions
SELECT count(*) FROM sessions
WHERE (:after_ms IS NULL OR last_ts_ms > :after_ms)  -- sqlite
  AND (:until_ms IS NULL OR last_ts_ms <= :until_ms)  -- sqlite
  AND (:category IS NULL OR coalesce(category_override, category) = :category)  -- sqlite
  AND (:search IS NULL OR id LIKE '%' || :search || '%'  -- sqlite
       OR coalesce(category_override, category) LIKE '%' || :search || '%'  -- sqlite
       OR agents LIKE '%' || :search || '%')  -- sqlite
WHERE (:after_ms::double precision IS NULL OR last_ts_ms > :after_ms::double precision)  -- postgres
  AND (:until_ms::double precision IS NULL OR last_ts_ms <= :until_ms::double precision)  -- postgres
  AND (:category::text IS NULL OR coalesce(category_override, category) = :category::text)  -- postgres
  AND (:search::text IS NULL OR id LIKE '%' || :search::text || '%'  -- postgres
       OR coalesce(category_override, category) LIKE '%' || :search::text || '%'  -- postgres
       OR agents LIKE '%' || :search::text || '%')  -- postgres
;

-- name: session_counts_by_status
SELECT sum(last_ts_ms > :active_ms) AS active,  -- sqlite
       sum(last_ts_ms <= :active_ms AND last_ts_ms > :quiet_ms) AS quiet,  -- sqlite
       sum(last_ts_ms <= :quiet_ms) AS archived  -- sqlite
SELECT count(*) FILTER (WHERE last_ts_ms > :active_ms) AS active,  -- postgres
       count(*) FILTER (WHERE last_ts_ms <= :active_ms AND last_ts_ms > :quiet_ms) AS quiet,  -- postgres
       count(*) FILTER (WHERE last_ts_ms <= :quiet_ms) AS archived  -- postgres
FROM sessions;

-- name: get_session
SELECT * FROM sessions WHERE id = :id;

-- name: session_threads
SELECT * FROM session_threads WHERE session_id = :session_id
ORDER BY last_ts_ms DESC, thread_key;

-- name: override_category
UPDATE sessions
SET category_override = :category,
    override_by = :who,
    override_at = :now
WHERE id = :id;

-- name: all_sessions
SELECT * FROM sessions ORDER BY id;

-- name: all_threads
SELECT * FROM session_threads ORDER BY session_id, thread_key;

-- name: events_for_rebuild
SELECT id, ts_ms, type, agent_id, session_id, thread_key, category, confidence, data
FROM events WHERE session_id IS NOT NULL AND id > :after_id ORDER BY id LIMIT :limit;
