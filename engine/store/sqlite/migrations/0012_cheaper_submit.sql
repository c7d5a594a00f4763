-- Nothing changes on SQLite: PostgreSQL's 0012 of the same name moves its
-- search for intents from a trigram index to a table of intents and checks
-- a chunk's job once per statement instead of per chunk. SQLite's text
-- search (FTS5, 0008) and its foreign keys stay as they were; the number is
-- taken so that both backends' schemas keep one version sequence.
SELECT 1;
