"""Coordination events: one NDJSON line into an :class:`Event` (or why it is bad), and reads.

A line is one JSON object: ``{"type": "a2a.send", "agentId": "eden", "ts":
1771330358110, "data": {...}}``. ``type`` (a non-empty string) and ``ts``
(epoch milliseconds, a number; a fraction is rounded) are required;
``agentId`` and ``data`` and every field of ``data`` may be missing. A
missing or ``null`` ``data`` is stored as ``{}``. Other top-level keys are
not kept. Identifiers that are numbers (an ``agentId`` of 7) are spelt out
as text; other non-string values of them count as missing.

An event's identity is a 16-byte BLAKE2b hash of its type, agent, ts and
canonical data (``orjson.dumps(data, option=OPT_SORT_KEYS)``): the same
event read twice (a restart, a rotated file read again, a line repeated in
the file) is stored once. The database keys it as ``UNIQUE (ts_ms, hash)``:
the same uniqueness, but an index that grows at its right end as a file's
events arrive in time order instead of at random pages.

Events with a ``data.workSessionId`` belong to that work session and to one
of its threads (see :mod:`queuetop.engine.events.sessions`). Events without one are
stored and shown in the event feed, but belong to no session: there is no
session to guess them into.

A bad line is one of :class:`BadReason`. Blank lines are not events and not
errors: they are skipped without being counted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import orjson

from queuetop.engine.store import queries
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend as Database
from queuetop.engine.events.enrich import EnrichRules
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.text import without_surrogates

SQL = queries.load("events")

DEFAULT_MAX_LINE_BYTES = 1 << 20
HASH_BYTES = 16
# ts is stored as a SQLite INTEGER (64-bit signed).
_TS_LIMIT = 1 << 63


class BadReason(str, Enum):
    """Why a line was not stored. The values are the schema's CHECK list."""

    INVALID_UTF8 = "invalid_utf8"  # bytes that are not UTF-8
    INVALID_JSON = "invalid_json"  # UTF-8, but not JSON
    NOT_OBJECT = "not_object"      # JSON, but not an object
    MISSING_TYPE = "missing_type"  # no non-empty string "type"
    MISSING_TS = "missing_ts"      # no usable number "ts" (epoch ms)
    TOO_LONG = "too_long"          # longer than max_line_bytes: skipped unread


@dataclass(frozen=True)
class BadLine:
    """A line that was skipped, and where it started."""

    reason: BadReason
    offset: int | None = None


@dataclass(frozen=True)
class Event:
    """One stored (or just parsed) coordination event."""

    id: int | None
    hash: str  # hex
    ts_ms: int
    type: str
    agent_id: str | None
    session_id: str | None
    thread_key: str | None
    role: str
    category: str | None
    confidence: float | None
    data: Any
    file_id: int | None = None
    line_offset: int | None = None
    ingested_at: float | None = None

    @property
    def ts(self) -> float:
        """The event's time as epoch seconds."""
        return self.ts_ms / 1000.0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Event":
        return cls(
            id=row["id"], hash=row["hash"].hex(), ts_ms=row["ts_ms"], type=row["type"],
            agent_id=row["agent_id"], session_id=row["session_id"], thread_key=row["thread_key"],
            role=row["role"], category=row["category"], confidence=row["confidence"],
            data=orjson.loads(row["data"]), file_id=row["file_id"], line_offset=row["line_offset"],
            ingested_at=row["ingested_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["ts"] = self.ts
        return out


@dataclass(frozen=True)
class FileStats:
    """One event file as the tailer sees it: progress, identity resets and bad lines."""

    id: int
    path: str
    state: str
    read_offset: int
    size_seen: int
    lines_read: int
    bytes_read: int
    events_stored: int
    duplicates: int
    bad_lines: int
    last_bad_offset: int | None
    last_bad_reason: str | None
    last_bad_at: float | None
    generation: int
    last_reset_reason: str | None
    last_reset_at: float | None
    first_seen_at: float
    last_read_at: float | None
    missing_since: float | None
    bad_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- parsing ----------------------------------------------------------------------


def text_value(value: Any) -> str | None:
    """A data field as text: strings as they are (empty is None), numbers spelt out, the rest None."""
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return str(value)


def thread_key(conversation_id: str | None, from_agent: str | None, to_agent: str | None,
               agent_id: str | None) -> str:
    """The thread an event of a session belongs to.

    ``conv:<conversationId>`` when it has one; else the agent pair
    ``pair:<a>|<b>`` (sorted, so both directions are one thread); else
    ``agent:<agent>`` for an event of one agent; else ``none``.
    """
    if conversation_id:
        return "conv:" + conversation_id
    a = from_agent or agent_id
    b = to_agent
    if a and b:
        return f"pair:{a}|{b}" if a <= b else f"pair:{b}|{a}"
    one = a or b
    if one:
        return "agent:" + one
    return "none"


def session_key(session_id: str) -> int:
    """The 64-bit key that the events_session index holds for a session id."""
    return int.from_bytes(hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big", signed=True)


def event_hash(event_type: str, agent_id: str | None, ts_ms: int, canonical_data: bytes) -> bytes:
    """The event's identity: BLAKE2b-128 of its type, agent, ts and canonical data."""
    head = orjson.dumps((event_type, agent_id, ts_ms))  # a JSON array: self-delimiting
    return hashlib.blake2b(head + b"\n" + canonical_data, digest_size=HASH_BYTES).digest()


def _lenient(line: bytes) -> Any:
    """A line orjson refused, read by the standard library: None if that fails too.

    Two things are JSON to the standard library and not to orjson: a lone
    surrogate written as an escape (``"\\udc80"``; it becomes U+FFFD, as in
    a handler's output) and a number too big for a float (``1e400``: infinity,
    which no timestamp passes, and which stored data writes as null). Such a
    line used to be dropped whole as ``invalid_json``.
    """
    try:
        # Decoded strictly first: json.loads of bytes lets UTF-8-encoded surrogates through.
        return _no_surrogates(json.loads(line.decode("utf-8"), parse_constant=_refuse), 0)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the limit
        return None


def _refuse(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON")  # NaN and Infinity: the standard library's extension


def _no_surrogates(value: Any, depth: int) -> Any:
    if depth > 200:
        raise ValueError("nested too deep")
    if type(value) is str:
        return without_surrogates(value)
    if type(value) is dict:
        return {without_surrogates(key): _no_surrogates(item, depth + 1) for key, item in value.items()}
    if type(value) is list:
        return [_no_surrogates(item, depth + 1) for item in value]
    return value


def _undecodable(line: bytes) -> BadReason:
    """Why orjson refused a line: bad UTF-8, or bad JSON in good UTF-8."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return BadReason.INVALID_UTF8
    return BadReason.INVALID_JSON


def parse_lines(lines: Sequence[bytes], base_offset: int, *, rules: EnrichRules, max_line_bytes: int,
                file_id: int | None, now: float, rows: list[dict[str, Any]],
                bad: list[tuple[BadReason, int]]) -> int:
    """Parse complete lines (newlines stripped) that start at ``base_offset``.

    Appends one row dict per event (the ``insert_event`` parameters, plus
    ``outcome``, ``from_agent`` and ``to_agent`` for the session update) to
    ``rows`` and ``(reason, offset)`` per bad line to ``bad``. Returns the
    number of lines looked at. This is the tailer's hot loop: it avoids
    per-event objects beyond the row dict.
    """
    loads, dumps, decode_error = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    sort_keys = orjson.OPT_SORT_KEYS
    blake2b = hashlib.blake2b
    enrich = rules.enrich
    text = text_value
    keys: dict[str, int] = {}  # session id -> session_key: a chunk has few sessions
    too_long, not_object = BadReason.TOO_LONG, BadReason.NOT_OBJECT
    missing_type, missing_ts = BadReason.MISSING_TYPE, BadReason.MISSING_TS
    offset = base_offset
    for line in lines:
        start = offset
        offset += len(line) + 1
        if len(line) > max_line_bytes:
            bad.append((too_long, start))
            continue
        try:
            obj = loads(line)
        except decode_error:
            if not line.strip():
                continue  # a blank line: nothing, not an error
            obj = _lenient(line)
            if obj is None:
                bad.append((_undecodable(line), start))
                continue
        if type(obj) is not dict:
            bad.append((not_object, start))
            continue
        event_type = obj.get("type")
        if type(event_type) is not str or not event_type:
            bad.append((missing_type, start))
            continue
        ts = obj.get("ts")
        if type(ts) is not int:
            if type(ts) is float and -_TS_LIMIT < ts < _TS_LIMIT:  # also refuses NaN
                ts = round(ts)
            else:
                bad.append((missing_ts, start))
                continue
        elif not -_TS_LIMIT <= ts < _TS_LIMIT:
            bad.append((missing_ts, start))
            continue
        # Field by field with the common case (a non-empty string) inline:
        # this loop runs once per line of every file.
        agent = obj.get("agentId")
        if type(agent) is not str or not agent:
            agent = text(agent)
        data = obj.get("data")
        if data is None:
            data = {}
        canonical = dumps(data, option=sort_keys)
        digest = blake2b(dumps((event_type, agent, ts)) + b"\n" + canonical, digest_size=16).digest()
        session = from_agent = to_agent = outcome = key = skey = None
        if type(data) is dict:
            from_agent = data.get("fromAgent")
            if type(from_agent) is not str or not from_agent:
                from_agent = text(from_agent)
            to_agent = data.get("toAgent")
            if type(to_agent) is not str or not to_agent:
                to_agent = text(to_agent)
            outcome = data.get("outcome")
            if type(outcome) is not str or not outcome:
                outcome = text(outcome)
            session = data.get("workSessionId")
            if type(session) is not str or not session:
                session = text(session)
            if session is not None:
                skey = keys.get(session)
                if skey is None:
                    skey = keys[session] = session_key(session)
                conversation = data.get("conversationId")
                if type(conversation) is str and conversation:
                    key = "conv:" + conversation
                else:
                    key = thread_key(text(conversation), from_agent, to_agent, agent)
        role, category, confidence = enrich(event_type, data)
        rows.append({
            "hash": digest, "ts_ms": ts, "type": event_type, "agent_id": agent, "session_id": session,
            "session_key": skey, "thread_key": key, "role": role, "category": category, "confidence": confidence,
            "data": canonical, "file_id": file_id, "line_offset": start, "ingested_at": now,
            "outcome": outcome, "from_agent": from_agent, "to_agent": to_agent,
        })
    return len(lines)


def parse_line(line: bytes | str, rules: EnrichRules | None = None, *,
               max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Event | BadLine:
    """One line (one trailing newline allowed) as an :class:`Event`, or a :class:`BadLine`.

    A blank line is a :class:`BadLine` here too (reason ``invalid_json``),
    since there is no event to return; the tailer skips blank lines silently.
    """
    raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else bytes(line)
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    rows: list[dict[str, Any]] = []
    bad: list[tuple[BadReason, int]] = []
    parse_lines([raw], 0, rules=rules or _default_rules(), max_line_bytes=max_line_bytes,
                file_id=None, now=0.0, rows=rows, bad=bad)
    if bad:
        return BadLine(bad[0][0], 0)
    if not rows:
        return BadLine(BadReason.INVALID_JSON, 0)
    row = rows[0]
    return Event(id=None, hash=row["hash"].hex(), ts_ms=row["ts_ms"], type=row["type"],
                 agent_id=row["agent_id"], session_id=row["session_id"], thread_key=row["thread_key"],
                 role=row["role"], category=row["category"], confidence=row["confidence"],
                 data=orjson.loads(row["data"]))


@cache
def _default_rules() -> EnrichRules:
    return EnrichRules.default()


# -- reads --------------------------------------------------------------------------


async def events_since(db: Database, after_id: int, limit: int = 500,
                       session_id: str | None = None) -> list[Event]:
    """Events with an id above ``after_id``, oldest first (catch-up after a gap)."""
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    params = {"after_id": after_id, "limit": limit, "session_id": session_id,
              "session_key": session_key(session_id) if session_id is not None else None}
    name = "events_since" if session_id is None else "session_events_since"
    return [Event.from_row(row) for row in await db.fetchall(SQL[name], params)]


async def latest_event_id(db: Database) -> int:
    """The highest event id stored (0 when there is none): where a live follow starts."""
    return int(await db.scalar(SQL["latest_event_id"]) or 0)


async def count_events(db: Database) -> int:
    """How many events are stored."""
    return int(await db.scalar(SQL["count_events"]) or 0)


async def file_stats(db: Database) -> list[FileStats]:
    """Every event file the tailer has seen, with its bad lines counted by reason."""
    by_file: dict[int, dict[str, int]] = {}
    for row in await db.fetchall(SQL["bad_lines_by_reason"]):
        by_file.setdefault(row["file_id"], {})[row["reason"]] = row["count"]
    return [
        FileStats(**{name: row[name] for name in row.keys()}, bad_by_reason=by_file.get(row["id"], {}))
        for row in await db.fetchall(SQL["file_stats"])
    ]


async def delete_old_events(db: Database, clock: Clock, older_than_days: float, *,
                            batch: int = 10_000) -> int:
    """Delete events whose ``ts`` is older than ``older_than_days``; returns how many.

    Sessions and threads keep their summaries (counts, times, agents): only
    the events themselves go. Deletes run in batches, each its own short
    transaction, so that a large backlog never holds the write lock for long.
    """
    if older_than_days <= 0:
        raise UsageError(f"retention must be positive, got {older_than_days} days")
    cutoff_ms = int((clock.now() - older_than_days * 86400) * 1000)
    total = 0
    while True:
        async with db.transaction() as conn:
            cursor = await conn.execute(SQL["delete_old_events"], {"cutoff_ms": cutoff_ms, "batch": batch})
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch:
            return total
