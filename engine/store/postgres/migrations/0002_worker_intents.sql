-- Workers record the intents their process can run (see ../../sqlite/migrations/0002_worker_intents.sql).
ALTER TABLE workers ADD COLUMN IF NOT EXISTS intents text;
