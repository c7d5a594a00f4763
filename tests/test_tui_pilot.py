"""Pilots: press the TUI's keys and check that the engine's state changed.

Tests that take ``any_db`` run on SQLite and on PostgreSQL (the same scene
built in a new schema). Each test runs the app on a fresh copy of the fixture database (see
tests/tui_fixtures.py) with a frozen clock and no workers, presses keys and
waits with ``app.settle()`` (pending actions, page loads, one refresh cycle).
Jobs on the dashboard, newest first: 7 pending, 6 pending, 5 running,
4 cancelled, 3 failed, 2 partial, 1 completed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


from queuetop.engine.services import claims
from queuetop.tui.app import QueuetopApp
from queuetop.tui.screens.confirm import ConfirmScreen
from queuetop.tui.screens.job_detail import JobDetailScreen
from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.stale_banner import StaleBanner

from tui_app import any_db, db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


async def press(app: QueuetopApp, pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        if not isinstance(app.screen, ConfirmScreen):
            await app.settle()
    await pilot.pause()


def messages(app: QueuetopApp) -> list[str]:
    return [n.message for n in app._notifications]


def jobs_shown(app: QueuetopApp) -> list[str]:
    table = app.screen.query_one(JobsTable)
    return [row.key.value for row in table.ordered_rows]


async def statuses(app: QueuetopApp, job_id: int) -> dict[int, str]:
    return {c.chunk_index: c.status.value for c in await app.queue.chunks(job_id)}


async def test_retry_makes_the_jobs_failed_chunks_pending(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        assert (await statuses(app, 2))[3] == "failed"
        await press(app, pilot, "j", "j", "j", "j", "j", "r")  # job 2, partial
        after = await statuses(app, 2)
        assert after[3] == after[6] == "pending"
        assert (await app.queue.job(2)).status.value == "running"
        assert any("back to pending" in m for m in messages(app))


async def test_retry_in_job_detail_retries_the_selected_chunk(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == 5
        await press(app, pilot, "j", "j", "j", "j", "j", "r")  # chunk 5: failed after four attempts
        assert (await statuses(app, 5))[5] == "pending"
        await press(app, pilot, "j", "r")  # chunk 6 is processing: refused, and said why
        assert any("not failed" in m for m in messages(app))
        await press(app, pilot, "escape")
        assert not isinstance(app.screen, JobDetailScreen)


async def test_cancel_asks_then_ends_the_job(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "c")
        assert isinstance(app.screen, ConfirmScreen)
        await press(app, pilot, "n")  # said no: nothing happens
        assert (await app.queue.job(5)).status.value == "running"
        await press(app, pilot, "c", "y")
        job = await app.queue.job(5)
        assert job.status.value == "cancelled" and job.finished_at is not None
        assert set((await statuses(app, 5)).values()) <= {"completed", "failed", "cancelled"}


async def test_finalize_ends_the_job_with_its_final_status(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "f", "y")
        job = await app.queue.job(5)
        assert job.status.value == "partial"  # 5 completed, 1 failed, the rest cancelled
        assert job.chunks_completed == 5 and job.chunks_failed == 1
        await press(app, pilot, "f", "y")  # again: refused, and the notification says why
        assert any("already ended" in m for m in messages(app))


async def test_bulk_retry_of_tagged_jobs_asks_first(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "j", "j", "space", "j", "space")  # tags 3 and 2
        assert app.screen.query_one(JobsTable).tagged == {"3", "2"}
        await press(app, pilot, "r")
        assert isinstance(app.screen, ConfirmScreen)
        await press(app, pilot, "y")
        assert set((await statuses(app, 3)).values()) == {"pending"}
        assert (await statuses(app, 2))[6] == "pending"
        assert not app.screen.query_one(JobsTable).tagged


async def test_pause_stops_claims_and_resume_allows_them(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "p")
        assert await app.queue.is_paused()
        now = app.queue.clock.now()
        got, _ = await claims.claim(app.queue.db, "probe", 5, now)
        assert got == []  # chunks are pending, but nothing is claimed while paused
        await press(app, pilot, "p")
        assert not await app.queue.is_paused()
        got, _ = await claims.claim(app.queue.db, "probe", 1, now)
        assert len(got) == 1


async def test_filter_narrows_the_list_and_escape_clears_it(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        assert jobs_shown(app) == ["7", "6", "5", "4", "3", "2", "1"]
        await press(app, pilot, "slash", "g", "o", "o", "g")
        assert jobs_shown(app) == ["2"]
        await press(app, pilot, "escape")
        assert jobs_shown(app) == ["7", "6", "5", "4", "3", "2", "1"]


async def test_a_filter_keeps_the_cursor_on_its_job_or_starts_at_the_top(any_db: Path | str) -> None:
    """A filter that still lists the cursor's job keeps the cursor on it; one that does not puts it on
    the first match, not on whichever job took its row's place."""
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        await press(app, pilot, "j", "j", "j")
        assert table.selected_key == "4"
        await press(app, pilot, "slash", "a", "d", "s")
        shown = jobs_shown(app)
        assert "4" not in shown and len(shown) > 3  # the old row index is still a row
        assert (table.cursor_row, table.selected_key) == (0, shown[0])
        await press(app, pilot, "escape")
        assert jobs_shown(app) == ["7", "6", "5", "4", "3", "2", "1"] and table.selected_key == shown[0]
        for _ in range(5):
            if table.selected_key != "2":
                await press(app, pilot, "j")
        await press(app, pilot, "slash", "a", "d", "s")
        assert table.selected_key == "2"


async def test_read_only_refuses_every_action_and_says_so(any_db: Path | str) -> None:
    app = make_app(any_db, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "c", "f", "r", "p")
        assert not isinstance(app.screen, ConfirmScreen)
        assert (await app.queue.job(5)).status.value == "running"
        assert not await app.queue.is_paused()
        assert sum("Read-only" in m for m in messages(app)) == 4


async def test_selection_follows_its_job_when_rows_move(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j")
        table = app.screen.query_one(JobsTable)
        assert table.selected_key == "5" and table.cursor_row == 2
        new = await app.queue.submit("demo.noop")  # a new job lands on top: in-process change notice
        await app.settle()
        # (PostgreSQL's sequence may have passed 8: an ON CONFLICT insert spends a value)
        assert jobs_shown(app)[0] == str(new.job_id) and new.job_id >= 8
        assert table.selected_key == "5" and table.cursor_row == 3


async def test_refresh_writes_only_changed_cells(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await app.settle()
        table = app.screen.query_one(JobsTable)
        now = app.queue.clock.now()
        rows = [(table.key_of(r), tuple(table.render_record(r, now))) for r in table.records]
        assert table.sync(rows) == 0  # nothing changed: nothing written
        await app.queue.cancel(6)
        await app.settle()
        job6 = await app.queue.job(6)
        cells = table.render_record(job6, now)
        assert table.get_cell("6", "state") == cells[2]


async def test_a_failing_database_shows_the_banner_and_backs_off(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        live = app.live
        assert live is not None
        real = app.queue.data_version

        async def locked() -> int:
            raise sqlite3.OperationalError("database is locked")

        app.queue.data_version = locked  # type: ignore[method-assign]
        assert not await live.cycle()
        assert not await live.cycle()
        await pilot.pause()
        banner = app.screen.query_one(StaleBanner)
        assert banner.display and "database is locked" in str(banner.render())
        assert live.interval > 0.25  # backing off
        assert jobs_shown(app) == ["7", "6", "5", "4", "3", "2", "1"]  # last data kept
        app.queue.data_version = real  # type: ignore[method-assign]
        assert await live.cycle()
        await pilot.pause()
        assert not banner.display and live.interval == 0.25


async def test_a_pane_holds_one_window_and_pages_past_its_ends(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        for n in range(150):
            await app.queue.submit("demo.noop", params={"n": n})
        await app.settle()
        table = app.screen.query_one(JobsTable)
        assert table.total == 157
        assert table.row_count <= table.page_size < 157  # what it can show plus a margin, not every job
        assert table.selected_key == "7"  # the cursor kept its job as 150 arrived above it
        await press(app, pilot, "G")
        assert table.selected_key == "1" and table.window_start > 0
        await press(app, pilot, "g")
        assert table.selected_key == "157" and table.window_start == 0
        for _ in range(table.row_count):  # down past the last held row: the next window is fetched
            await pilot.press("j")
        await app.settle()
        assert table.window_start > 0
        assert table.selected_key == str(157 - table.row_count)


async def test_alerts_show_in_a_header_badge_and_on_their_screen(any_db: Path | str) -> None:
    from queuetop.engine.config import parse_alert
    from queuetop.engine.services.alert_rules import Alerts
    from queuetop.tui.screens.alerts import AlertsScreen
    from queuetop.tui.widgets.alerts_table import AlertsTable
    from queuetop.tui.widgets.totals_header import TotalsHeader

    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        assert "undelivered" not in str(app.screen.query_one(TotalsHeader).render())
        rule = parse_alert({"on": ["job.failed"], "webhook": "https://hooks.example.com/T0/SECRET?x=1"}, 1, "t")
        async with app.queue.db.transaction() as conn:
            await Alerts((rule,)).raise_alert(conn, "job.failed", subject="reports.collect", now=app.queue.clock.now(),
                                              job_id=3, intent="reports.collect", summary="job 3 ended failed")
        app.request_refresh()
        await app.settle()
        header = str(app.screen.query_one(TotalsHeader).render())
        first = header.splitlines()[0]
        assert "alerts: 1 undelivered, 1 recent" in first
        # before the engine's long line, so that 80 columns still show it
        assert first.index("alerts:") < first.index("engine")
        await press(app, pilot, "a")
        assert isinstance(app.screen, AlertsScreen)
        table = app.screen.query_one(AlertsTable)
        [row] = table.ordered_rows
        cells = " ".join(str(c) for c in table.get_row(row.key))
        assert "job.failed" in cells and "https://hooks.example.com/…" in cells and "SECRET" not in cells
        await press(app, pilot, "escape")
        assert not isinstance(app.screen, AlertsScreen)


async def test_a_watching_tui_follows_its_event_files(db: Path, tmp_path: Path) -> None:
    """No workers here (the default beside an engine, or --no-workers), yet --events files are followed."""
    import asyncio
    import json
    import time

    from queuetop.tui.widgets.event_feed import EventFeed

    events = tmp_path / "agent.ndjson"
    events.write_text(json.dumps({"type": "watch.only.probe", "ts": 1767225600000, "agent": "probe",
                                  "data": {"message": "seen without workers"}}) + "\n")
    app = make_app(db, event_paths=[str(events)])
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        assert app.runner is not None and not app.runner.workers  # the tailer runs, no worker does
        deadline = time.monotonic() + 20
        while "watch.only.probe" not in {e.type for e in await app.queue.events_since(0, limit=500)}:
            assert time.monotonic() < deadline, "the event file was not followed"
            await asyncio.sleep(0.05)  # polling the tailer's progress with a deadline
        await app.settle()
        feed = app.screen.query_one(EventFeed)
        assert any("seen without workers" in str(cell) for row in range(feed.row_count)
                   for cell in feed.get_row_at(row))
        await pilot.press("q")


async def test_a_cell_that_grows_widens_its_column(tmp_path: Path) -> None:
    """States and counts are never cut: a job shown first as `○ pending 0/12` keeps its whole
    `⊘ cancelled` and `0/12 ⊘12` once it ends (the columns sized to the first rows used to stay)."""
    app = make_app(tmp_path / "q.db")
    async with app.run_test(size=(80, 24)) as pilot:
        job = (await app.queue.submit("demo.noop", chunks=[{}] * 12)).job_id
        await app.settle()
        table = app.screen.query_one(JobsTable)
        assert jobs_shown(app) == [str(job)]
        await app.queue.finalize(job)
        await app.settle()
        await pilot.pause()
        for key in ("state", "progress"):
            cell = table.get_cell(str(job), key)
            room = table.columns[key].get_render_width(table) - 2 * table.cell_padding
            assert room >= cell.cell_len, (key, str(cell), room)
        assert "cancelled" in str(table.get_cell(str(job), "state"))


async def test_full_collections_run_from_the_timer_not_mid_key(db: Path) -> None:
    import gc
    import weakref

    from queuetop.tui.app import FULL_COLLECTION_AFTER

    class Node:
        other: object = None

    app = make_app()
    async with app.run_test(size=SIZE):
        await app.settle()
        # CPython's own trigger for a full collection is out of reach: only the app's timer starts one.
        assert gc.get_threshold()[2] > 10_000
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only a collection frees it
        gone = weakref.ref(a)
        gc.collect(1)  # still held: moved into the oldest generation, where only a full collection reaches
        del a, b
        gc.collect(1)
        assert gone() is not None
        while gc.get_count()[2] < FULL_COLLECTION_AFTER:
            gc.collect(1)
        app._collect_garbage()  # what the timer runs once a second
        assert gone() is None and gc.get_count()[2] == 0
