"""Making the TUI app on a fixture database, the same way for tests and screenshots."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from textual.pilot import Pilot

from queuetop.engine.model.clock import FrozenClock
from queuetop.tui.app import QueuetopApp

from conftest import postgres_schema
from tui_fixtures import NOW, add_alerts, build, fixture_config

DB_NAME = "queuetop.db"  # relative: the header shows it, so it must not vary


def fixture_copy(cache: Path, workdir: Path) -> Path:
    """A fresh copy of the fixture database in ``workdir`` (built once into ``cache``)."""
    source = cache / "fixture.db"
    if not source.exists():
        build(source)
    target = workdir / DB_NAME
    shutil.copyfile(source, target)
    return target


def queuetop_app(pilot: Pilot) -> QueuetopApp:
    """The pilot's app as the QueuetopApp it is (``Pilot.app`` is typed as any App)."""
    app = pilot.app
    assert isinstance(app, QueuetopApp)
    return app


def frozen_clock(app: QueuetopApp) -> FrozenClock:
    """The app's clock as the FrozenClock that :func:`make_app` gives it."""
    clock = app.queue.clock
    assert isinstance(clock, FrozenClock)
    return clock


def make_app(db: Path | str = DB_NAME, **kwargs: Any) -> QueuetopApp:
    """The app as a snapshot sees it: frozen clock, no engine, no animation, no blinking.

    ``db`` is a SQLite path or a postgresql:// URL, as ``--db`` takes it.
    """
    app = QueuetopApp(db if isinstance(db, Path) else str(db), fixture_config(), clock=FrozenClock(NOW), **kwargs)
    app.animation_level = "none"
    return app


# -- scenes: how to reach each screen (shared by the snapshots and screenshots/make.py) --

Scene = Callable[[Pilot], Awaitable[None]]


def steps(*keys: str, then: Scene | None = None, screen: str = "DashboardScreen",
          first: Scene | None = None) -> Scene:
    """Wait for the first data, run ``first``, press ``keys`` one by one letting each settle, then ``then``.

    Fails unless the app ends on ``screen`` (a scene that lost its way must not
    quietly snapshot the wrong screen).
    """

    async def run(pilot: Pilot) -> None:
        app = queuetop_app(pilot)
        await app.settle()
        if first is not None:
            await first(pilot)
        for key in keys:
            await pilot.press(key)
            await app.settle()
        if then is not None:
            await then(pilot)
        await pilot.pause()
        assert type(app.screen).__name__ == screen, f"ended on {type(app.screen).__name__}, not {screen}"

    return run


async def _ask_to_cancel(pilot: Pilot) -> None:
    await pilot.press("c")  # the action waits for the answer: nothing to settle
    await pilot.pause()


async def _add_alerts(pilot: Pilot) -> None:
    await add_alerts(queuetop_app(pilot).queue)


async def _lock_the_database(pilot: Pilot) -> None:
    app = queuetop_app(pilot)

    async def locked() -> int:
        raise sqlite3.OperationalError("database is locked")

    setattr(app.queue, "data_version", locked)  # an instance attribute over the method, for this scene
    assert app.live is not None
    assert not await app.live.cycle()
    await pilot.pause()


SCENES: dict[str, Scene] = {
    "dashboard": steps(),
    # Jobs 3 and 2 tagged, then the list filtered to "ads".
    "dashboard_tagged_filtered": steps("j", "j", "j", "j", "space", "j", "space", "slash", "a", "d", "s", "enter"),
    # Job 5 (third row), then its chunk 5: failed after four attempts.
    "job_detail": steps("j", "j", "enter", "j", "j", "j", "j", "j", screen="JobDetailScreen"),
    # The Work sessions pane (tab: from jobs to the pane below), its first session.
    "session_detail": steps("tab", "enter", screen="SessionDetailScreen"),
    "schedules": steps("s", screen="SchedulesScreen"),
    "queues": steps("u", screen="QueuesScreen"),
    "help": steps("question_mark", screen="HelpScreen"),
    "confirm": steps("j", "j", then=_ask_to_cancel, screen="ConfirmScreen"),
    # Chunk 5 of job 5: params, result, the whole error and its four failed attempts.
    "chunk_detail": steps("j", "j", "enter", "j", "j", "j", "j", "j", "enter", screen="ChunkDetailScreen"),
    # The newest event's whole payload; the first worker's held chunk and last errors.
    "event_detail": steps("4", "enter", screen="EventDetailScreen"),
    "worker_detail": steps("3", "enter", screen="WorkerDetailScreen"),
    "stale_banner": steps(then=_lock_the_database),
    # The newest alert (job 3 failed, two repeats): three delivery attempts, the webhook redacted.
    "alert_detail": steps("a", "enter", first=_add_alerts, screen="AlertDetailScreen"),
}


@pytest.fixture(scope="module")
def fixture_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture database, built once per test module."""
    return tmp_path_factory.mktemp("tui-fixture")


@pytest.fixture
def db(fixture_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the fixture database for one test, in its own working directory."""
    monkeypatch.chdir(tmp_path)
    return fixture_copy(fixture_cache, tmp_path)


@pytest.fixture
def any_db(backend: str, fixture_cache: Path, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | str]:
    """The fixture database on each backend: a SQLite copy, or the same scene built in a new PostgreSQL schema."""
    monkeypatch.chdir(tmp_path)
    if backend == "sqlite":
        yield fixture_copy(fixture_cache, tmp_path)
        return
    with postgres_schema("qt_tui") as url:
        build(url)
        yield url
