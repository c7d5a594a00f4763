"""Storage: the SQLite and PostgreSQL backends, their schemas and migrations, and the named SQL both run.

:func:`open_store` picks the backend from the target: a ``postgresql://`` URL
opens PostgreSQL, anything else is a SQLite file. Callers hold the result as a
:class:`~queuetop.engine.store.protocol.Backend` and never ask which it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.store.protocol import Backend


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


async def open_store(target: str | os.PathLike[str], *, create: bool = True, writes: bool = False) -> Backend:
    """Open (creating or upgrading) the database at ``target``.

    ``create=False`` refuses a SQLite file that does not exist, or a
    PostgreSQL schema without queuetop's tables (read-only commands must not
    leave a new database behind).
    ``writes=True`` (a command or engine that will write) refuses, with one
    line, a SQLite file this process may not write, before anything starts:
    otherwise its first write would fail halfway through the command.
    """
    if is_postgres_url(target):
        from queuetop.engine.store.postgres.backend import PostgresDatabase  # psycopg is an optional extra

        return await PostgresDatabase.open(str(target), create=create)
    from queuetop.engine.store.sqlite.backend import Database, wal_files_can_be_made

    path = Path(target)
    if not create and not path.exists():
        raise DatabaseError(f"no database at {path}")
    if writes and path.exists() and not os.access(path, os.W_OK):
        if wal_files_can_be_made(path):
            raise DatabaseError(f"{path} is read-only: this command cannot write to it (commands that only "
                                f"read, and the TUI with --read-only, can open it)")
        # Reading needs q.db-wal and q.db-shm too: offering read commands would send the user to a second error.
        raise DatabaseError(f"{path} is read-only, and so is {path.parent}: no command can open it there, "
                            f"since SQLite must make {path.name}-wal and {path.name}-shm beside it even to read "
                            f"(copy it to a folder you can write)")
    return await Database.open(path, create=create)


__all__ = ["Backend", "is_postgres_url", "open_store"]
