"""What a key costs the screen: the job screen kept and shown again, layouts and paints a key makes,
queries a screen coming back does not run, a filter superseded before it showed.

The app runs on a fresh copy of the fixture database (tests/tui_fixtures.py)
with a frozen clock and no workers: jobs 7 to 1, newest first (job 5 has 13
chunks and 11 log lines, job 2 has 8 chunks and 2 log lines). Speed is
measured in bench/tui.py, never here.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets._footer import FooterKey

from queuetop.tui.app import QueuetopApp
from queuetop.tui.screens.dashboard import DashboardScreen
from queuetop.tui.screens.job_detail import JobDetailScreen
from queuetop.tui.widgets.chunks_table import ChunksTable
from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.log_tail import LogTail

from test_tui_pilot import press
from tui_app import db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


def count_layouts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Layouts of each screen class from now on (Textual's Screen._refresh_layout, watched), and under
    ``"resize"`` those a resize made (Screen._screen_resized)."""
    layouts: Counter[str] = Counter()
    real_layout, real_resized = Screen._refresh_layout, Screen._screen_resized

    def counting(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        layouts[type(self).__name__] += 1
        real_layout(self, *args, **kwargs)

    def resized(self: Screen[Any], size: Any) -> None:
        layouts["resize"] += 1
        real_resized(self, size)

    monkeypatch.setattr(Screen, "_refresh_layout", counting)
    monkeypatch.setattr(Screen, "_screen_resized", resized)
    return layouts


def watch_paints(app: QueuetopApp, note: Any) -> None:
    """Call ``note(screen)`` at every screen update the terminal would get."""
    display = app._display

    def noting(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            note(screen)
        display(screen, renderable)

    setattr(app, "_display", noting)


async def test_the_job_screen_is_kept_and_shows_the_next_job_from_its_top(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter")  # job 5
        first = app.screen
        assert isinstance(first, JobDetailScreen) and first.job_id == 5
        chunks = first.query_one(ChunksTable)
        assert chunks.row_count == 13 and first.query_one(LogTail).lines_read == 11
        await press(app, pilot, "j", "j", "j")
        assert chunks.selected_index == 3
        await press(app, pilot, "escape", "j", "j", "j", "enter")  # job 2
        assert app.screen is first and first.job_id == 2 and first.job is not None and first.job.id == 2
        assert [str(row.key.value) for row in chunks.ordered_rows] == [str(n) for n in range(8)]
        assert chunks.cursor_row == 0 and chunks.window_start == 0 and chunks.scroll_y == 0
        assert first.query_one(LogTail).lines_read == 2
        assert str(first.query_one("#job-fields").border_title).startswith("Job 2 ")
        await press(app, pilot, "escape")
        assert isinstance(app.screen, DashboardScreen) and first.is_running  # kept for the next one


async def test_a_job_screen_paints_first_with_its_footer_and_is_not_laid_out_again_for_its_size(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.pause()
        footers: list[list[str]] = []

        def note(screen: Any) -> None:
            if isinstance(screen, JobDetailScreen) and not footers:
                footers.append([key.description for key in screen.query(FooterKey)])

        watch_paints(app, note)
        await press(app, pilot, "j", "j")
        layouts = count_layouts(monkeypatch)
        await press(app, pilot, "enter")
        assert isinstance(app.screen, JobDetailScreen)
        # Its keys were laid out with it: not composed after its first paint and laid out again.
        assert footers and "Back" in footers[0] and "Quit" in footers[0]
        # Not laid out again for the resize Textual sends it at the size it was laid out at, and the
        # dashboard under it not at all.
        assert layouts["JobDetailScreen"] and layouts["resize"] == 0 and layouts["DashboardScreen"] == 0
        await press(app, pilot, "escape")
        layouts.clear()
        await press(app, pilot, "enter")  # the same job again, on the kept screen: nothing moved
        assert isinstance(app.screen, JobDetailScreen)
        assert sum(layouts.values()) == 0


async def test_escape_with_nothing_changed_queries_nothing_and_after_a_change_refreshes_the_dashboard(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "enter")  # job 7
        assert isinstance(app.screen, JobDetailScreen)
        refreshes = app.refreshes
        layouts = count_layouts(monkeypatch)
        await press(app, pilot, "escape")
        assert isinstance(app.screen, DashboardScreen)
        assert app.refreshes == refreshes  # nothing changed: the panes were current
        assert layouts["DashboardScreen"] == 0  # shown again as it was: painted, not laid out
        await press(app, pilot, "enter")
        await app.queue.cancel(7)  # while the dashboard is hidden
        await app.settle()
        refreshes = app.refreshes
        await press(app, pilot, "escape")
        assert app.refreshes > refreshes
        table = app.screen.query_one(JobsTable)
        assert "cancelled" in str(table.get_row("7"))


async def test_a_filter_superseded_by_a_newer_keystroke_never_shows(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        titles: list[str] = []
        watch_paints(app, lambda screen: titles.append(str(table.border_title)))
        gate = asyncio.Event()
        asked: list[str] = []
        real = app.queue.find_jobs

        async def find_jobs(query: Any, **kwargs: Any) -> Any:
            asked.append(str(query))
            if str(query) == "meta":  # this one's answer is slow to come
                await gate.wait()
            return await real(query, **kwargs)

        setattr(app.queue, "find_jobs", find_jobs)
        await press(app, pilot, "slash", *"met")
        await pilot.press("a")
        while "meta" not in asked:
            await asyncio.sleep(0)
        await pilot.press("l")  # a newer query, answered at once
        await app.workers.wait_for_complete()
        gate.set()
        await app.settle()
        await pilot.pause()
        assert "· metal ·" in str(table.border_title)
        assert not any("· meta ·" in title for title in titles)
