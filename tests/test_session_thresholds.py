"""[events.thresholds] classifies sessions the same way in the TUI and in `queuetop sessions`.

Both read sessions through Queue, which takes the thresholds from the config;
the TUI once used the built-in defaults and disagreed with the CLI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest

from conftest import async_wait_until, run_cli, write_config
from queuetop.engine.api import Queue, SessionState
from queuetop.engine.config import load
from queuetop.engine.events.tail import Tailer
from queuetop.engine.model.clock import FrozenClock
from queuetop.tui.app import QueuetopApp
from queuetop.tui.widgets.sessions_table import SessionsTable

# Ages of each session's last event. With the defaults (300 s active, 3600 s
# quiet) they are ACTIVE, QUIET and ARCHIVED; with the config's thresholds
# below they are ACTIVE, ACTIVE and QUIET.
AGES = {"fresh": 30, "ten-minutes": 600, "seventy-minutes": 4200}
CONFIGURED = {"fresh": "ACTIVE", "ten-minutes": "ACTIVE", "seventy-minutes": "QUIET"}
DEFAULTS = {"fresh": "ACTIVE", "ten-minutes": "QUIET", "seventy-minutes": "ARCHIVED"}


async def _store_sessions(db: Path | str, events: Path, now: float) -> None:
    with open(events, "wb") as out:
        for session, age in AGES.items():
            out.write(orjson.dumps({"type": "message", "agentId": "eden", "ts": int((now - age) * 1000),
                                    "data": {"workSessionId": session, "message": "hi"}}) + b"\n")
    queue = await Queue.open(db)
    try:
        tailer = Tailer(queue.db, FrozenClock(now), [str(events)])
        try:
            assert await tailer.poll_once() == len(AGES)
        finally:
            tailer.close()
    finally:
        await queue.close()


async def _tui_statuses(db: Path | str, config_path: Path | None) -> dict[str, str]:
    app = QueuetopApp(db, load(config_path) if config_path else None, live=False)
    async with app.run_test(size=(160, 50)):
        table = app.screen.query_one(SessionsTable)
        await async_wait_until(lambda: len(table.records) == len(AGES), timeout=20,
                               message="the sessions pane to load")
        return {s.id: s.status for s in table.records}


async def test_tui_and_cli_classify_sessions_alike(db_path: Path | str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    await _store_sessions(db_path, tmp_path / "events.ndjson", time.time())
    config = write_config(tmp_path / "queuetop.toml", "[events.thresholds]\nactive_seconds = 1000\n"
                                                      "quiet_seconds = 5000\n")

    listed = run_cli("sessions", "--db", db_path, "--config", config, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    cli = {s["id"]: s["status"] for s in json.loads(listed.stdout)}
    assert cli == CONFIGURED
    assert await _tui_statuses(db_path, config) == CONFIGURED

    # Without the table both fall back to the defaults, still alike (run
    # elsewhere: the CLI reads ./queuetop.toml by default).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain = run_cli("sessions", "--db", db_path, "--json", cwd=elsewhere)
    assert plain.returncode == 0, plain.stderr
    assert {s["id"]: s["status"] for s in json.loads(plain.stdout)} == DEFAULTS
    assert await _tui_statuses(db_path, None) == DEFAULTS
    # The TUI once took a postgresql:// URL for a file name and made a SQLite
    # database under ./postgresql:/...: the URL must reach PostgreSQL.
    assert not (tmp_path / "postgresql:").exists()


async def test_queue_reads_thresholds_from_config(db_path: Path | str, tmp_path: Path) -> None:
    now = time.time()
    await _store_sessions(db_path, tmp_path / "events.ndjson", now)
    config = load(write_config(tmp_path / "queuetop.toml", "[events.thresholds]\nactive_seconds = 1000\n"
                                                           "quiet_seconds = 5000\n"))
    async with await Queue.open(db_path, config) as queue:
        assert queue.thresholds.active_seconds == 1000
        assert {s.id: s.status.value for s in await queue.sessions()} == CONFIGURED
        counts = await queue.session_counts()
        assert counts == {SessionState.ACTIVE: 2, SessionState.QUIET: 1, SessionState.ARCHIVED: 0}
        assert (await queue.session("seventy-minutes")).status is SessionState.QUIET
        assert await queue.count_sessions(status="ACTIVE") == 2
