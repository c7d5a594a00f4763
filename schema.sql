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
    CHECK (chunks_completed + chunks_failed + chunks_cancelled <= chunks_total)
);
-- A dedupe key names at most one unfinished job; finished jobs free it.
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX jobs_status ON jobs (status, id);

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
    stopped_at      REAL
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
    created_at   REAL NOT NULL
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
