-- Workers say how many timed-out sync handler threads they left running.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS abandoned integer NOT NULL DEFAULT 0;
