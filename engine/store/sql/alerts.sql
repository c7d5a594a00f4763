-- Alerts: raised inside the transaction of what caused them, delivered by
-- the engine under a lease (see engine/services/alerts.py).

-- name: take_mark
-- The cooldown as a compare-and-set: a row comes back only when no alert of
-- this rule, kind and subject was raised within :cooldown seconds (or ever).
INSERT INTO alert_marks (rule, kind, subject, alert_id, raised_at)
VALUES (:rule, :kind, :subject, 0, :now)
ON CONFLICT (rule, kind, subject) DO UPDATE SET raised_at = excluded.raised_at
WHERE alert_marks.raised_at <= :now - :cooldown
RETURNING rule;

-- name: set_mark
UPDATE alert_marks SET alert_id = :alert_id WHERE rule = :rule AND kind = :kind AND subject = :subject;

-- name: repeat
-- Within the cooldown: the alert already raised counts one more.
UPDATE alerts SET repeats = repeats + 1, last_seen_at = :now
WHERE id = (SELECT alert_id FROM alert_marks WHERE rule = :rule AND kind = :kind AND subject = :subject);

-- name: insert
INSERT INTO alerts (kind, subject, summary, job_id, schedule, host, worker_id, intent, rule, webhook, submit,
                    next_attempt_at, created_at, last_seen_at)
VALUES (:kind, :subject, :summary, :job_id, :schedule, :host, :worker_id, :intent, :rule, :webhook, :submit,
        :now, :now, :now)
RETURNING id;

-- name: job_intent
SELECT intent FROM jobs WHERE id = :job_id;

-- name: schedule_name
SELECT name, intent FROM schedules WHERE id = :schedule_id;

-- name: release_expired
-- Deliveries whose engine stopped before ending them (its lease ran out)
-- go back to pending; the caller records each as an interrupted attempt.
UPDATE alerts SET status = 'pending', lease_token = NULL, lease_until = NULL
WHERE id IN (SELECT id FROM alerts WHERE status = 'delivering' AND next_attempt_at <= :now
             FOR UPDATE SKIP LOCKED  -- postgres
             )
RETURNING id, attempts, webhook;

-- name: claim
-- Due alerts, oldest first, held under one lease token until :until: one
-- engine of many delivers each. next_attempt_at is the lease's end while it
-- is held, so one index finds both due and abandoned deliveries.
UPDATE alerts
SET status = 'delivering', lease_token = :token, lease_until = :until, next_attempt_at = :until,
    attempts = attempts + 1
WHERE id IN (SELECT id FROM alerts WHERE status = 'pending' AND next_attempt_at <= :now
             ORDER BY id LIMIT :limit
             FOR UPDATE SKIP LOCKED  -- postgres
             )
RETURNING id, kind, subject, summary, job_id, schedule, host, worker_id, intent, rule, webhook, submit,
          attempts, repeats, created_at, submitted_job_id;

-- name: held_submit
-- Still ours, and its job not made yet: the submit happens once.
SELECT submitted_job_id FROM alerts WHERE id = :id AND lease_token = :token
FOR UPDATE  -- postgres
;

-- name: set_submitted
UPDATE alerts SET submitted_job_id = :job_id WHERE id = :id AND lease_token = :token;

-- name: record_delivery
INSERT INTO alert_deliveries (alert_id, attempt, target, ok, status_code, error, at, worker_id)
VALUES (:alert_id, :attempt, :target, :ok, :status_code, :error, :at, :worker_id);

-- name: delivered
UPDATE alerts
SET status = 'delivered', lease_token = NULL, lease_until = NULL, delivered_at = :now, last_error = NULL
WHERE id = :id AND lease_token = :token
RETURNING id;

-- name: retry_later
-- A failed attempt: again at :next, or failed for good when attempts are spent.
UPDATE alerts
SET status = CASE WHEN attempts >= :max_attempts THEN 'failed' ELSE 'pending' END,
    lease_token = NULL, lease_until = NULL, next_attempt_at = :next, last_error = :error
WHERE id = :id AND lease_token = :token
RETURNING status;

-- name: list
SELECT id, kind, subject, summary, job_id, schedule, host, worker_id, intent, rule, webhook, submit, status,
       attempts, next_attempt_at, repeats, created_at, last_seen_at, delivered_at, submitted_job_id, last_error
FROM alerts
WHERE (:status IS NULL OR status = :status)  -- sqlite
WHERE (:status::text IS NULL OR status = :status::text)  -- postgres
ORDER BY id DESC
LIMIT :limit;

-- name: get
SELECT id, kind, subject, summary, job_id, schedule, host, worker_id, intent, rule, webhook, submit, status,
       attempts, next_attempt_at, repeats, created_at, last_seen_at, delivered_at, submitted_job_id, last_error
FROM alerts
WHERE id = :alert_id;

-- name: deliveries
SELECT id, alert_id, attempt, target, ok, status_code, error, at, worker_id FROM alert_deliveries
WHERE alert_id IN (SELECT value FROM json_each(:alert_ids))  -- sqlite
WHERE alert_id IN (SELECT value::bigint FROM jsonb_array_elements_text(:alert_ids::jsonb) AS t(value))  -- postgres
ORDER BY alert_id, id;

-- name: undelivered_count
-- Pending and being delivered: the partial index alerts_due covers it.
SELECT count(*) FROM alerts WHERE status IN ('pending', 'delivering');

-- name: recent_count
SELECT count(*) FROM alerts WHERE created_at >= :since;

-- name: backlog
-- Intents whose pending chunks have been due since before :cutoff, walked
-- on the partial claim index (pending chunks only).
SELECT j.intent, count(*) AS chunks, min(c.run_after) AS oldest
FROM chunks c JOIN jobs j ON j.id = c.job_id
WHERE c.status = 'pending' AND c.run_after <= :cutoff
GROUP BY j.intent
ORDER BY j.intent;

-- name: any_due
-- A read before the write transaction: an idle engine takes no write lock.
SELECT 1 FROM alerts WHERE status IN ('pending', 'delivering') AND next_attempt_at <= :now LIMIT 1;
