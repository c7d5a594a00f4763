"""Finding jobs: a parsed :class:`~queuetop.engine.model.query.JobQuery` as SQL.

The query is built from the named pieces of ``sql/find.sql`` only: the
operator's values are always bound parameters, never part of the text, and
the sort key and direction come from fixed lists. The same build serves
both backends (:class:`~queuetop.engine.store.queries.Query` carries both
texts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from queuetop.engine.model.query import DEFAULT_QUEUE, JobQuery, JobSort, SortColumn
from queuetop.engine.store import queries

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def like_pattern(text: str) -> str:
    """``%text%`` with the text's own ``\\``, ``%`` and ``_`` escaped (escape character ``\\``)."""
    return "%" + _escape(text) + "%"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_pattern(glob: str) -> str:
    """A glob (``*`` any run, ``?`` one character) as a LIKE pattern of the whole text."""
    return _escape(glob).replace("*", "%").replace("?", "_")


def _pieces(dialect: str) -> dict[str, str]:
    pieces = {}
    for name, text in queries.fragments("find").items():
        lines = [line for line in queries.for_dialect(text, dialect).splitlines()
                 if line.strip() and not line.lstrip().startswith("--")]
        pieces[name] = "\n".join(lines).strip().rstrip(";").strip()
    return pieces


@dataclass
class _Builder:
    """Joins named pieces of one dialect; each use of a piece numbers its parameters (:pattern_3)."""

    pieces: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)

    def piece(self, name: str, **values: Any) -> str:
        n = len(self.params) + 1
        for key, value in values.items():
            self.params[f"{key}_{n}"] = value
        return _PARAM.sub(lambda m: f":{m.group(1)}_{n}" if m.group(1) in values else m.group(0),
                          self.pieces[name])


def where(query: JobQuery, dialect: str = "sqlite", *, now: float = 0.0) -> tuple[list[str], dict[str, Any]]:
    """The filters of ``query`` (each one SQL piece, to be joined by AND) and their parameters.

    ``now`` turns ages into creation-time cutoffs.
    """
    b = _Builder(_pieces(dialect))
    parts: list[str] = []
    if query.nothing:
        return [b.piece("nothing")], b.params
    for word in query.text:
        parts.append(b.piece("text", pattern=like_pattern(word)))
    if query.states is not None:
        states = sorted(state.value for state in query.states)
        parts.append(b.piece("state", state=states[0]) if len(states) == 1
                     else b.piece("states", states=json.dumps(states)))
    for globs in query.intents:
        parts.append("(" + " OR ".join(b.piece("intent", pattern=glob_pattern(g)) for g in globs) + ")")
    if query.older_than is not None:
        parts.append(b.piece("older", cutoff=now - query.older_than))
    if query.younger_than is not None:
        parts.append(b.piece("younger", cutoff=now - query.younger_than))
    for error in query.errors:
        parts.append(b.piece("error", pattern=like_pattern(error)))
    if query.queues is not None:
        names = sorted(query.queues)
        if names == [DEFAULT_QUEUE]:
            parts.append(b.piece("queue_default"))
        elif len(names) == 1:
            parts.append(b.piece("queue", queue=names[0]))
        else:
            parts.append(b.piece("queues", queues=json.dumps(names)))
    if query.ids is not None:
        ids = sorted(query.ids)
        parts.append(b.piece("id", id=ids[0]) if len(ids) == 1 else b.piece("ids", ids=json.dumps(ids)))
    return parts, b.params


def _text(query: JobQuery, sort: JobSort, dialect: str, now: float) -> tuple[str, str, dict[str, Any]]:
    parts, params = where(query, dialect, now=now)
    pieces = _pieces(dialect)
    clause = ("\nWHERE " + "\n  AND ".join(parts)) if parts else ""
    descending = sort.descending
    if sort.column is SortColumn.AGE:  # youngest first is the highest id first
        descending = not descending
    column = SortColumn.ID if sort.column is SortColumn.AGE else sort.column
    direction = " DESC" if descending else " ASC"
    order_by = f"\nORDER BY {pieces['sort_' + column.value]}{direction}"
    if column is not SortColumn.ID:
        order_by += f", j.id{direction}"
    page = pieces["select"] + clause + order_by + "\nLIMIT :limit OFFSET :offset"
    return page, pieces["count"] + clause, params


def find_jobs(query: JobQuery, sort: JobSort, *, now: float, limit: int,
              offset: int) -> tuple[queries.Query, queries.Query, dict[str, Any]]:
    """(the page's query, the count's query, their parameters) for ``query`` sorted by ``sort``.

    ``now`` turns ages into creation-time cutoffs.
    """
    page, count, params = _text(query, sort, "sqlite", now)
    pg_page, pg_count, _ = _text(query, sort, "postgres", now)
    return _query(page, pg_page), _query(count, pg_count), {**params, "limit": limit, "offset": offset}


def _query(sqlite: str, postgres: str) -> queries.Query:
    """A put-together query as the backends take it: the SQLite text, carrying PostgreSQL's."""
    built = queries.Query(sqlite)
    built.name = "find.jobs"
    built.postgres = queries.to_psycopg(postgres)
    return built


def totals_query() -> queries.Query:
    """Rows by state (kind ``jobs`` or ``chunks``) from the counters the triggers keep."""
    return _query(_pieces("sqlite")["totals"], _pieces("postgres")["totals"])
