-- Nothing changes on SQLite: PostgreSQL's 0014 of the same name checks a
-- job's parent and schedule once per statement instead of by a foreign key
-- per job. SQLite's foreign keys stay as they were; the number is taken so
-- that both backends' schemas keep one version sequence.
SELECT 1;
