"""The events, sessions and demo-events commands, run as the installed console script."""

from __future__ import annotations

import json
import sqlite3
import signal
import subprocess
import time
from pathlib import Path

from conftest import Engines, is_postgres, queuetop_command, run_cli, scalar, subprocess_env, wait_until, write_config


def events_stored(db: Path | str) -> int:
    """How many events are stored; 0 until the engine has made the database."""
    if not is_postgres(db):
        if not Path(db).exists():  # a plain connect would create it
            return 0
        try:
            return scalar(db, "SELECT count(*) FROM events")
        except sqlite3.OperationalError:  # the engine has made the file but not yet its schema
            return 0
    import psycopg

    try:
        return scalar(db, "SELECT count(*) FROM events")
    except psycopg.errors.UndefinedTable:
        return 0


def test_demo_events_into_a_running_engine_then_the_reads(db_path: Path | str, tmp_path: Path,
                                                           engines: Engines) -> None:
    db = db_path
    done = run_cli("demo-events", "e.ndjson", "--rate", "0", "--count", "120", "--seed", "2", "--db", db,
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "120 events appended to e.ndjson"
    config = write_config(tmp_path / "queuetop.toml", """
[events]
paths = ["e.ndjson", "missing-*.ndjson"]
[events.thresholds]
active_seconds = 600
[[events.rules]]
match = "keyword"
keywords = ["goal", "배포"]
category = "release"
confidence = 0.9
""")
    engine = engines.start(db, config=config)
    wait_until(lambda: events_stored(db) == 120, timeout=20,
               message=lambda: engines.logs())
    assert engine.stop() == 0

    listed = run_cli("events", "--db", db, "--since", "0", "--limit", "500", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    assert [e["id"] for e in events] == list(range(1, 121))
    assert "release" in {e["category"] for e in events}  # the configured rule was used

    sessions = json.loads(run_cli("sessions", "--db", db, "--json", "--limit", "500", cwd=tmp_path).stdout)
    assert sum(s["event_count"] for s in sessions) == scalar(db, "SELECT count(*) FROM events WHERE session_id IS NOT NULL")
    assert {s["status"] for s in sessions} == {"ACTIVE"}  # written just now, and 600 s thresholds from the config

    table = run_cli("sessions", "--db", db, "--status", "active", "--limit", "3", cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == ["SESSION", "STATUS", "CATEGORY"]
    assert len(table.stdout.splitlines()) == 4

    one = sessions[0]["id"]
    mine = json.loads(run_cli("events", "--db", db, "--session", one, "--json", cwd=tmp_path).stdout)
    assert {e["session_id"] for e in mine} == {one} and len(mine) == sessions[0]["event_count"]

    stats = json.loads(run_cli("events", "--db", db, "--stats", "--json", cwd=tmp_path).stdout)
    assert [(Path(s["path"]).name, s["events_stored"], s["bad_lines"]) for s in stats] == [("e.ndjson", 120, 0)]
    text = run_cli("events", "--db", db, "--stats", cwd=tmp_path).stdout
    assert "e.ndjson" in text and "present" in text


def test_events_follow_prints_what_arrives(db_path: Path | str, tmp_path: Path, engines: Engines) -> None:
    db = db_path
    run_cli("demo-events", "e.ndjson", "--rate", "0", "--count", "5", "--db", db, cwd=tmp_path)
    # a read command never creates the database: make it before following it
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    follow = subprocess.Popen([*queuetop_command(), "events", "--db", str(db), "--follow", "--json", "--since", "0"],
                              cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        engines.start(db, "--events", "e.ndjson")
        seen = []
        deadline = time.monotonic() + 20
        while len(seen) < 5 and time.monotonic() < deadline:
            line = follow.stdout.readline()  # type: ignore[union-attr]
            if line:
                seen.append(json.loads(line))
        assert [e["id"] for e in seen] == [1, 2, 3, 4, 5]
        run_cli("demo-events", "e.ndjson", "--rate", "0", "--count", "3", "--seed", "9", "--db", db, cwd=tmp_path)
        while len(seen) < 8 and time.monotonic() < deadline:
            line = follow.stdout.readline()  # type: ignore[union-attr]
            if line:
                seen.append(json.loads(line))
        assert [e["id"] for e in seen] == list(range(1, 9))
    finally:
        follow.send_signal(signal.SIGINT)
        assert follow.wait(10) == 130


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["sessions", "--status", "sleepy"], ["events", "--limit", "0"],
                 ["demo-events", "x.ndjson", "--count", "-1"]):
        done = run_cli(*args, "--db", tmp_path / "q.db", cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("queuetop: error:")


def test_demo_events_writes_the_file_only(tmp_path: Path) -> None:
    """demo-events needs no database: it neither opens nor creates one."""
    db = tmp_path / "untouched.db"
    done = run_cli("demo-events", "e.ndjson", "--rate", "0", "--count", "4", "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "e.ndjson").read_bytes().splitlines()) == 4
    assert not db.exists()
