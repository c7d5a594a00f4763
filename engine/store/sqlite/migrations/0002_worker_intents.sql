-- Workers record the intents their process can run, so an operator sees
-- which pending work no online worker can take.
ALTER TABLE workers ADD COLUMN intents TEXT;
