"""Snapshots of every TUI screen on a fixture database built by code.

The database comes from tests/tui_fixtures.py (frozen clock, fixed ids); the
app runs with the same frozen clock, no workers, no animation, at 160x50.
Each test drives the app inside ``run_before`` and waits with ``app.settle()``
(pending loads and one refresh cycle), never with a sleep.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tui_app import fixture_copy, make_app
from tui_fixtures import SIZE


@pytest.fixture(scope="module")
def fixture_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tui-fixture")


@pytest.fixture
def db(fixture_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return fixture_copy(fixture_cache, tmp_path)


def steps(*keys: str, then: Callable[[Pilot], Awaitable[None]] | None = None) -> Callable[[Pilot], Awaitable[None]]:
    """Wait for the first data, press ``keys`` one by one letting each settle, then ``then``."""

    async def run(pilot: Pilot) -> None:
        app = pilot.app
        await app.settle()  # type: ignore[attr-defined]
        for key in keys:
            await pilot.press(key)
            await app.settle()  # type: ignore[attr-defined]
        if then is not None:
            await then(pilot)
        await pilot.pause()

    return run


def test_dashboard(db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps())


def test_dashboard_tagged_and_filtered(db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=steps("space", "space", "slash", "a", "d", "s", "enter"))


def test_job_detail(db: Path, snap_compare) -> None:
    # Job 5 (third row), then its chunk 5: failed after four attempts.
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=steps("j", "j", "enter", "j", "j", "j", "j", "j"))


def test_session_detail(db: Path, snap_compare) -> None:
    from queuetop.tui.sessions import available

    if not available():
        pytest.skip("this build has no work-session store")
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps("tab", "tab", "enter"))


def test_schedules(db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps("s"))


def test_help(db: Path, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps("question_mark"))


def test_confirm_modal(db: Path, snap_compare) -> None:
    async def ask(pilot: Pilot) -> None:
        await pilot.press("c")  # the action waits for the answer: nothing to settle
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps("j", "j", then=ask))


def test_stale_banner(db: Path, snap_compare) -> None:
    async def lock_the_database(pilot: Pilot) -> None:
        app = pilot.app

        async def locked() -> int:
            raise sqlite3.OperationalError("database is locked")

        app.queue.data_version = locked  # type: ignore[attr-defined]
        assert not await app.live.cycle()  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps(then=lock_the_database))
