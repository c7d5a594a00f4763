-- Alerts: the outbox, its delivery attempts and the cooldown marks (see schema.sql).
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
