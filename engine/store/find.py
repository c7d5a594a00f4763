"""Finding jobs: a parsed :class:`~queuetop.engine.model.query.JobQuery` as SQL.

The query is built from the named pieces of ``sql/find.sql`` only: the
operator's values are always bound parameters, never part of the text, and
the sort key and direction come from fixed lists. The same build serves
both backends (:class:`~queuetop.engine.store.queries.Query` carries both
texts).

At a million jobs a rare substring cannot be looked for row by row. A probe
per word first counts what the trigram indexes (SQLite FTS5
``jobs_text``/``chunk_errors``, PostgreSQL pg_trgm) hold for it, up to
:data:`CAP` + 1. Free-text and ``err:`` words of three or more characters,
and ``intent:`` globs with a run of three plain characters, that are rarer
than that go through the indexes; common ones are checked job by job, which
meets them at once. When other filters leave at most :data:`NARROW` jobs (a
``state:`` with few jobs, ``id:``), every word is checked job by job. Shorter words (the first keystrokes of
a search) are checked job by job among the newest :data:`SHORT_SPAN` jobs
only. Counting stops at :data:`COUNT_CAP`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from queuetop.engine.model.query import DEFAULT_QUEUE, DEFAULT_SORT, JobQuery, JobSort, SortColumn
from queuetop.engine.model.results import FoundJobs
from queuetop.engine.store import queries

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

#: The most matches a trigram index gives one word (its newest).
CAP = 10_000
#: Other filters that leave at most this many jobs make words be checked job by job.
NARROW = 10_000
#: Counting matches stops here: the count then reads "10,000+".
COUNT_CAP = 10_000
#: The shortest run the trigram indexes can look for.
TRIGRAM = 3
#: Words shorter than TRIGRAM are looked for among this many newest jobs only.
SHORT_SPAN = 20_000  # a rare two-letter word reads them all: 30 ms for 50,000 at a million jobs, 11 ms for 20,000


def fts_phrase(text: str, column: str | None = None) -> str:
    """``text`` as one FTS5 string (a substring, for the trigram tokenizer), optionally of one column."""
    phrase = '"' + text.replace('"', '""') + '"'
    return f"{column} : {phrase}" if column else phrase


def _longest_run(glob: str) -> str:
    """The longest stretch of a glob without ``*`` or ``?``."""
    return max(re.split(r"[*?]", glob), key=len)


def like_pattern(text: str) -> str:
    """``%text%`` with the text's own ``\\``, ``%`` and ``_`` escaped (escape character ``\\``)."""
    return "%" + _escape(text) + "%"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_pattern(glob: str) -> str:
    """A glob (``*`` any run, ``?`` one character) as a LIKE pattern of the whole text."""
    return _escape(glob).replace("*", "%").replace("?", "_")


@cache
def _pieces(dialect: str) -> dict[str, str]:
    """The named pieces of ``sql/find.sql`` for ``dialect`` (worked out once: every search uses them)."""
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


def where(query: JobQuery, dialect: str = "sqlite", *, now: float = 0.0, narrow: bool = False,
          common: frozenset[tuple[str, str]] = frozenset(), top: int | None = None
          ) -> tuple[list[str], dict[str, Any]]:
    """The filters of ``query`` (each one SQL piece, to be joined by AND) and their parameters.

    ``now`` turns ages into creation-time cutoffs. ``narrow``: the other
    filters leave few jobs, so words are checked job by job (no index).
    ``common``: words (``("text", w)``, ``("error", w)``, ``("intent", glob)``)
    that :func:`probes` found in more than :data:`CAP` rows, checked job by
    job too (a scan meets them at once; the index would give only its newest).
    ``top``: on SQLite, free-text words read only the index entries that can
    be among the first ``top`` jobs by id, newest first (find.sql's
    text_newest: for a lone common word on such a page).
    """
    b = _Builder(_pieces(dialect))
    parts: list[str] = []
    if query.nothing:
        return [b.piece("nothing")], b.params
    if short_words(query) and not narrow:
        parts.append(b.piece("recent", span=SHORT_SPAN))

    def via_index(kind: str, word: str) -> bool:
        """Whether a free-text or error word goes through its trigram index (rare enough), not job by job."""
        return not narrow and len(word) >= TRIGRAM and (kind, word) not in common

    def word_piece(kind: str, word: str) -> str:
        if not via_index(kind, word):
            return b.piece(kind, pattern=like_pattern(word))
        if kind == "text" and top is not None and dialect == "sqlite":
            return b.piece("text_newest", phrase=fts_phrase(word), cap=CAP, top=top)
        return b.piece(kind + "_indexed", pattern=like_pattern(word), phrase=fts_phrase(word), cap=CAP)

    indexed = any(via_index(kind, w) for kind, words in (("text", query.text), ("error", query.errors))
                  for w in words)

    parts.extend(word_piece("text", word) for word in query.text)
    if query.states is not None:
        states = sorted(state.value for state in query.states)
        checked = "_checked" if indexed else ""
        parts.append(b.piece("state" + checked, state=states[0]) if len(states) == 1
                     else b.piece("states" + checked, states=json.dumps(states)))
    for globs in query.intents:
        ors = []
        for g in globs:
            run = _longest_run(g)
            if narrow or len(run) < TRIGRAM or ("intent", g) in common:
                ors.append(b.piece("intent", pattern=glob_pattern(g)))
            else:
                ors.append(b.piece("intent_indexed", pattern=glob_pattern(g), phrase=fts_phrase(run, "intent"),
                                   cap=CAP))
        parts.append("(" + " OR ".join(ors) + ")")
    if query.older_than is not None:
        parts.append(b.piece("older", cutoff=now - query.older_than))
    if query.younger_than is not None:
        parts.append(b.piece("younger", cutoff=now - query.younger_than))
    parts.extend(word_piece("error", error) for error in query.errors)
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


def _text(query: JobQuery, sort: JobSort, dialect: str, now: float, narrow: bool,
          common: frozenset[tuple[str, str]], top: int | None) -> tuple[str, str, dict[str, Any]]:
    descending = sort.descending
    if sort.column is SortColumn.AGE:  # youngest first is the highest id first
        descending = not descending
    column = SortColumn.ID if sort.column is SortColumn.AGE else sort.column
    parts, params = where(query, dialect, now=now, narrow=narrow, common=common)
    count_clause = ("\nWHERE " + "\n  AND ".join(parts)) if parts else ""
    if top is not None and column is SortColumn.ID and descending:
        parts, page_params = where(query, dialect, now=now, narrow=narrow, common=common, top=top)
        # one set of parameters serves both: text_newest takes as many as text_indexed, so the numbering holds
        assert all(params.get(key, value) == value for key, value in page_params.items())
        params = {**params, **page_params}
    pieces = _pieces(dialect)
    clause = ("\nWHERE " + "\n  AND ".join(parts)) if parts else ""
    direction = " DESC" if descending else " ASC"
    order_by = f"\nORDER BY {pieces['sort_' + column.value]}{direction}"
    if column is not SortColumn.ID:
        order_by += f", j.id{direction}"
    # The page's rows first, then the log count of each (counted for the page's rows only, not for every
    # candidate the sort reads).
    outer = order_by.replace("j.", "p.")
    page = (pieces["select"] + " FROM (" + pieces["select_jobs"] + clause + order_by
            + "\nLIMIT :limit OFFSET :offset) AS p" + outer)
    return page, pieces["count"] + count_clause + "\n" + pieces["count_end"], params


def find_jobs(query: JobQuery, sort: JobSort, *, now: float, limit: int, offset: int, narrow: bool = False,
              common: frozenset[tuple[str, str]] = frozenset(), capped: bool = False
              ) -> tuple[queries.Query, queries.Query, dict[str, Any]]:
    """(the page's query, the count's query, their parameters) for ``query`` sorted by ``sort``.

    ``now`` turns ages into creation-time cutoffs; ``narrow`` and ``common``
    as for :func:`where`; ``capped``: a lone common word (see :func:`search`).
    The count stops at :data:`COUNT_CAP` + 1.
    """
    top = min(offset + limit, CAP) if capped else None  # past the newest CAP nothing is read
    page, count, params = _text(query, sort, "sqlite", now, narrow, common, top)
    pg_page, pg_count, _ = _text(query, sort, "postgres", now, narrow, common, top)
    return (_query(page, pg_page), _query(count, pg_count),
            {**params, "limit": limit, "offset": offset, "count_cap": COUNT_CAP + 1})


def short_words(query: JobQuery) -> bool:
    """True when some word is too short for the trigram indexes (then only recent jobs are searched)."""
    return (any(len(w) < TRIGRAM for w in query.text) or any(len(w) < TRIGRAM for w in query.errors)
            or any(len(_longest_run(g)) < TRIGRAM for globs in query.intents for g in globs))


def probes(query: JobQuery, narrow: bool) -> list[tuple[tuple[str, str], queries.Query, dict[str, Any]]]:
    """(word, query, parameters) per word the indexes would look for: each counts its index's rows up to
    :data:`CAP` + 1.

    A word over :data:`CAP` is common: with other filters, :func:`where`
    then checks it job by job (the index would give only its newest
    :data:`CAP`, which the other filters may all drop); alone, its index's
    newest :data:`CAP` are the first pages of what it matches.
    """
    if narrow or query.nothing:
        return []
    sqlite, postgres = _pieces("sqlite"), _pieces("postgres")
    words = ([("probe_text", ("text", w), w, None) for w in query.text]
             + [("probe_error", ("error", w), w, None) for w in query.errors]
             + [("probe_intent", ("intent", g), _longest_run(g), "intent") for globs in query.intents for g in globs])
    out = []
    for name, key, word, column in words:
        if len(word) < TRIGRAM:
            continue
        out.append((key, _query(sqlite[name], postgres[name]),
                    {"phrase": fts_phrase(word, column), "pattern": like_pattern(word), "cap": CAP}))
    return out


def _query(sqlite: str, postgres: str) -> queries.Query:
    """A put-together query as the backends take it: the SQLite text, carrying PostgreSQL's."""
    built = queries.Query(sqlite)
    built.name = "find.jobs"
    built.postgres = queries.to_psycopg(postgres)
    return built


def totals_query() -> queries.Query:
    """Rows by state (kind ``jobs`` or ``chunks``) from the counters the triggers keep."""
    return _query(_pieces("sqlite")["totals"], _pieces("postgres")["totals"])


async def _plan(db: Any, query: JobQuery, by_state: dict[str, int]) -> tuple[bool, frozenset[tuple[str, str]], bool]:
    """(narrow, common words, capped) for ``query``: see :func:`where`; capped: a lone common word is read
    through its index's newest :data:`CAP` matches (its count then reads "10,000+")."""
    narrow = query.ids is not None or (query.states is not None and sum(
        n for state, n in by_state.items() if state in query.states) <= NARROW)
    common = frozenset([word for word, probe, params in probes(query, narrow)
                        if int(await db.scalar(probe, params) or 0) > CAP])
    capped = bool(common) and len(query.words) == 1
    if capped:
        common = frozenset()  # alone: the index's newest matches are its first pages (counted "10,000+")
    return narrow, common, capped


def _exact(query: JobQuery, matched: int, total: int, narrow: bool, capped: bool) -> tuple[int, bool]:
    exact = not capped and not (not narrow and total > SHORT_SPAN and short_words(query))
    if matched > COUNT_CAP:
        matched, exact = COUNT_CAP, False
    return matched, exact


async def search(db: Any, query: JobQuery, sort: JobSort, by_state: dict[str, int], *, now: float, limit: int,
                 offset: int, count: bool = True) -> tuple[list[Any], int, bool, bool]:
    """(the page's rows, the match count, whether it is exact, whether it was counted) on ``db`` (a Backend).

    ``by_state``: jobs per state from the counters. A query naming only
    states is counted from them; otherwise the count query stops at
    :data:`COUNT_CAP` (then not exact), as it is not exact when a lone common
    word read its index's newest :data:`CAP` matches, or a word too short for
    the indexes was looked for among the newest :data:`SHORT_SPAN` jobs.
    ``count=False``: a count that would take a query of its own is left out
    (not counted: the count is then the rows up to the page's end, for
    :func:`count` to make later).
    """
    if query.nothing:
        return [], 0, True, True
    total = sum(by_state.values())
    narrow, common, capped = await _plan(db, query, by_state)
    page, count_query, params = find_jobs(query, sort, now=now, limit=limit, offset=offset, narrow=narrow,
                                          common=common, capped=capped)
    rows = list(await db.fetchall(page, params))
    if query.counted:
        return rows, _by_counters(query, by_state), True, True
    if len(rows) < limit and (rows or not offset):
        # The page ends the list: the count is what came before it and on it (a rare word's
        # count would read every candidate again, as long as the page's read took).
        matched = offset + len(rows)
    elif not count:
        return rows, offset + len(rows), False, False
    else:
        matched = int(await db.scalar(count_query, params))
    return (rows, *_exact(query, matched, total, narrow, capped), True)


def _by_counters(query: JobQuery, by_state: dict[str, int]) -> int:
    return sum(n for state, n in by_state.items() if query.states is None or state in query.states)


async def count(db: Any, found: FoundJobs, state_counts: dict[str, dict[str, int]], *, now: float) -> FoundJobs:
    """``found`` (a page :func:`search` left uncounted) with its match count, made as :func:`search` makes it."""
    query, by_state = found.query, state_counts.get("jobs", {})
    total = sum(by_state.values())
    if query.nothing or query.counted:
        matched, exact = (0 if query.nothing else _by_counters(query, by_state)), True
    else:
        narrow, common, capped = await _plan(db, query, by_state)
        _, count_query, params = find_jobs(query, DEFAULT_SORT, now=now, limit=1, offset=0, narrow=narrow,
                                           common=common)
        matched, exact = _exact(query, int(await db.scalar(count_query, params)), total, narrow, capped)
    return replace(found, matched=matched, total=total, exact=exact, counted=True)
