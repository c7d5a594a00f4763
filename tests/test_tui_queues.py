"""The TUI's queues screen on SQLite and PostgreSQL: what it shows, pause and resume with a question,
--read-only, and enter showing a queue's jobs.

The fixture (tests/tui_fixtures.py) routes ads.* to the queue ``ads`` (limit 4, 30/min, its bucket
empty 0.4 s ago) and notify.* to ``notify`` (local limit 2, paused by an operator).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType

from queuetop.tui.screens.confirm import ConfirmScreen
from queuetop.tui.screens.dashboard import DashboardScreen
from queuetop.tui.screens.queues import QueuesScreen
from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.queues_table import QueuesTable

from test_tui_pilot import messages, press
from tui_app import any_db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


def _plain(cell: RenderableType) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


def rows(app) -> dict[str, list[str]]:
    table = app.screen.query_one(QueuesTable)
    return {row.key.value: [_plain(cell) for cell in table.get_row(row.key)] for row in table.ordered_rows}


# What the fixture's queues look like, whichever backend holds them.
SHOWN = {
    "ads": ["ads", "▶ running", "6", "2", "1", "1", "4", "-", "30/min", "in 1.60s"],
    "default": ["default", "▶ running", "3", "0", "0", "0", "-", "-", "-", "-"],
    "notify": ["notify", "‖ paused", "0", "0", "0", "1", "-", "2", "-", "-"],
}


async def test_the_queues_screen_shows_every_queue_alike_on_both_backends(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "u")
        assert isinstance(app.screen, QueuesScreen)
        assert rows(app) == SHOWN
        await press(app, pilot, "escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_p_pauses_and_resumes_the_queue_under_the_cursor_after_asking(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "u")  # the cursor starts on ads
        await press(app, pilot, "p")
        assert isinstance(app.screen, ConfirmScreen) and "Pause queue ads?" in app.screen.question
        await press(app, pilot, "n")
        assert not [q for q in await app.queue.queues() if q.name == "ads"][0].paused
        await press(app, pilot, "p", "y")
        await app.workers.wait_for_complete()
        await press(app, pilot)
        assert "queue ads paused: its chunks are not claimed" in messages(app)
        assert rows(app)["ads"][1] == "‖ paused"
        assert not await app.queue.is_paused()  # only the queue: the database goes on
        await press(app, pilot, "j", "j", "p")  # notify: paused by the fixture
        assert isinstance(app.screen, ConfirmScreen) and "Resume queue notify?" in app.screen.question
        await press(app, pilot, "y")
        await app.workers.wait_for_complete()
        await press(app, pilot)
        assert rows(app)["notify"][1] == "▶ running"


async def test_read_only_refuses_pausing_a_queue(any_db: Path | str) -> None:
    app = make_app(any_db, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await press(app, pilot, "u", "p")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, QueuesScreen)  # nothing was asked
        assert any("Read-only" in m for m in messages(app))
        assert not [q for q in await app.queue.queues() if q.name == "ads"][0].paused


async def test_enter_on_a_queue_shows_its_jobs(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "u", "enter")  # ads
        await app.workers.wait_for_complete()
        await press(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one(JobsTable)
        assert [row.key.value for row in table.ordered_rows] == ["7", "5", "2", "1"]  # the ads.* jobs
        assert "queue:ads" in str(table.border_title)
