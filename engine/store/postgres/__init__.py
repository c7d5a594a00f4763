"""The PostgreSQL backend: psycopg 3 with a pool, LISTEN/NOTIFY for changes."""
