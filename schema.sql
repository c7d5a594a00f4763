-- queuetop schema (SQLite). The one place tables, indexes and CHECKs live.
--
-- Applied to a fresh database as a whole; databases made by an older
-- version are brought forward by engine/migrations/NNNN_*.sql, in order.
-- Every time is epoch seconds (REAL) handed in by the engine's clock: no SQL
-- here or in the queries reads the wall clock, so tests can freeze time.

-- Queue-wide switches (one row).
CREATE TABLE queue_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at   REAL,
    paused_by   TEXT
);
INSERT INTO queue_state (id, paused) VALUES (1, 0);

-- One request of work. Its chunks are what workers claim.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    intent            TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}',       -- JSON object
    status            TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'partial', 'failed', 'cancelled')),
    priority          INTEGER NOT NULL DEFAULT 0,
    max_retries       INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout           REAL NOT NULL DEFAULT 3600 CHECK (timeout > 0),
    dedupe_key        TEXT,
    on_finalize       TEXT,                             -- intent enqueued when the job ends
    parent_job_id     INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    schedule_id       INTEGER REFERENCES schedules(id) ON DELETE SET NULL,
    chunks_total      INTEGER NOT NULL CHECK (chunks_total >= 0),
    chunks_completed  INTEGER NOT NULL DEFAULT 0 CHECK (chunks_completed >= 0),
    chunks_failed     INTEGER NOT NULL DEFAULT 0 CHECK (chunks_failed >= 0),
    chunks_cancelled  INTEGER NOT NULL DEFAULT 0 CHECK (chunks_cancelled >= 0),
    created_at        REAL NOT NULL,
    started_at        REAL,
    finished_at       REAL,
    queue             TEXT NOT NULL DEFAULT 'default',  -- its named queue (see the queues table)
    -- random (32 hex digits), made once when the job is inserted: with the id
    -- and a chunk index it makes the http handler's Idempotency-Key, so jobs
    -- of two databases (or of one made again) never share a key
    nonce             TEXT,
    CHECK (chunks_completed + chunks_failed + chunks_cancelled <= chunks_total)
);
-- A dedupe key names at most one unfinished job; finished jobs free it.
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX jobs_status ON jobs (status, id);
-- Retention finds ended jobs by age; deleting one looks up what points at it.
CREATE INDEX jobs_ended ON jobs (finished_at) WHERE status IN ('completed', 'partial', 'failed', 'cancelled');
CREATE INDEX jobs_parent ON jobs (parent_job_id);

-- A slice of a job: a date range or an explicit params object.
CREATE TABLE chunks (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk_index   INTEGER NOT NULL CHECK (chunk_index >= 0),
    params        TEXT NOT NULL DEFAULT '{}',           -- JSON object
    status        TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    priority      INTEGER NOT NULL DEFAULT 0,           -- copied from the job so the claim index covers it
    run_after     REAL NOT NULL,                        -- not claimable before this time (back-off)
    attempt       INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker_id     TEXT,
    lease_token   TEXT,                                 -- fences completion writes to the current claim
    claimed_at    REAL,
    finished_at   REAL,
    last_error    TEXT,
    result        TEXT,
    queue         TEXT NOT NULL DEFAULT 'default',      -- copied from the job, like priority
    UNIQUE (job_id, chunk_index),
    CHECK ((status = 'processing') = (lease_token IS NOT NULL))
);
-- The claim walks this index in order; its WHERE must match the claim
-- query's literally (status = 'pending') or SQLite ignores it and scans.
CREATE INDEX chunks_claim ON chunks (priority DESC, id, run_after) WHERE status = 'pending';
-- Held chunks, by worker: rescue, stuck-chunk checks, the workers pane.
CREATE INDEX chunks_processing ON chunks (worker_id, claimed_at) WHERE status = 'processing';
CREATE INDEX chunks_job_status ON chunks (job_id, status);

-- Every attempt that did not succeed, with its error: kept for the operator.
CREATE TABLE chunk_attempts (
    id          INTEGER PRIMARY KEY,
    chunk_id    INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    outcome     TEXT NOT NULL
        CHECK (outcome IN ('transient', 'permanent', 'timed_out', 'lost', 'cancelled')),
    error       TEXT,
    started_at  REAL,
    ended_at    REAL NOT NULL
);
CREATE INDEX chunk_attempts_chunk ON chunk_attempts (chunk_id, attempt);

-- One row per worker ever started. Ids are never reused.
CREATE TABLE workers (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'online'
        CHECK (status IN ('online', 'stopping', 'offline')),
    concurrency     INTEGER NOT NULL CHECK (concurrency > 0),
    chunks_done     INTEGER NOT NULL DEFAULT 0,
    chunks_failed   INTEGER NOT NULL DEFAULT 0,
    started_at      REAL NOT NULL,
    last_heartbeat  REAL NOT NULL,
    stopped_at      REAL,
    -- JSON list of the intents this worker's process can run; NULL: all
    -- (a worker from before queuetop recorded it)
    intents         TEXT,
    -- sync handler threads still running after their chunk timed out
    abandoned       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX workers_status ON workers (status, last_heartbeat);

-- Log lines written by handlers and the engine, through the log buffer.
CREATE TABLE task_logs (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
    chunk_id   INTEGER REFERENCES chunks(id) ON DELETE CASCADE,
    worker_id  TEXT,
    ts         REAL NOT NULL,
    level      TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
    message    TEXT NOT NULL
);
CREATE INDEX task_logs_job ON task_logs (job_id, id);
CREATE INDEX task_logs_ts ON task_logs (ts);
CREATE INDEX task_logs_chunk ON task_logs (chunk_id);  -- deleting a chunk finds its lines

-- Periodic work: user schedules submit a job, maintenance ones run in-engine.
CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    cron         TEXT NOT NULL,
    kind         TEXT NOT NULL DEFAULT 'job' CHECK (kind IN ('job', 'maintenance')),
    intent       TEXT NOT NULL,
    params       TEXT NOT NULL DEFAULT '{}',
    active       INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    next_run_at  REAL,
    last_run_at  REAL,
    last_status  TEXT CHECK (last_status IN ('ok', 'error')),
    last_error   TEXT,
    created_at   REAL NOT NULL,
    tz           TEXT NOT NULL DEFAULT 'UTC',           -- IANA zone the cron is read in
    -- due times that passed while nothing ran them: skipped, run once, or each
    -- (the latest max_catch_up); missed counts them, ever
    catch_up     TEXT NOT NULL DEFAULT 'none' CHECK (catch_up IN ('none', 'once', 'all')),
    max_catch_up INTEGER NOT NULL DEFAULT 10 CHECK (max_catch_up >= 1),
    missed       INTEGER NOT NULL DEFAULT 0 CHECK (missed >= 0),
    last_missed_at REAL,
    queue        TEXT                                   -- its jobs' queue; NULL: by the [queues] intents
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE active = 1;

-- One row per firing. UNIQUE makes a double fire impossible, whatever races.
CREATE TABLE schedule_runs (
    id             INTEGER PRIMARY KEY,
    schedule_id    INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    scheduled_for  REAL NOT NULL,
    started_at     REAL NOT NULL,
    finished_at    REAL,
    status         TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'error')),
    error          TEXT,
    job_id         INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    worker_id      TEXT,
    UNIQUE (schedule_id, scheduled_for)
);
CREATE INDEX schedule_runs_job ON schedule_runs (job_id);
CREATE INDEX schedule_runs_finished ON schedule_runs (finished_at);

-- HTTP circuits
-- One circuit breaker per remote host that the built-in `http` handler calls
-- (host, or host:port when the port is not the scheme's default), shared by
-- every engine process through this table. A row appears with a host's first
-- failure; no row means closed with no failures. Nothing secret is stored:
-- last_error is redacted before it is written.
CREATE TABLE circuits (
    host            TEXT PRIMARY KEY,
    state           TEXT NOT NULL DEFAULT 'closed'
        CHECK (state IN ('closed', 'open', 'half_open')),
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),  -- consecutive transient failures
    opened_at       REAL,                               -- when it last opened (NULL while closed)
    cooldown        REAL NOT NULL CHECK (cooldown > 0), -- seconds this opening lasts; doubles per failed probe
    half_open_at    REAL,                               -- when one probe may go (NULL while closed)
    probe_token     TEXT,                               -- the attempt holding the probe (compare-and-set)
    probe_deadline  REAL,                               -- another attempt may take the probe over after this
    opens           INTEGER NOT NULL DEFAULT 0 CHECK (opens >= 0),     -- times opened, reopenings included
    last_error      TEXT,
    last_error_at   REAL,
    updated_at      REAL NOT NULL,
    CHECK (state = 'closed' OR (opened_at IS NOT NULL AND half_open_at IS NOT NULL)),
    CHECK ((state = 'half_open') = (probe_token IS NOT NULL AND probe_deadline IS NOT NULL))
);

-- Event files, events and work sessions
-- Written by the event tailer (engine/events/, queries in engine/store/sql/events.sql).
-- A file's events, the session and thread updates they make and the file's
-- new offset commit in one transaction: a crash can neither skip nor
-- double-count a line. Event times (ts_ms) are the producers' epoch
-- milliseconds as written in the file; every other time is epoch seconds
-- from the engine's clock.

-- One row per followed file (a configured path or a glob match), by path.
-- read_offset is the end of the last complete line consumed; a half-written
-- last line is not consumed until its newline arrives. device, inode and the
-- hash of the first head_len bytes say which file the offset belongs to: a
-- different file at the path, or one shorter than the offset, is read again
-- from the start (generation counts those restarts).
CREATE TABLE event_files (
    id                 INTEGER PRIMARY KEY,
    path               TEXT NOT NULL UNIQUE,          -- absolute
    state              TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'present', 'missing')),
    device             INTEGER,
    inode              INTEGER,
    head_len           INTEGER NOT NULL DEFAULT 0 CHECK (head_len BETWEEN 0 AND 4096),
    head_hash          BLOB,                          -- BLAKE2b-128 of the first head_len bytes
    read_offset        INTEGER NOT NULL DEFAULT 0 CHECK (read_offset >= 0),
    skipping           INTEGER NOT NULL DEFAULT 0 CHECK (skipping IN (0, 1)),  -- inside an over-long line
    size_seen          INTEGER NOT NULL DEFAULT 0 CHECK (size_seen >= 0),
    generation         INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    last_reset_reason  TEXT CHECK (last_reset_reason IN ('shrunk', 'replaced')),
    last_reset_at      REAL,
    lines_read         INTEGER NOT NULL DEFAULT 0 CHECK (lines_read >= 0),
    bytes_read         INTEGER NOT NULL DEFAULT 0 CHECK (bytes_read >= 0),
    events_stored      INTEGER NOT NULL DEFAULT 0 CHECK (events_stored >= 0),
    duplicates         INTEGER NOT NULL DEFAULT 0 CHECK (duplicates >= 0),   -- lines whose event was already stored
    bad_lines          INTEGER NOT NULL DEFAULT 0 CHECK (bad_lines >= 0),
    last_bad_offset    INTEGER,
    last_bad_reason    TEXT CHECK (last_bad_reason IN
        ('invalid_utf8', 'invalid_json', 'not_object', 'missing_type', 'missing_ts', 'too_long')),
    last_bad_at        REAL,
    first_seen_at      REAL NOT NULL,
    last_read_at       REAL,
    missing_since      REAL,
    CHECK ((head_len = 0) = (head_hash IS NULL)),
    CHECK ((bad_lines = 0) = (last_bad_reason IS NULL)),
    CHECK ((state = 'missing') = (missing_since IS NOT NULL))
);

-- Bad lines of a file by reason, for `queuetop events --stats`.
CREATE TABLE event_file_bad_lines (
    file_id      INTEGER NOT NULL REFERENCES event_files(id) ON DELETE CASCADE,
    reason       TEXT NOT NULL CHECK (reason IN
        ('invalid_utf8', 'invalid_json', 'not_object', 'missing_type', 'missing_ts', 'too_long')),
    count        INTEGER NOT NULL CHECK (count > 0),
    last_offset  INTEGER NOT NULL,
    last_at      REAL NOT NULL,
    PRIMARY KEY (file_id, reason)
) WITHOUT ROWID;

-- One row per distinct event. The id is arrival order: the live feed and
-- `events --since` page on it. (ts_ms, hash) is unique, hash being BLAKE2b-128
-- of type, agent, ts and canonical data: a re-read stores nothing twice. The
-- unique index leads with ts_ms so that a file's events, which arrive in
-- time order, land at its right end rather than on random pages.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL CHECK (length(hash) = 16),
    ts_ms        INTEGER NOT NULL,
    type         TEXT NOT NULL CHECK (type <> ''),
    agent_id     TEXT,
    session_id   TEXT,                 -- data.workSessionId; NULL: stored, but in no session
    session_key  INTEGER,              -- 64-bit hash of session_id: what events_session indexes
    thread_key   TEXT,                 -- 'conv:<id>', 'pair:<a>|<b>', 'agent:<a>' or 'none'
    role         TEXT NOT NULL,        -- from the enrichment rules (data, not a fixed list)
    category     TEXT,
    confidence   REAL CHECK (confidence > 0 AND confidence <= 1),
    data         TEXT NOT NULL,        -- the data object, canonical JSON (sorted keys)
    file_id      INTEGER REFERENCES event_files(id),
    line_offset  INTEGER,              -- where its line starts in that file (as it was then)
    ingested_at  REAL NOT NULL,
    CHECK ((session_id IS NULL) = (thread_key IS NULL)),
    CHECK ((session_id IS NULL) = (session_key IS NULL)),
    CHECK ((category IS NULL) = (confidence IS NULL))
);
CREATE UNIQUE INDEX events_identity ON events (ts_ms, hash);   -- also serves retention by age
-- A session's events. Keyed by the 8-byte hash of the session id rather than
-- the id itself (ws_<uuid>, 39 characters): the smaller index costs half as
-- much per insert. Queries match session_id as well, so a collision costs a
-- few extra rows read, never a wrong answer.
CREATE INDEX events_session ON events (session_key, id) WHERE session_key IS NOT NULL;

-- One row per workSessionId, updated by each batch that has its events.
-- There is no status column: ACTIVE/QUIET/ARCHIVED depend on the time since
-- last_ts_ms, so reads work them out from the clock (a stored status would go
-- stale) and a status filter is a range on sessions_last. Retention deletes
-- events but never these summaries.
CREATE TABLE sessions (
    id                   TEXT PRIMARY KEY CHECK (id <> ''),
    first_ts_ms          INTEGER NOT NULL,
    last_ts_ms           INTEGER NOT NULL,
    event_count          INTEGER NOT NULL CHECK (event_count > 0),
    thread_count         INTEGER NOT NULL DEFAULT 0 CHECK (thread_count >= 0),
    agents               TEXT NOT NULL DEFAULT '[]',    -- JSON array, sorted
    last_event_type      TEXT NOT NULL,                 -- of the event with the greatest (ts, id)
    last_outcome         TEXT,
    last_outcome_ts_ms   INTEGER,
    category             TEXT,                          -- from the events: highest confidence, then latest
    category_confidence  REAL CHECK (category_confidence > 0 AND category_confidence <= 1),
    category_ts_ms       INTEGER,
    category_override    TEXT,                          -- an operator's choice; wins over category
    override_by          TEXT,
    override_at          REAL,
    created_at           REAL NOT NULL,
    updated_at           REAL NOT NULL,
    CHECK (first_ts_ms <= last_ts_ms),
    CHECK ((category IS NULL) = (category_confidence IS NULL)),
    CHECK ((category IS NULL) = (category_ts_ms IS NULL)),
    CHECK ((last_outcome IS NULL) = (last_outcome_ts_ms IS NULL)),
    CHECK ((override_by IS NULL) = (override_at IS NULL)),
    CHECK (category_override IS NULL OR override_by IS NOT NULL)
);
CREATE INDEX sessions_last ON sessions (last_ts_ms DESC, id);

-- A session's threads: one per conversation, or per agent pair without one.
CREATE TABLE session_threads (
    session_id          TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    thread_key          TEXT NOT NULL,
    from_agent          TEXT,                           -- the first fromAgent seen
    to_agent            TEXT,                           -- the first toAgent seen
    agents              TEXT NOT NULL DEFAULT '[]',     -- JSON array, sorted
    first_ts_ms         INTEGER NOT NULL,
    last_ts_ms          INTEGER NOT NULL,
    event_count         INTEGER NOT NULL CHECK (event_count > 0),
    last_event_type     TEXT NOT NULL,
    last_outcome        TEXT,
    last_outcome_ts_ms  INTEGER,
    PRIMARY KEY (session_id, thread_key),
    CHECK (first_ts_ms <= last_ts_ms),
    CHECK ((last_outcome IS NULL) = (last_outcome_ts_ms IS NULL))
) WITHOUT ROWID;

-- Counts
-- Rows by state, kept by triggers in the transaction that changes the rows:
-- the header's totals and the jobs pane's "of N" read this small table
-- instead of counting the jobs and chunks tables. Indexes for finding jobs
-- (`/` in the TUI, `queuetop jobs --where`). A status change costs two
-- primary-key updates of counts (about 4 µs per changed row, bench/tui.py).
CREATE TABLE counts (
    kind   TEXT NOT NULL CHECK (kind IN ('jobs', 'chunks', 'sessions')),
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (kind, state)
) WITHOUT ROWID;
INSERT INTO counts (kind, state, n) VALUES
    ('jobs', 'pending', 0), ('jobs', 'running', 0), ('jobs', 'completed', 0),
    ('jobs', 'partial', 0), ('jobs', 'failed', 0), ('jobs', 'cancelled', 0),
    ('chunks', 'pending', 0), ('chunks', 'processing', 0), ('chunks', 'completed', 0),
    ('chunks', 'failed', 0), ('chunks', 'cancelled', 0),
    ('sessions', 'all', 0);
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'jobs' AND state = NEW.status;
END;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'jobs' AND state = OLD.status;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'jobs' AND state = OLD.status;
    UPDATE counts SET n = n + 1 WHERE kind = 'jobs' AND state = NEW.status;
END;
CREATE TRIGGER chunks_count_insert AFTER INSERT ON chunks BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'chunks' AND state = NEW.status;
END;
CREATE TRIGGER chunks_count_delete AFTER DELETE ON chunks BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'chunks' AND state = OLD.status;
END;
CREATE TRIGGER chunks_count_update AFTER UPDATE OF status ON chunks WHEN OLD.status <> NEW.status BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'chunks' AND state = OLD.status;
    UPDATE counts SET n = n + 1 WHERE kind = 'chunks' AND state = NEW.status;
END;
-- Work sessions (one row, state 'all'): the sessions pane's total. An upsert
-- that updates a stored session fires no insert trigger.
CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions BEGIN
    UPDATE counts SET n = n + 1 WHERE kind = 'sessions' AND state = 'all';
END;
CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions BEGIN
    UPDATE counts SET n = n - 1 WHERE kind = 'sessions' AND state = 'all';
END;
-- Sort by intent, filter by age, find the jobs whose chunks have an error
-- (few chunks do: the partial index stays small).
CREATE INDEX jobs_intent ON jobs (intent, id);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX chunks_errors ON chunks (job_id) WHERE last_error IS NOT NULL;

-- Alerts
-- An outbox: an alert row is written in the same transaction as what raised
-- it (a job ending, a schedule run's error, a circuit opening, a stale
-- worker's rescue, a backlog check), so an engine that dies never loses one.
-- One row per [[alerts]] rule that matched; the engine delivers it to the
-- rule's webhook and/or submit intent, claiming it under a lease (like a
-- chunk) so that one engine of many delivers each row. webhook may carry a
-- secret in its path or query: it is redacted wherever it is shown.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('job.failed', 'job.partial', 'schedule.failed',
                                                   'schedule.missed', 'circuit.open', 'worker.stale', 'backlog')),
    subject          TEXT NOT NULL,         -- what repeats collapse on: intent, schedule, host
    summary          TEXT NOT NULL,
    job_id           INTEGER,               -- the ids involved (no foreign keys: history outlives them)
    schedule         TEXT,
    host             TEXT,
    worker_id        TEXT,
    intent           TEXT,
    rule             INTEGER NOT NULL,      -- which [[alerts]] entry (from 1) matched
    webhook          TEXT,
    submit           TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  REAL NOT NULL,
    lease_token      TEXT,
    lease_until      REAL,
    repeats          INTEGER NOT NULL DEFAULT 0 CHECK (repeats >= 0),  -- collapsed by the cooldown
    created_at       REAL NOT NULL,
    last_seen_at     REAL NOT NULL,
    delivered_at     REAL,
    submitted_job_id INTEGER,               -- the job `submit` made (made once, in the claim's transaction)
    last_error       TEXT,
    CHECK (webhook IS NOT NULL OR submit IS NOT NULL),
    CHECK ((status = 'delivering') = (lease_token IS NOT NULL))
);
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status IN ('pending', 'delivering');
CREATE INDEX alerts_created ON alerts (created_at);

-- Every delivery attempt of an alert, to each destination.
CREATE TABLE alert_deliveries (
    id           INTEGER PRIMARY KEY,
    alert_id     INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    target       TEXT NOT NULL CHECK (target IN ('webhook', 'submit')),
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    status_code  INTEGER,
    error        TEXT,
    at           REAL NOT NULL,
    worker_id    TEXT                      -- the engine process that tried
);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, id);

-- The cooldown: the last alert of one rule, kind and subject. Raising one
-- is a compare-and-set on this row, so two engines never both raise it.
CREATE TABLE alert_marks (
    rule       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    alert_id   INTEGER NOT NULL,
    raised_at  REAL NOT NULL,
    PRIMARY KEY (rule, kind, subject)
);
-- Queues
-- Every job and its chunks belong to a named queue ('default' unless given or
-- routed by [queues.NAME] intents). A queue has a row here once it is
-- configured or paused; one without a row has no limit, no rate and runs.
-- A queue with a limit, a local limit, a rate or a pause is "held": the
-- ordinary claim passes its chunks over, and they are claimed only under a
-- lock on this row (SQLite: the claim's BEGIN IMMEDIATE; PostgreSQL: FOR
-- UPDATE of the row), which counts its processing chunks and takes tokens.
-- Settle, release and rescue give slots back by ending the processing
-- state; nothing here counts them.
CREATE TABLE queues (
    name          TEXT PRIMARY KEY CHECK (name <> ''),
    global_limit  INTEGER CHECK (global_limit >= 1),   -- chunks processing at once, every process together
    local_limit   INTEGER CHECK (local_limit >= 1),    -- chunks processing at once in one process
    rate_count    INTEGER CHECK (rate_count >= 1),     -- at most rate_count starts per rate_period seconds
    rate_period   REAL CHECK (rate_period > 0),
    -- the token bucket: holds at most one start, refilled at rate_count /
    -- rate_period per second from tokens_at, so no window of rate_period
    -- seconds ever sees more than rate_count starts
    tokens        REAL NOT NULL DEFAULT 1 CHECK (tokens <= 1),
    tokens_at     REAL,
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at     REAL,
    paused_by     TEXT,
    updated_at    REAL NOT NULL,
    CHECK ((rate_count IS NULL) = (rate_period IS NULL)),
    CHECK (paused = 1 OR paused_at IS NULL)
);
-- The queues the ordinary claim leaves alone (see above).
CREATE VIEW held_queues AS
    SELECT name FROM queues
    WHERE global_limit IS NOT NULL OR local_limit IS NOT NULL OR rate_count IS NOT NULL OR paused = 1;
-- A held queue's pending and processing chunks, for its claim and its count.
-- The 'default' queue is left out of both: most chunks are there, and
-- every insert and claim would pay for the entries (a held default queue
-- walks chunks_claim and chunks_processing instead).
CREATE INDEX chunks_queue_claim ON chunks (queue, priority DESC, id, run_after)
    WHERE status = 'pending' AND queue <> 'default';
CREATE INDEX chunks_queue_processing ON chunks (queue) WHERE status = 'processing' AND queue <> 'default';
CREATE INDEX jobs_queue ON jobs (queue, id) WHERE queue <> 'default';

-- Search
-- Finding jobs among a million: trigram full-text indexes for free text and
-- err: (and intent: globs), and an index for the sort by last update.
-- jobs_text holds each job's intent and params, chunk_errors each chunk's
-- last error (chunks without one are not in it); both are FTS5 tables with
-- the trigram tokenizer over external content, so a word of three or more
-- characters is found as a substring, case-insensitively, without reading
-- every row. Triggers keep them in the transaction that changes the rows: a
-- submitted job costs one index insert, a chunk one only when its last error
-- changes (see README "TUI at a million jobs" for the measured cost).
CREATE VIRTUAL TABLE jobs_text USING fts5(intent, params, content='jobs', content_rowid='id', tokenize='trigram', columnsize=0);
CREATE TRIGGER jobs_text_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO jobs_text (rowid, intent, params) VALUES (NEW.id, NEW.intent, NEW.params);
END;
CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, intent, params) VALUES ('delete', OLD.id, OLD.intent, OLD.params);
END;
CREATE TRIGGER jobs_text_update AFTER UPDATE OF intent, params ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, intent, params) VALUES ('delete', OLD.id, OLD.intent, OLD.params);
    INSERT INTO jobs_text (rowid, intent, params) VALUES (NEW.id, NEW.intent, NEW.params);
END;
CREATE VIRTUAL TABLE chunk_errors USING fts5(last_error, content='chunks', content_rowid='id', tokenize='trigram', columnsize=0);
CREATE TRIGGER chunk_errors_insert AFTER INSERT ON chunks WHEN NEW.last_error IS NOT NULL BEGIN
    INSERT INTO chunk_errors (rowid, last_error) VALUES (NEW.id, NEW.last_error);
END;
CREATE TRIGGER chunk_errors_delete AFTER DELETE ON chunks WHEN OLD.last_error IS NOT NULL BEGIN
    INSERT INTO chunk_errors (chunk_errors, rowid, last_error) VALUES ('delete', OLD.id, OLD.last_error);
END;
CREATE TRIGGER chunk_errors_update AFTER UPDATE OF last_error ON chunks
WHEN OLD.last_error IS NOT NEW.last_error BEGIN
    INSERT INTO chunk_errors (chunk_errors, rowid, last_error)
    SELECT 'delete', OLD.id, OLD.last_error WHERE OLD.last_error IS NOT NULL;
    INSERT INTO chunk_errors (rowid, last_error) SELECT NEW.id, NEW.last_error WHERE NEW.last_error IS NOT NULL;
END;
-- Sort by last update (the expression find.sql sorts by).
CREATE INDEX jobs_updated ON jobs (coalesce(finished_at, started_at, created_at), id);
-- Sort by progress (find.sql's sort_progress, the same expression): each settle
-- that moves a running job's count moves its entry too (migration 0013).
CREATE INDEX jobs_progress ON jobs (CAST(chunks_completed AS REAL) / max(chunks_total, 1), id);
