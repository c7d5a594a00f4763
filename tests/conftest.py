"""Shared helpers for the engine tests: real databases, real processes, polls with deadlines.

Nothing here mocks the engine. Databases are real SQLite files under
``tmp_path``; processes are the installed ``queuetop`` console script; waits
are polls with a deadline, never a sleep standing in for synchronisation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from queuetop import cli
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.config import Config
from queuetop.engine.store import open_store as open_database
from queuetop.engine.store.sqlite.backend import Database
from queuetop.engine.store.postgres.backend import PostgresDatabase
from queuetop.engine.api import Queue

T = TypeVar("T")

# -- the counter invariant ------------------------------------------------------------


def assert_counters(db_path: str | os.PathLike[str]) -> None:
    """Every job's counters equal its chunks' statuses, and its status agrees with them.

    For every job: ``chunks_completed``, ``chunks_failed`` and
    ``chunks_cancelled`` equal the number of its chunks in that state,
    ``chunks_total`` equals its number of chunks, a finished job has no
    pending or processing chunk and an unfinished job has at least one.
    Read in one statement (one consistent snapshot), so it can run while
    engine processes are still writing; the SQL runs on both backends.
    """
    rows = query(
        db_path,
        """
        SELECT j.id, j.status, j.chunks_total, j.chunks_completed, j.chunks_failed, j.chunks_cancelled,
               count(c.id),
               sum(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END),
               sum(CASE WHEN c.status = 'failed' THEN 1 ELSE 0 END),
               sum(CASE WHEN c.status = 'cancelled' THEN 1 ELSE 0 END),
               sum(CASE WHEN c.status IN ('pending', 'processing') THEN 1 ELSE 0 END)
        FROM jobs j LEFT JOIN chunks c ON c.job_id = j.id
        GROUP BY j.id, j.status ORDER BY j.id
        """,
    )
    problems = []
    for (job_id, status, total, completed, failed, cancelled,
         n_chunks, n_completed, n_failed, n_cancelled, n_open) in rows:
        n_completed, n_failed, n_cancelled, n_open = (int(n or 0) for n in (n_completed, n_failed, n_cancelled, n_open))
        if (total, completed, failed, cancelled) != (n_chunks, n_completed, n_failed, n_cancelled):
            problems.append(
                f"job {job_id}: counters total/completed/failed/cancelled = {total}/{completed}/{failed}/{cancelled},"
                f" chunks say {n_chunks}/{n_completed}/{n_failed}/{n_cancelled}"
            )
        finished = status in ("completed", "partial", "failed", "cancelled")
        if finished and n_open:
            problems.append(f"job {job_id} is {status} but {n_open} chunk(s) have not ended")
        if not finished and not n_open:
            problems.append(f"job {job_id} is {status} but every chunk has ended")
    # The state counters the triggers keep agree with the rows (one statement: one snapshot).
    counted: dict[tuple[str, str], int] = {}
    actual: dict[tuple[str, str], int] = {}
    for source, kind, state, n in query(
        db_path,
        """
        SELECT 'rows', 'jobs', status, count(*) FROM jobs GROUP BY status
        UNION ALL SELECT 'rows', 'chunks', status, count(*) FROM chunks GROUP BY status
        UNION ALL SELECT 'rows', 'sessions', 'all', count(*) FROM sessions
        UNION ALL SELECT 'counts', kind, state, sum(n) FROM counts GROUP BY kind, state
        """,
    ):
        if int(n):
            (counted if source == "counts" else actual)[(kind, state)] = int(n)
    if counted != actual:
        problems.append(f"state counters {sorted(counted.items())} but the rows say {sorted(actual.items())}")
    assert not problems, "counter invariant broken:\n" + "\n".join(problems)


# -- polls with a deadline ------------------------------------------------------------


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
               message: str | Callable[[], str] = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(interval)  # the poll's pace, not a stand-in for synchronisation


async def async_wait_until(predicate: Callable[[], T | Awaitable[T]], timeout: float = 10.0,
                           interval: float = 0.02, message: str | Callable[[], str] = "condition") -> T:
    """:func:`wait_until` for the event loop; ``predicate`` may be sync or async."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        await asyncio.sleep(interval)


# -- plain reads ------------------------------------------------------------------


def is_postgres(db: str | os.PathLike[str]) -> bool:
    return str(db).startswith("postgresql://")


def query(db_path: str | os.PathLike[str], sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query, on a plain connection of the right backend.

    Tests write SQLite's ``?`` placeholders; on PostgreSQL they become ``%s``.
    """
    if is_postgres(db_path):
        import psycopg

        with psycopg.connect(str(db_path), autocommit=True) as conn:
            text = sql.replace("%", "%%").replace("?", "%s")
            return [tuple(row) for row in conn.execute(text, params or None).fetchall()]
    with closing(sqlite3.connect(db_path, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(db_path: str | os.PathLike[str], sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    rows = query(db_path, sql, params)
    return rows[0][0] if rows else None


# -- in-process engine fixtures ---------------------------------------------------------


# -- backends ---------------------------------------------------------------------------
#
# Every test that takes ``db_path`` runs twice: on a SQLite file and on a
# fresh schema of the PostgreSQL server named by $QUEUETOP_TEST_PG_DSN.
# Tests of SQLite's own machinery (files, pragmas, query plans) are marked
# ``sqlite_only`` and run once; those of PostgreSQL's own (its planner) are
# marked ``postgres_only``.

PG_DSN = os.environ.get("QUEUETOP_TEST_PG_DSN")
PG_SKIP_REASON = ("the PostgreSQL variant needs a server: set QUEUETOP_TEST_PG_DSN=postgresql://USER@HOST:PORT/DB "
                  "(.ci/run sets it when one answers on 127.0.0.1:5432)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: tests SQLite's own machinery; no PostgreSQL variant")
    config.addinivalue_line("markers", "postgres_only: tests PostgreSQL's own machinery; no SQLite variant")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ["sqlite"]
        elif metafunc.definition.get_closest_marker("postgres_only"):
            backends = ["postgres"]
        else:
            backends = ["sqlite", "postgres"]
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not PG_DSN:
        pytest.skip(PG_SKIP_REASON)
    return request.param


@contextmanager
def postgres_schema(prefix: str = "qt_test") -> Iterator[str]:
    """A URL to a new, empty schema on the test server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    assert PG_DSN, PG_SKIP_REASON
    schema = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def db_path(tmp_path: Path, backend: str) -> Iterator[Path | str]:
    """The database under test: a SQLite file path, or a postgresql:// URL."""
    if backend == "sqlite":
        yield tmp_path / "queuetop.db"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
async def db(db_path: Path | str) -> AsyncIterator[Database | PostgresDatabase]:
    """The engine's own connection to the database under test (no Queue around it)."""
    database = await open_database(db_path)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def fast_config(**engine: Any) -> Config:
    """Engine settings that make in-process workers react in milliseconds."""
    settings: dict[str, Any] = dict(poll_interval=0.02, heartbeat_interval=0.1, retry_base=0.02, retry_cap=0.1,
                                    grace_period=5.0, log_flush_interval=0.1)
    settings.update(engine)
    return Config().with_engine(**settings)


@pytest.fixture
async def queue(db_path: Path, clock: FrozenClock) -> AsyncIterator[Queue]:
    """A queue on a fresh database with a frozen clock; the counter invariant is checked at the end."""
    q = await Queue.open(db_path, clock=clock)
    try:
        yield q
    finally:
        await q.close()
    assert_counters(db_path)


# -- processes ------------------------------------------------------------------------


def queuetop_command() -> list[str]:
    """The installed ``queuetop`` console script (next to this interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("queuetop")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("queuetop")
    if found is None:
        raise AssertionError("the queuetop console script is not installed next to "
                             f"{sys.executable} nor on PATH")
    return [found]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUETOP_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(*args: str | os.PathLike[str], cwd: Path, input: str | None = None,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``queuetop ARGS...`` to completion and capture its output."""
    return subprocess.run([*queuetop_command(), *map(str, args)], cwd=cwd, env=subprocess_env(), input=input,
                          capture_output=True, text=True, timeout=timeout)


class Engine:
    """One ``queuetop --engine-only`` process, its stderr in a file."""

    def __init__(self, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"engine {self.pid} did not exit within {timeout:g}s; its log:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit status."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """Make sure the process is gone: terminate, wait a moment, kill."""
        if self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


class Engines:
    """Starts engine processes for a test and guarantees none outlives it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Engine] = []

    def start(self, db: Path | str, *args: str | os.PathLike[str], config: Path | None = None,
              cwd: Path | None = None) -> Engine:
        log_path = self.tmp_path / f"engine-{len(self.started)}.log"
        command = [*queuetop_command(), "--engine-only", "--db", str(db)]
        if config is not None:
            command += ["--config", str(config)]
        command += [str(a) for a in args]
        with open(log_path, "wb") as log_file:
            popen = subprocess.Popen(command, cwd=cwd or self.tmp_path, env=subprocess_env(), stdin=subprocess.DEVNULL,
                                     stdout=log_file, stderr=subprocess.STDOUT)
        engine = Engine(popen, log_path)
        self.started.append(engine)
        return engine

    def logs(self) -> str:
        return "\n".join(f"--- engine {e.pid} ---\n{e.log()}" for e in self.started)

    def kill_all(self) -> None:
        for engine in self.started:
            engine.kill()


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    group = Engines(tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def engine_refuses_config(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    """Start ``queuetop --engine-only`` in-process with ``text`` as its config; it must exit 2 with one line.

    Returns that line.
    """
    config = tmp_path / "queuetop.toml"
    config.write_text(text)
    engine_log = logging.getLogger("queuetop")
    handlers, level = list(engine_log.handlers), engine_log.level
    try:
        status = cli.main(["--engine-only", "--db", str(tmp_path / "q.db"), "--config", str(config)])
    finally:  # --engine-only installs a stderr handler; don't leave it to later tests
        engine_log.handlers[:], engine_log.level = handlers, level
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("queuetop: error: ")
    return err
