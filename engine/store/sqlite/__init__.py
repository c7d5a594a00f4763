"""The SQLite backend: one WAL file, BEGIN IMMEDIATE writes."""
