"""Storage: the SQLite and PostgreSQL backends, their schemas and migrations, and the named SQL both run.

:func:`open_store` picks the backend from the target: a ``postgresql://`` URL
opens PostgreSQL, anything else is a SQLite file. Callers hold the result as a
:class:`~queuetop.engine.store.protocol.Backend` and never ask which it is.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from queuetop.engine.store.protocol import Backend


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def shown(target: object) -> str:
    """``target`` as it may be shown or logged: a URL's password replaced by ``***``."""
    text = str(target)
    if not is_postgres_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


async def open_store(target: str | os.PathLike[str]) -> Backend:
    """Open (creating or upgrading) the database at ``target``."""
    if is_postgres_url(target):
        from queuetop.engine.store.postgres.backend import PostgresDatabase  # psycopg is an optional extra

        return await PostgresDatabase.open(str(target))
    from queuetop.engine.store.sqlite.backend import Database

    return await Database.open(target)


__all__ = ["Backend", "is_postgres_url", "open_store", "shown"]
