-- Workers say how many timed-out sync handler threads they left running.
ALTER TABLE workers ADD COLUMN abandoned INTEGER NOT NULL DEFAULT 0;
