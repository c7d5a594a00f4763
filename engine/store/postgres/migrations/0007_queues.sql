-- Named queues (see ../../sqlite/migrations/0007_queues.sql and
-- schema.postgres.sql, "Queues"). Existing rows are in the 'default' queue;
-- a constant default adds the columns without rewriting the tables.
ALTER TABLE jobs ADD COLUMN queue text NOT NULL DEFAULT 'default';
ALTER TABLE chunks ADD COLUMN queue text NOT NULL DEFAULT 'default';
ALTER TABLE schedules ADD COLUMN queue text;
CREATE TABLE queues (
    name          text PRIMARY KEY CHECK (name <> ''),
    global_limit  integer CHECK (global_limit >= 1),   -- chunks processing at once, every process together
    local_limit   integer CHECK (local_limit >= 1),    -- chunks processing at once in one process
    rate_count    integer CHECK (rate_count >= 1),     -- at most rate_count starts per rate_period seconds
    rate_period   double precision CHECK (rate_period > 0),
    -- the token bucket: holds at most one start, refilled at rate_count /
    -- rate_period per second from tokens_at, so no window of rate_period
    -- seconds ever sees more than rate_count starts
    tokens        double precision NOT NULL DEFAULT 1 CHECK (tokens <= 1),
    tokens_at     double precision,
    paused        integer NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_at     double precision,
    paused_by     text,
    updated_at    double precision NOT NULL,
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
