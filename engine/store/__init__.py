"""Storage: the SQLite and PostgreSQL backends, their schemas and migrations, and the named SQL both run."""
