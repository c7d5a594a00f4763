-- Named queues: a queue on every job and chunk (and optionally a schedule),
-- and the queues table with limits, rates, token buckets and pauses (see
-- schema.sql, "Queues"). Existing rows are in the 'default' queue.
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE chunks ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE schedules ADD COLUMN queue TEXT;
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
