"""Work sessions, threads and the event reads, from events ingested by a real tailer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import session_oracle
from conftest import assert_counters, scalar
from queuetop.engine.events import parse as events
from queuetop.engine.events import sessions
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.store.sqlite.backend import Database
from queuetop.engine.events.enrich import EnrichRules
from queuetop.engine.model.exceptions import NotFound, UsageError
from queuetop.engine.events.sessions import SessionThresholds
from queuetop.engine.model.states import SessionState
from queuetop.engine.events.tail import Tailer

NOW = 1_767_225_600.0  # the frozen clock's time, epoch seconds
MINUTE = 60_000        # in ms


def line(event_type: str, ts_ms: int, agent: str | None = "eden", **data: Any) -> bytes:
    event: dict[str, Any] = {"type": event_type, "ts": ts_ms, "data": data}
    if agent is not None:
        event["agentId"] = agent
    return orjson.dumps(event) + b"\n"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


async def ingest(db: Database, clock: FrozenClock, path: Path, *lines: bytes, **kwargs: Any) -> int:
    with open(path, "ab") as out:
        out.write(b"".join(lines))
    tailer = Tailer(db, clock, [str(path)], **kwargs)
    try:
        return await tailer.poll_once()
    finally:
        tailer.close()


async def consistent(db: Database) -> None:
    assert await session_oracle.stored_session_summaries(db) == await session_oracle.rebuild_sessions_from_events(db)


T0 = int(NOW * 1000) - 2 * MINUTE


async def test_a_session_with_threads_agents_and_last_event(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    await ingest(db, clock, path,
                 line("task.started", T0, workSessionId="ws_1", message="Plan the release"),
                 line("a2a.send", T0 + 1000, workSessionId="ws_1", conversationId="c1", fromAgent="eden",
                      toAgent="seum", message="Deploy the billing service"),
                 line("a2a.response", T0 + 2000, "seum", workSessionId="ws_1", conversationId="c1",
                      fromAgent="seum", toAgent="eden", outcome="ok"),
                 line("a2a.send", T0 + 3000, workSessionId="ws_1", fromAgent="eden", toAgent="ruda"),
                 line("a2a.response", T0 + 4000, "ruda", workSessionId="ws_1", fromAgent="ruda", toAgent="eden"),
                 # Arrives last but is older: it must not become the session's last event.
                 line("task.progress", T0 + 500, workSessionId="ws_1", outcome="halfway"),
                 line("system.heartbeat", T0 + 5000, "bom"))  # no session
    session = await sessions.get_session(db, clock, "ws_1")
    assert (session.event_count, session.thread_count) == (6, 3)
    assert session.agents == ("eden", "ruda", "seum")
    assert (session.first_ts_ms, session.last_ts_ms) == (T0, T0 + 4000)
    assert (session.last_event_type, session.last_outcome) == ("a2a.response", "ok")
    assert session.status is SessionState.ACTIVE
    assert session.category == "infra_ops"  # "deploy", from the built-in keyword rules
    threads = {t.id: t for t in session.threads}
    assert set(threads) == {"conv:c1", "pair:eden|ruda", "agent:eden"}
    conv = threads["conv:c1"]
    assert (conv.conversation, conv.from_agent, conv.to_agent, conv.event_count) == ("c1", "eden", "seum", 2)
    assert threads["pair:eden|ruda"].event_count == 2  # both directions are one thread
    assert threads["agent:eden"].last_outcome == "halfway"
    assert [t.id for t in session.threads][0] == "pair:eden|ruda"  # most recent first
    assert session.as_dict()["threads"][0]["conversation_id"] is None
    await consistent(db)
    assert await sessions.count_sessions(db, clock) == 1
    assert await events.count_events(db) == 7


async def test_incremental_batches_equal_one_batch(db: Database, clock, tmp_path: Path) -> None:
    lines = [line("a2a.send", T0 + (i * 7919) % 20_000, f"a{i % 4}", workSessionId=f"ws_{i % 3}",
                  conversationId=f"c{i % 5}" if i % 2 else None, fromAgent=f"a{i % 4}", toAgent=f"a{(i + 1) % 4}",
                  outcome=("ok" if i % 3 == 0 else None), message="deploy" if i % 4 == 0 else "test it")
             for i in range(60)]
    path = tmp_path / "e.ndjson"
    await ingest(db, clock, path, *lines, batch_lines=1)  # one event per transaction
    other = await Database.open(tmp_path / "other.db")  # SQLite: on PostgreSQL, a comparison across backends
    try:
        await ingest(other, clock, tmp_path / "f.ndjson", *lines)  # one transaction
        assert await session_oracle.stored_session_summaries(db) == await session_oracle.stored_session_summaries(other)
    finally:
        await other.close()
    await consistent(db)


async def test_status_follows_the_time_since_the_last_event(db: Database, clock, tmp_path: Path) -> None:
    now_ms = int(NOW * 1000)
    await ingest(db, clock, tmp_path / "e.ndjson",
                 line("a2a.send", now_ms - 1 * MINUTE, workSessionId="ws_active"),
                 line("a2a.send", now_ms - 30 * MINUTE, workSessionId="ws_quiet"),
                 line("a2a.send", now_ms - 120 * MINUTE, workSessionId="ws_archived"))
    listed = await sessions.list_sessions(db, clock)
    assert [(s.id, s.status) for s in listed] == [("ws_active", SessionState.ACTIVE),
                                                  ("ws_quiet", SessionState.QUIET),
                                                  ("ws_archived", SessionState.ARCHIVED)]
    for state in SessionState:
        page = await sessions.list_sessions(db, clock, status=state)
        assert [s.status for s in page] == [state]
        assert await sessions.count_sessions(db, clock, status=state.value.lower()) == 1
    assert await sessions.counts_by_status(db, clock) == {s: 1 for s in SessionState}
    clock.advance(10 * 60)  # ten minutes later the active one is quiet
    assert await sessions.counts_by_status(db, clock) == {SessionState.ACTIVE: 0, SessionState.QUIET: 2,
                                                         SessionState.ARCHIVED: 1}
    tight = SessionThresholds(active_seconds=60, quiet_seconds=600)
    assert (await sessions.get_session(db, clock, "ws_active", thresholds=tight)).status is SessionState.ARCHIVED
    with pytest.raises(UsageError, match="unknown session status"):
        await sessions.list_sessions(db, clock, status="sleepy")


def test_threshold_boundaries() -> None:
    limits = SessionThresholds()
    last = 1_000_000_000_000
    now = last / 1000
    assert limits.status(last, now + 299.999) is SessionState.ACTIVE
    assert limits.status(last, now + 300) is SessionState.QUIET
    assert limits.status(last, now + 3599.999) is SessionState.QUIET
    assert limits.status(last, now + 3600) is SessionState.ARCHIVED
    assert limits.status(last + 60_000, now) is SessionState.ACTIVE  # an event from the future


def test_thresholds_from_config() -> None:
    assert SessionThresholds.from_config({}) == SessionThresholds(300, 3600)
    assert SessionThresholds.from_config({"active_seconds": 60}) == SessionThresholds(60, 3600)
    for bad, message in (({"active_seconds": 0}, "positive"), ({"quiet_seconds": "1h"}, "positive"),
                         ({"active_seconds": 600, "quiet_seconds": 60}, "not be less"),
                         ({"idle": 5}, "unknown key"), ([], "must be a table")):
        with pytest.raises(Exception, match=message) as info:
            SessionThresholds.from_config(bad)  # type: ignore[arg-type]
        assert type(info.value).__name__ == "ConfigError" and "\n" not in str(info.value)


async def test_search_category_filter_and_paging(db: Database, clock, tmp_path: Path) -> None:
    base = int(NOW * 1000)
    await ingest(db, clock, tmp_path / "e.ndjson", *[
        line("a2a.send", base - i * 1000, f"agent{i}", workSessionId=f"ws_{i:02d}",
             message="Deploy it" if i % 2 else "Write the docs") for i in range(12)])
    assert await sessions.count_sessions(db, clock, search="agent1") == 3  # agent1, agent10, agent11
    assert await sessions.count_sessions(db, clock, search="infra") == 6
    assert await sessions.count_sessions(db, clock, category="docs_knowledge") == 6
    first = await sessions.list_sessions(db, clock, limit=5)
    second = await sessions.list_sessions(db, clock, limit=5, offset=5)
    assert [s.id for s in first + second] == [f"ws_{i:02d}" for i in range(10)]


async def test_operator_category_override(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    await ingest(db, clock, path, line("a2a.send", T0, workSessionId="ws_1", message="deploy now"))
    clock.advance(5)
    session = await sessions.override_category(db, clock, "ws_1", "legal_compliance", "mina")
    assert (session.category, session.category_source, session.auto_category) == ("legal_compliance", "override",
                                                                                   "infra_ops")
    assert (session.override_by, session.override_at) == ("mina", NOW + 5)
    await ingest(db, clock, path, line("a2a.send", T0 + 1, workSessionId="ws_1", message="write the guide"))
    session = await sessions.get_session(db, clock, "ws_1")
    assert session.category == "legal_compliance" and session.event_count == 2  # kept as events arrive
    assert await sessions.count_sessions(db, clock, category="legal_compliance") == 1
    cleared = await sessions.override_category(db, clock, "ws_1", None, "mina")
    # Equal confidence: the later event's category is the session's.
    assert (cleared.category, cleared.category_source) == ("docs_knowledge", "events")
    with pytest.raises(NotFound):
        await sessions.override_category(db, clock, "ws_nope", "x", "mina")
    with pytest.raises(UsageError):
        await sessions.override_category(db, clock, "ws_1", "x", " ")
    with pytest.raises(NotFound):
        await sessions.get_session(db, clock, "ws_nope")


async def test_events_since_and_session_events(db: Database, clock, tmp_path: Path) -> None:
    await ingest(db, clock, tmp_path / "e.ndjson", *[
        line("a2a.send", T0 + i, workSessionId="ws_a" if i % 2 else "ws_b", message=f"m{i}") for i in range(10)])
    everything = await events.events_since(db, 0, 100)
    assert [e.id for e in everything] == list(range(1, 11))
    assert [e.id for e in await events.events_since(db, 7, 100)] == [8, 9, 10]
    assert [e.id for e in await events.events_since(db, 0, 3)] == [1, 2, 3]
    assert [e.id for e in await events.events_since(db, 0, 100, session_id="ws_a")] == [2, 4, 6, 8, 10]
    newest = await sessions.session_events(db, "ws_a", 2)
    assert [e.id for e in newest] == [10, 8]
    assert [e.id for e in await sessions.session_events(db, "ws_a", 10, before_id=8)] == [6, 4, 2]
    event = everything[0]
    assert (event.type, event.agent_id, event.session_id, event.thread_key) == ("a2a.send", "eden", "ws_b", "agent:eden")
    assert event.data == {"message": "m0", "workSessionId": "ws_b"} and event.ts == (T0) / 1000
    assert event.as_dict()["ts_ms"] == T0 and len(event.hash) == 32
    assert await events.latest_event_id(db) == 10
    with pytest.raises(UsageError):
        await events.events_since(db, 0, 0)


async def test_retention_deletes_old_events_and_keeps_session_summaries(db: Database, clock, tmp_path: Path) -> None:
    day = 86_400_000
    now_ms = int(NOW * 1000)
    await ingest(db, clock, tmp_path / "e.ndjson",
                 *[line("a2a.send", now_ms - 100 * day + i, workSessionId="ws_old") for i in range(5)],
                 *[line("a2a.send", now_ms - 10 * day + i, workSessionId="ws_new") for i in range(3)])
    deleted = await events.delete_old_events(db, clock, 90, batch=2)  # several small transactions
    assert deleted == 5
    assert await events.count_events(db) == 3
    old = await sessions.get_session(db, clock, "ws_old")
    assert old.event_count == 5 and old.status is SessionState.ARCHIVED
    assert await sessions.session_events(db, "ws_old", 10) == []
    assert await events.delete_old_events(db, clock, 90) == 0
    with pytest.raises(UsageError):
        await events.delete_old_events(db, clock, 0)


async def test_configured_rules_come_before_the_defaults(db: Database, clock, tmp_path: Path) -> None:
    rules = EnrichRules.from_config([
        {"match": "type", "pattern": "a2a.send", "role": "conversation.lead"},
        {"match": "keyword", "field": "message", "keywords": ["deploy", "release"], "category": "release",
         "confidence": 0.8},
        {"match": "type", "pattern": "task.*", "category": "tasks", "confidence": 0.3},
    ])
    await ingest(db, clock, tmp_path / "e.ndjson",
                 line("a2a.send", T0, workSessionId="ws_1", message="Deploy on Friday"),
                 line("a2a.response", T0 + 1, workSessionId="ws_1", message="Deploy? Write the docs first"),
                 line("task.started", T0 + 2, workSessionId="ws_2", message="nothing to see"),
                 line("task.started", T0 + 3, workSessionId="ws_3", message="a regression test"),
                 rules=rules)
    got = [(e.role, e.category, e.confidence) for e in await events.events_since(db, 0, 10)]
    assert got == [("conversation.lead", "release", 0.8), ("conversation.reply", "release", 0.8),
                   ("task.lifecycle", "tasks", 0.3), ("task.lifecycle", "qa_validation", 0.6)]
    assert (await sessions.get_session(db, clock, "ws_1")).category == "release"


async def test_events_without_a_session_are_stored_but_in_no_session(db: Database, clock, tmp_path: Path) -> None:
    await ingest(db, clock, tmp_path / "e.ndjson",
                 line("milestone.sync_failed", T0, "eden", message="sync failed"),
                 line("a2a.send", T0 + 1, None, workSessionId=""),
                 line("a2a.send", T0 + 2, None, workSessionId=42, conversationId=7))
    stored = await events.events_since(db, 0, 10)
    assert [(e.session_id, e.thread_key, e.role) for e in stored] == [
        (None, None, "system"), (None, None, "conversation.main"), ("42", "conv:7", "conversation.main")]
    assert [s.id for s in await sessions.list_sessions(db, clock)] == ["42"]
    assert scalar(db.path, "SELECT count(*) FROM sessions") == 1


async def test_the_session_total_is_a_counter_kept_with_the_rows(db: Database, clock, tmp_path: Path,
                                                                db_path: Path | str) -> None:
    """The sessions pane's total comes from the counter, and it equals count(*) after inserts,
    upserts of stored sessions (batches that add events to them) and deletes."""
    path = tmp_path / "e.ndjson"
    await ingest(db, clock, path, *[line("a2a.send", T0 + i, workSessionId=f"ws_{i % 7}") for i in range(30)])
    assert await sessions.count_sessions(db, clock) == 7
    await ingest(db, clock, path, *[line("a2a.send", T0 + 100 + i, workSessionId=f"ws_{i}") for i in range(5, 12)])
    assert await sessions.count_sessions(db, clock) == 12  # ws_5, ws_6 were stored: upserted, not counted again
    assert_counters(db_path)
    async with db.transaction() as conn:  # whoever deletes sessions (threads go with them)
        await conn.execute("DELETE FROM sessions WHERE id IN ('ws_0', 'ws_1', 'ws_11')")
    assert await sessions.count_sessions(db, clock) == 9 == scalar(db_path, "SELECT count(*) FROM sessions")
    assert await sessions.count_sessions(db, clock, search="ws_1") == 1  # a filter still counts its matches
    assert_counters(db_path)
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM sessions")
    assert await sessions.count_sessions(db, clock) == 0
    assert_counters(db_path)
