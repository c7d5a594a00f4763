"""Named SQL queries, loaded from ``engine/store/sql/*.sql``.

Each file holds the queries of one concern. A query starts with a line
``-- name: query_name`` and runs to the next such line. Parameters are named
(``:worker_id``) and always bound, never formatted into the text.

Each query is written once, for both SQLite and PostgreSQL. Where the
dialects truly differ (JSON functions, casts of NULL-able parameters, row
locks, greatest/least), the differing lines stand side by side, each ending
in a ``-- sqlite`` or ``-- postgres`` tag: a backend keeps its own lines and
drops the other's, so the rest of the query is never repeated. A query that
PostgreSQL needs in wholly other words may still be given again, under the
same name, in ``engine/store/postgres/sql/<concern>.sql``. A loaded
:class:`Query` is the SQLite text itself (a ``str``, so the SQLite
connection takes it as it is) and carries the PostgreSQL text, converted to
psycopg's ``%(name)s`` parameters.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
# `:name` but not the `::type` of a PostgreSQL cast.
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# A line that belongs to one dialect only ends in this tag.
_TAG = re.compile(r"\s*--\s*(sqlite|postgres)\s*$")


class Query(str):
    """A query's SQLite text, with its PostgreSQL text as :attr:`postgres`."""

    postgres: str | None = None
    name: str = ""


def _split(text: str, where: str) -> dict[str, str]:
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in found:
            raise RuntimeError(f"{where} names {name!r} twice")
        found[name] = body.strip().rstrip(";")
    return found


def for_dialect(sql: str, dialect: str) -> str:
    """``sql`` with the lines tagged for the other dialect dropped and the tags removed."""
    kept = []
    for line in sql.splitlines():
        tag = _TAG.search(line)
        if tag is None:
            kept.append(line)
        elif tag.group(1) == dialect:
            kept.append(line[:tag.start()])
    return "\n".join(kept)


def to_psycopg(sql: str) -> str:
    """``:name`` parameters as ``%(name)s``; literal ``%`` doubled."""
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


@cache
def load(concern: str) -> dict[str, Query]:
    """All queries of ``sql/<concern>.sql``, by name."""
    # The files beside this module (package data in a wheel, the repository's
    # own in an editable install), read by path: importlib.resources would
    # cost every CLI call more to import than reading them does.
    folder = Path(__file__).parent / "sql"
    sqlite = _split((folder / f"{concern}.sql").read_text("utf-8"), f"sql/{concern}.sql")
    postgres_file = Path(__file__).parent / "postgres" / "sql" / f"{concern}.sql"
    postgres = (_split(postgres_file.read_text("utf-8"), f"sql/postgres/{concern}.sql")
                if postgres_file.is_file() else {})
    unknown = set(postgres) - set(sqlite)
    if unknown:
        raise RuntimeError(f"sql/postgres/{concern}.sql overrides unknown queries: {sorted(unknown)}")
    queries: dict[str, Query] = {}
    for name, text in sqlite.items():
        query = Query(for_dialect(text, "sqlite"))
        query.name = f"{concern}.{name}"
        query.postgres = to_psycopg(postgres.get(name) or for_dialect(text, "postgres"))
        queries[name] = query
    return queries


@cache
def fragments(concern: str) -> dict[str, str]:
    """The pieces of ``sql/<concern>.sql`` by name, still tagged for both dialects.

    For queries put together from parts (see :mod:`queuetop.engine.store.find`):
    the caller joins them, then keeps its dialect's lines with :func:`for_dialect`.
    """
    folder = Path(__file__).parent / "sql"
    return _split((folder / f"{concern}.sql").read_text("utf-8"), f"sql/{concern}.sql")


def with_line(query: Query, marker: str, replacement: str) -> Query:
    """``query`` with what follows ``/* marker */`` on its line replaced, in both dialects' texts.

    For a statement that exists in variants differing in one condition
    (the claim, and the claim of one held queue): the variants are made
    from the one text instead of being written out again. The marker must
    stand exactly once in each text.
    """
    pattern = re.compile(r"/\*\s*" + re.escape(marker) + r"\s*\*/[^\n]*")

    def swap(text: str, dialect: str, new: str) -> str:
        found = pattern.findall(text)
        if len(found) != 1:
            raise RuntimeError(f"{query.name} ({dialect}) has {len(found)} /* {marker} */ lines, not one")
        return pattern.sub(lambda _: new, text)

    variant = Query(swap(query, "sqlite", replacement))
    variant.name = f"{query.name}/{marker}"
    if query.postgres is not None:
        variant.postgres = swap(query.postgres, "postgres", to_psycopg(replacement))
    return variant

