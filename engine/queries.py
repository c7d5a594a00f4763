"""Named SQL queries, loaded from ``engine/sql/*.sql``.

Each file holds the queries of one concern. A query starts with a line
``-- name: query_name`` and runs to the next such line. Parameters are named
(``:worker_id``) and always bound, never formatted into the text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load(concern: str) -> dict[str, str]:
    """All queries of ``sql/<concern>.sql``, by name."""
    text = (resources.files(__package__) / "sql" / f"{concern}.sql").read_text("utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise RuntimeError(f"sql/{concern}.sql names {name!r} twice")
        queries[name] = body.strip().rstrip(";")
    return queries
