-- Each job gets a random nonce: with its id and a chunk index it makes the
-- http handler's Idempotency-Key. Jobs from before get one here; new ones
-- get theirs from insert_jobs.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS nonce text;
UPDATE jobs SET nonce = encode(uuid_send(gen_random_uuid()), 'hex') WHERE nonce IS NULL;
