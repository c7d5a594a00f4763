-- Each job gets a random nonce: with its id and a chunk index it makes the
-- http handler's Idempotency-Key. Jobs from before get one here; new ones
-- get theirs from insert_jobs.
ALTER TABLE jobs ADD COLUMN nonce TEXT;
UPDATE jobs SET nonce = lower(hex(randomblob(16))) WHERE nonce IS NULL;
