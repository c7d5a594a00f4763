"""Faults that used to stop the engine, fed to real `queuetop --engine-only` processes on both backends:
hostile handler output, hung sync handlers, signals while the database fails.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import Engines, assert_counters, is_postgres, query, run_cli, scalar, wait_until

pytestmark = pytest.mark.slow

HOSTILE = r'''
import time


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")


class Unrepresentable(Exception):
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr either")


def run(ctx):
    kind = ctx.params["kind"]
    if kind == "control_chars":
        ctx.log.info("log \x1b[31mred\x1b[0m \x07 bell\r\nsecond line")
        raise ValueError("err \x1b[2J\x1b[31mred\r\nnext line\x9b")
    if kind == "exit":
        raise SystemExit(3)
    if kind == "interrupt":
        raise KeyboardInterrupt()
    if kind == "base":
        raise BaseException("base")
    if kind == "nul_error":
        raise ValueError("bad\x00byte")
    if kind == "surrogate_error":
        raise ValueError("half a pair: \udc80 here")
    if kind == "huge_error":
        raise ValueError("E" * 5_000_000)
    if kind == "unprintable":
        raise Unprintable()
    if kind == "unrepresentable":
        raise Unrepresentable()
    if kind == "nul_result":
        return {"text": "a\x00b", "k\x00": 1}
    if kind == "surrogate_result":
        return {"text": "\ud800 lone"}
    if kind == "nan_result":
        return {"value": float("nan")}
    if kind == "object_result":
        return {"when": object()}
    if kind == "huge_result":
        return {"blob": "x" * 3_000_000}
    if kind == "hostile_logs":
        ctx.log.info("log\x00with nul")
        ctx.log.info("lone \udcff surrogate")
        ctx.log.info("L" * 2_000_000)
        ctx.log.info(Unprintable())
        ctx.log.log("nonsense-level", "an unknown level")
        return "logged"
    if kind == "hang":
        while True:            # ignores ctx.cancelled(): only abandoning the thread helps
            time.sleep(0.05)
    return "ok"
'''

KINDS = {
    # kind: (final chunk status, a fragment its error or result must show)
    "nul_error": ("failed", "bad\\x00byte"),
    "surrogate_error": ("failed", "half a pair: \ufffd here"),
    "huge_error": ("failed", "more characters cut]"),
    "unprintable": ("failed", "Unprintable: Unprintable()"),
    "unrepresentable": ("failed", "Unrepresentable: (its message could not be shown)"),
    "nul_result": ("completed", "a\\\\x00b"),
    "surrogate_result": ("completed", "\ufffd lone"),
    "nan_result": ("failed", "cannot be stored as JSON"),
    "object_result": ("failed", "Object of type object is not JSON serializable"),
    "huge_result": ("completed", "more characters cut]"),
    "hostile_logs": ("completed", "logged"),
    "plain": ("completed", "ok"),
}


ASYNC_HOSTILE = r'''
import asyncio


async def run(ctx):
    kind = ctx.params["kind"]
    if kind == "exit":
        raise SystemExit(4)
    if kind == "interrupt":
        raise KeyboardInterrupt()
    if kind == "base":
        raise BaseException("base")
    if kind == "cancelled":
        raise asyncio.CancelledError()   # raised by the handler itself: nobody cancelled it
    return "ok"
'''


def project(folder: Path, engine: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile.py").write_text(HOSTILE)
    (folder / "hostile_async.py").write_text(ASYNC_HOSTILE)
    (folder / "queuetop.toml").write_text(
        f'[engine]\npoll_interval = 0.05\nretry_base = 0.05\nretry_cap = 0.1\nlog_flush_interval = 0.2\n{engine}\n'
        '[handlers]\n"t.hostile" = "hostile:run"\n"t.hostile_async" = "hostile_async:run"\n')
    return folder


def submit(db: Path | str, cwd: Path, *args: str) -> int:
    result = run_cli("submit", *args, "--db", db, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["job_id"]


def test_hostile_handler_output_ends_each_chunk_readably(tmp_path: Path, db_path: Path | str,
                                                         engines: Engines) -> None:
    """Every hostile chunk ends completed or failed with a readable error; none blocks the others."""
    folder = project(tmp_path / "proj")
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps([{"kind": k} for k in KINDS] + [{"kind": "plain"}] * 40))
    job = submit(db_path, tmp_path, "t.hostile", "--chunks", str(chunks), "--max-retries", "1")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: scalar(db_path, f"SELECT status FROM jobs WHERE id = {job}") in ("partial", "failed"),
               timeout=60, message=lambda: f"{query(db_path, 'SELECT chunk_index, status FROM chunks')}\n{engine.log()}")
    shown = json.loads(run_cli("chunks", str(job), "--json", "--db", db_path, cwd=tmp_path).stdout)
    assert len(shown) == len(KINDS) + 40
    for chunk, (kind, (status, fragment)) in zip(shown, KINDS.items()):
        text = chunk["last_error"] if status == "failed" else json.dumps(chunk["result"], ensure_ascii=False)
        assert chunk["status"] == status, (kind, chunk)
        assert fragment in text, (kind, text[:300])
        assert len(text or "") < 40_000, kind
    assert {c["status"] for c in shown[len(KINDS):]} == {"completed"}
    # the plain table prints too, every error readable on one line
    table = run_cli("chunks", str(job), "--db", db_path, cwd=tmp_path)
    assert table.returncode == 0 and "\x00" not in table.stdout
    # hostile log lines were stored, cleaned and cut
    wait_until(lambda: scalar(db_path, f"SELECT count(*) FROM task_logs WHERE job_id = {job}") >= 5, timeout=10)
    logs = [row[0] for row in query(db_path, f"SELECT message FROM task_logs WHERE job_id = {job} ORDER BY id")]
    assert "log\\x00with nul" in logs and "lone \ufffd surrogate" in logs
    assert any(m.endswith("more characters cut]") and len(m) < 10_000 for m in logs)
    assert any("cannot be shown as text" in m for m in logs)
    assert engine.stop() == 0, engine.log()
    assert_counters(db_path)


def test_a_handler_that_raises_exit_or_interrupt_fails_its_chunk_not_the_engine(
        tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """sys.exit(), KeyboardInterrupt, a bare BaseException or a CancelledError nobody asked for, raised by a
    handler (sync or async), fail that chunk; the engine goes on and the chunks beside it complete.

    These used to end the engine process (SystemExit, KeyboardInterrupt) with every chunk in flight left
    processing, or to leave the chunk processing until the stuck-chunk rescue (BaseException, CancelledError).
    """
    folder = project(tmp_path / "proj")
    plain = [{"kind": "plain"}] * 20
    sync = submit(db_path, tmp_path, "t.hostile", "--chunks",
                  str(_write(tmp_path / "sync.json", [{"kind": k} for k in ("exit", "interrupt", "base")] + plain)),
                  "--max-retries", "0")
    kinds = ("exit", "interrupt", "base", "cancelled")
    async_job = submit(db_path, tmp_path, "t.hostile_async", "--chunks",
                       str(_write(tmp_path / "async.json", [{"kind": k} for k in kinds] + plain)), "--max-retries", "0")
    engine = engines.start(db_path, cwd=folder)
    ended = f"SELECT count(*) FROM jobs WHERE id IN ({sync}, {async_job}) AND status = 'partial'"
    wait_until(lambda: scalar(db_path, ended) == 2, timeout=30,
               message=lambda: f"{query(db_path, 'SELECT job_id, chunk_index, status, last_error FROM chunks')}\n"
                               f"{engine.log()}")
    errors = dict(query(db_path, f"SELECT job_id * 100 + chunk_index, last_error FROM chunks "
                                 f"WHERE status = 'failed' ORDER BY job_id, chunk_index"))
    assert errors == {sync * 100: "SystemExit: 3", sync * 100 + 1: "KeyboardInterrupt",
                      sync * 100 + 2: "BaseException: base", async_job * 100: "SystemExit: 4",
                      async_job * 100 + 1: "KeyboardInterrupt", async_job * 100 + 2: "BaseException: base",
                      async_job * 100 + 3: "CancelledError"}, errors
    assert scalar(db_path, "SELECT count(*) FROM chunks WHERE status = 'completed'") == 40
    assert engine.popen.poll() is None, engine.log()  # still running
    assert engine.stop() == 0, engine.log()
    assert "never retrieved" not in engine.log()
    assert_counters(db_path)


def test_control_characters_from_a_handler_reach_no_terminal(tmp_path: Path, db_path: Path | str,
                                                             engines: Engines) -> None:
    """An error or log line with ESC sequences, CR or LF is stored as it came but printed escaped, on one
    line, by `chunks`, `logs` and the engine's stderr: it used to clear the operator's screen and split
    the line."""
    folder = project(tmp_path / "proj")
    job = submit(db_path, tmp_path, "t.hostile", "--chunks", str(_write(tmp_path / "c.json", [{"kind": "control_chars"}])),
                 "--max-retries", "0")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: scalar(db_path, f"SELECT status FROM jobs WHERE id = {job}") == "failed", timeout=30,
               message=engine.log)
    wait_until(lambda: scalar(db_path, f"SELECT count(*) FROM task_logs WHERE job_id = {job}") == 1, timeout=10)
    assert engine.stop() == 0, engine.log()
    assert "\x1b" in scalar(db_path, f"SELECT last_error FROM chunks WHERE job_id = {job}")  # stored as it came
    chunks = run_cli("chunks", str(job), "--db", db_path, cwd=tmp_path).stdout
    logs = run_cli("logs", str(job), "--db", db_path, cwd=tmp_path).stdout
    for shown in (chunks, logs, engine.log()):
        assert not any(c in shown for c in "\x1b\r\x07\x9b"), repr(shown)
    assert r"ValueError: err \x1b[2J\x1b[31mred\r\nnext line\x9b" in chunks, chunks
    assert r"log \x1b[31mred\x1b[0m \x07 bell\r\nsecond line" in logs, logs
    failed_line = [line for line in engine.log().splitlines() if "failed (attempt 1)" in line]
    assert len(failed_line) == 1 and failed_line[0].endswith(r"next line\x9b"), engine.log()


def test_a_hung_sync_handler_gives_its_slot_back(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """Two handlers that never return, concurrency 2, 1 s timeout: a quick job beside them still finishes."""
    folder = project(tmp_path / "proj", "concurrency = 2\nheartbeat_interval = 0.2")
    (tmp_path / "hang.json").write_text(json.dumps([{"kind": "hang"}, {"kind": "hang"}]))
    (tmp_path / "quick.json").write_text(json.dumps([{"kind": "plain"}] * 20))
    hung = submit(db_path, tmp_path, "t.hostile", "--chunks", str(tmp_path / "hang.json"), "--timeout", "1",
                  "--max-retries", "0", "--priority", "5")
    quick = submit(db_path, tmp_path, "t.hostile", "--chunks", str(tmp_path / "quick.json"), "--timeout", "1")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: scalar(db_path, f"SELECT status FROM jobs WHERE id = {quick}") == "completed", timeout=30,
               message=lambda: f"{query(db_path, 'SELECT job_id, chunk_index, status, last_error FROM chunks')}\n"
                               f"{engine.log()}")
    assert scalar(db_path, f"SELECT status FROM jobs WHERE id = {hung}") == "failed"
    assert query(db_path, f"SELECT DISTINCT last_error FROM chunks WHERE job_id = {hung}") == [("timed out after 1s",)]
    # no quick chunk timed out waiting for a thread
    assert scalar(db_path, f"SELECT count(*) FROM chunk_attempts a JOIN chunks c ON c.id = a.chunk_id "
                           f"WHERE c.job_id = {quick}") == 0
    shown: list[str] = []

    def workers_say_two_abandoned() -> bool:
        result = run_cli("workers", "--db", db_path, cwd=tmp_path)
        shown[:] = [result.stdout + result.stderr]
        return "2 abandoned threads" in result.stdout

    wait_until(workers_say_two_abandoned, timeout=15,
               message=lambda: f"{shown}\n{query(db_path, 'SELECT * FROM workers')}\n{engine.log()}")
    started = time.monotonic()
    assert engine.stop(timeout=15) == 0, engine.log()  # hung threads do not keep the process alive
    assert time.monotonic() - started < 10


def test_sigterm_ends_within_grace_plus_five_while_the_database_is_locked(tmp_path: Path, db_path: Path | str,
                                                                         engines: Engines) -> None:
    """A write lock held by another process: the engine cannot write, yet it exits in time."""
    folder = project(tmp_path / "proj", "grace_period = 1")
    job = submit(db_path, tmp_path, "t.hostile", "--chunks", str(_write(tmp_path / "c.json", [{"kind": "plain"}] * 5)))
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: scalar(db_path, f"SELECT status FROM jobs WHERE id = {job}") == "completed", timeout=30,
               message=engine.log)
    with _locked(db_path):
        engine.signal(signal.SIGTERM)
        started = time.monotonic()
        code = engine.wait(timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 1 + 5, f"took {elapsed:.1f}s; log:\n{engine.log()}"
    assert code in (0, 1), engine.log()


@pytest.mark.sqlite_only
def test_an_engine_started_under_a_lock_held_past_busy_timeout_waits_and_starts(
        tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """Another process holds the write lock longer than SQLite's busy_timeout (10 s): the engine's
    first writes wait and say so, instead of a traceback; when the lock goes, it starts and drains."""
    folder = project(tmp_path / "proj")
    job = submit(db_path, tmp_path, "t.hostile", "--chunks", str(_write(tmp_path / "c.json", [{"kind": "plain"}] * 3)))
    with _locked(db_path):
        engine = engines.start(db_path, cwd=folder)
        wait_until(lambda: "the database refused the write" in engine.log(), timeout=30, message=engine.log)
        assert engine.popen.poll() is None, engine.log()
        assert "Traceback" not in engine.log()
    wait_until(lambda: scalar(db_path, f"SELECT status FROM jobs WHERE id = {job}") == "completed", timeout=30,
               message=engine.log)
    assert engine.stop() == 0, engine.log()
    assert "the database answered; starting" in engine.log()


def test_a_second_signal_exits_at_once(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    folder = project(tmp_path / "proj", "grace_period = 30")
    submit(db_path, tmp_path, "t.hostile", "--chunks", str(_write(tmp_path / "c.json", [{"kind": "hang"}])),
           "--timeout", "600")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: scalar(db_path, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 1, timeout=30,
               message=engine.log)
    engine.signal(signal.SIGTERM)
    wait_until(lambda: "again to exit at once" in engine.log(), timeout=10, message=engine.log)
    started = time.monotonic()
    engine.signal(signal.SIGINT)
    assert engine.wait(timeout=5) == 128 + signal.SIGINT
    assert time.monotonic() - started < 3
    assert "received SIGINT again: exiting now" in engine.log()


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


class _locked:
    """Hold the database's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK every queue table)."""

    def __init__(self, db: Path | str) -> None:
        self.db = db

    def __enter__(self) -> "_locked":
        if is_postgres(self.db):
            import psycopg

            self.conn = psycopg.connect(str(self.db))
            self.conn.execute("LOCK TABLE chunks, jobs, workers, task_logs IN ACCESS EXCLUSIVE MODE")
        else:
            self.conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
            self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback() if is_postgres(self.db) else self.conn.execute("ROLLBACK")
        self.conn.close()


async def test_a_batch_the_database_refuses_is_split_and_only_the_poisoned_chunk_fails(
        db_path: Path | str) -> None:
    """Bypassing the cleaning, a NUL reaches settle: the good outcome lands, the bad one fails its chunk."""
    from queuetop.engine.api import Queue
    from queuetop.engine.model.clock import FrozenClock
    from queuetop.engine.services import claims
    from queuetop.engine.services.settler import Settler

    queue = await Queue.open(db_path, clock=FrozenClock())
    try:
        job = (await queue.submit("x", chunks=[{}, {}, {}])).job_id
        batch, _ = await claims.claim(queue.db, "w", 3, queue.clock.now())
        good, bad, good2 = batch
        poisoned = claims.failure(bad, "w", "ok", permanent=True, max_retries=0, now=queue.clock.now())
        poisoned = claims.Outcome(**{**poisoned.__dict__, "error": "raw\x00nul"})  # as if cleaning were skipped
        settler = Settler(queue, name=lambda: "w", next_claim=lambda: None, started=lambda *_: None,
                          wake=lambda: None)
        await settler.write([claims.success(good, "w", "fine", queue.clock.now()), poisoned,
                             claims.success(good2, "w", "fine", queue.clock.now())])
        chunks = {c.chunk_index: c for c in await queue.chunks(job)}
        assert chunks[0].status.value == chunks[2].status.value == "completed"
        assert chunks[1].status.value == "failed"
        if is_postgres(db_path):  # PostgreSQL cannot hold a NUL: the storage error is the chunk's error
            assert chunks[1].last_error.startswith("the database refused this chunk's outcome: ")
        assert (await queue.job(job)).status.value == "partial"
    finally:
        await queue.close()
    assert_counters(db_path)
