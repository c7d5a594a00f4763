-- PostgreSQL versions of the queries in ../events.sql that differ there;
-- every other query of ../events.sql runs on PostgreSQL as it is. The
-- staging-table queries are the SQLite bulk workers' only and are not used
-- here. Agents lists are built as the same text SQLite and Python make
-- (no spaces, sorted by code point: COLLATE "C").

-- name: insert_event
-- :data arrives as the parser's UTF-8 bytes (bytea): decoded by the server.
INSERT INTO events (hash, ts_ms, type, agent_id, session_id, session_key, thread_key, role,
                    category, confidence, data, file_id, line_offset, ingested_at)
VALUES (:hash, :ts_ms, :type, :agent_id, :session_id, :session_key, :thread_key, :role,
        :category, :confidence, convert_from(:data, 'UTF8'), :file_id, :line_offset, :ingested_at)
ON CONFLICT (ts_ms, hash) DO NOTHING;

-- name: update_file
UPDATE event_files
SET read_offset = :read_offset,
    skipping = :skipping,
    device = :device,
    inode = :inode,
    head_len = :head_len,
    head_hash = :head_hash::bytea,
    generation = :generation,
    state = 'present',
    missing_since = NULL,
    size_seen = :size_seen,
    lines_read = lines_read + :lines,
    bytes_read = bytes_read + :bytes,
    events_stored = events_stored + :stored,
    duplicates = duplicates + :duplicates,
    bad_lines = bad_lines + :bad,
    last_bad_offset = coalesce(:last_bad_offset::bigint, last_bad_offset),
    last_bad_reason = coalesce(:last_bad_reason::text, last_bad_reason),
    last_bad_at = CASE WHEN :last_bad_reason::text IS NULL THEN last_bad_at ELSE :now END,
    last_reset_reason = coalesce(:reset_reason::text, last_reset_reason),
    last_reset_at = CASE WHEN :reset_reason::text IS NULL THEN last_reset_at ELSE :now END,
    last_read_at = :now
WHERE id = :id AND read_offset = :expect_offset AND generation = :expect_generation;

-- name: count_bad_line
INSERT INTO event_file_bad_lines (file_id, reason, count, last_offset, last_at)
VALUES (:file_id, :reason, :count, :last_offset, :now)
ON CONFLICT (file_id, reason) DO UPDATE
SET count = event_file_bad_lines.count + excluded.count, last_offset = excluded.last_offset,
    last_at = excluded.last_at;

-- name: upsert_session
INSERT INTO sessions (id, first_ts_ms, last_ts_ms, event_count, agents, last_event_type,
                      last_outcome, last_outcome_ts_ms, category, category_confidence,
                      category_ts_ms, created_at, updated_at)
VALUES (:id, :first_ts_ms, :last_ts_ms, :event_count, :agents, :last_event_type,
        :last_outcome, :last_outcome_ts_ms, :category, :category_confidence,
        :category_ts_ms, :now, :now)
ON CONFLICT (id) DO UPDATE SET
    event_count = sessions.event_count + excluded.event_count,
    first_ts_ms = least(sessions.first_ts_ms, excluded.first_ts_ms),
    last_ts_ms = greatest(sessions.last_ts_ms, excluded.last_ts_ms),
    last_event_type = CASE WHEN excluded.last_ts_ms >= sessions.last_ts_ms
                           THEN excluded.last_event_type ELSE sessions.last_event_type END,
    last_outcome = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(sessions.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                        THEN excluded.last_outcome ELSE sessions.last_outcome END,
    last_outcome_ts_ms = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(sessions.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                              THEN excluded.last_outcome_ts_ms ELSE sessions.last_outcome_ts_ms END,
    agents = CASE WHEN excluded.agents = '[]' OR excluded.agents = sessions.agents THEN sessions.agents
                  ELSE (SELECT '[' || string_agg(to_json(a.value)::text, ',' ORDER BY a.value COLLATE "C") || ']'
                        FROM (SELECT value FROM jsonb_array_elements_text(sessions.agents::jsonb)
                              UNION SELECT value FROM jsonb_array_elements_text(excluded.agents::jsonb)) AS a) END,
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
    first_ts_ms = least(session_threads.first_ts_ms, excluded.first_ts_ms),
    last_ts_ms = greatest(session_threads.last_ts_ms, excluded.last_ts_ms),
    last_event_type = CASE WHEN excluded.last_ts_ms >= session_threads.last_ts_ms
                           THEN excluded.last_event_type ELSE session_threads.last_event_type END,
    last_outcome = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(session_threads.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                        THEN excluded.last_outcome ELSE session_threads.last_outcome END,
    last_outcome_ts_ms = CASE WHEN excluded.last_outcome_ts_ms >= coalesce(session_threads.last_outcome_ts_ms, excluded.last_outcome_ts_ms)
                              THEN excluded.last_outcome_ts_ms ELSE session_threads.last_outcome_ts_ms END,
    agents = CASE WHEN excluded.agents = '[]' OR excluded.agents = session_threads.agents THEN session_threads.agents
                  ELSE (SELECT '[' || string_agg(to_json(a.value)::text, ',' ORDER BY a.value COLLATE "C") || ']'
                        FROM (SELECT value FROM jsonb_array_elements_text(session_threads.agents::jsonb)
                              UNION SELECT value FROM jsonb_array_elements_text(excluded.agents::jsonb)) AS a) END;

-- name: update_thread_counts
UPDATE sessions
SET thread_count = (SELECT count(*) FROM session_threads t WHERE t.session_id = sessions.id)
WHERE id IN (SELECT jsonb_array_elements_text(:session_ids::jsonb));

-- name: session_events
SELECT * FROM events
WHERE session_key = :session_key AND session_id = :session_id
  AND (:before_id::bigint IS NULL OR id < :before_id::bigint)
ORDER BY id DESC LIMIT :limit;

-- name: list_sessions
SELECT * FROM sessions
WHERE (:after_ms::double precision IS NULL OR last_ts_ms > :after_ms::double precision)
  AND (:until_ms::double precision IS NULL OR last_ts_ms <= :until_ms::double precision)
  AND (:category::text IS NULL OR coalesce(category_override, category) = :category::text)
  AND (:search::text IS NULL OR id LIKE '%' || :search::text || '%'
       OR coalesce(category_override, category) LIKE '%' || :search::text || '%'
       OR agents LIKE '%' || :search::text || '%')
ORDER BY last_ts_ms DESC, id
LIMIT :limit OFFSET :offset;

-- name: count_sessions
SELECT count(*) FROM sessions
WHERE (:after_ms::double precision IS NULL OR last_ts_ms > :after_ms::double precision)
  AND (:until_ms::double precision IS NULL OR last_ts_ms <= :until_ms::double precision)
  AND (:category::text IS NULL OR coalesce(category_override, category) = :category::text)
  AND (:search::text IS NULL OR id LIKE '%' || :search::text || '%'
       OR coalesce(category_override, category) LIKE '%' || :search::text || '%'
       OR agents LIKE '%' || :search::text || '%');

-- name: session_counts_by_status
SELECT count(*) FILTER (WHERE last_ts_ms > :active_ms) AS active,
       count(*) FILTER (WHERE last_ts_ms <= :active_ms AND last_ts_ms > :quiet_ms) AS quiet,
       count(*) FILTER (WHERE last_ts_ms <= :quiet_ms) AS archived
FROM sessions;

-- name: lock_events
-- A batch holds this advisory lock until it commits, so that event ids grow in
-- commit order as on SQLite (readers page on them, and a batch finds the rows
-- it inserted by id). 1364477270 is "QTEV".
SELECT pg_advisory_xact_lock(1364477270);
