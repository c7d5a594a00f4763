"""What the clock alone changes on screen: ages repaint only when they read differently, and the
header's engine liveness follows heartbeats going stale without any commit to say so.

Same fixture as tests/test_tui_pilot.py, on a frozen clock moved by hand;
``tick_clock`` is what the app's one-second timer calls.
"""

from __future__ import annotations

import math
from pathlib import Path

from queuetop.tui import format as fmt
from queuetop.tui.screens.base import LiveScreenBase
from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.live_table import LiveTable
from queuetop.tui.widgets.totals_header import TotalsHeader

from tui_app import any_db, db, fixture_cache, frozen_clock, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


def test_each_clock_drawn_cell_says_when_it_next_reads_differently() -> None:
    with fmt.CLOCK_CELLS.watch() as seen:
        assert fmt.ago(59.5) == "59s"
    assert seen.within == 0.5  # 1m at 60 s
    with fmt.CLOCK_CELLS.watch() as seen:
        assert (fmt.ago(125), fmt.ago(2 * 86400 + 10)) == ("2m", "2d")
    assert seen.within == 55  # 3m at 180 s; the days change much later
    with fmt.CLOCK_CELLS.watch() as seen:
        assert fmt.until(125) == "2m"
    assert seen.within == 5  # a countdown reads 1m below 120 s
    with fmt.CLOCK_CELLS.watch() as seen:
        assert fmt.next_run(1000.0, 900.0) == fmt.timestamp(1000.0)
        with fmt.CLOCK_CELLS.watch() as inner:
            assert fmt.next_run(1000.0, 1030.0) == "due"
        assert inner.within == 30  # overdue after the minute's grace
    assert seen.within == 30  # the outer watch saw the inner cells too
    with fmt.CLOCK_CELLS.watch() as seen:
        fmt.took(3.25)
        fmt.timestamp(1000.0)
    assert seen.within == math.inf  # nothing drawn from the clock
    fmt.ago(1)  # outside any watch: noted nowhere, no error


async def test_an_idle_screen_repaints_a_table_only_when_an_age_in_it_changes(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await app.settle()
        screen = app.screen
        assert isinstance(screen, LiveScreenBase)
        tables = list(screen.query(LiveTable))
        jobs = screen.query_one(JobsTable)
        drawn = {table: table.rendered_at for table in tables}
        screen.recent = 3600.0  # as if each table had been drawn by a refresh a moment ago
        frozen_clock(app).advance(86400 * 400)
        app.tick_clock()  # every age changed, but a table drawn so recently waits for the next tick
        assert {table: table.rendered_at for table in tables} == drawn
        frozen_clock(app).advance(-86400 * 400)
        screen.recent = 0.0  # from here on the wall clock's pacing is left out: only the cells decide
        app.tick_clock()  # learns when each table is due (tables drawn before any watch)
        drawn = {table: table.rendered_at for table in tables}
        for _ in range(3):
            app.tick_clock()  # the clock stood still: nothing reads differently
        assert {table: table.rendered_at for table in tables} == drawn
        due = screen._clock_due[jobs][1]
        now = app.queue.clock.now()
        assert now < due < now + 86400
        ages = [jobs.get_row_at(n)[-2].plain for n in range(jobs.row_count)]  # AGE before LOGS
        frozen_clock(app).advance(due - now - 0.5)
        app.tick_clock()
        assert jobs.rendered_at == drawn[jobs]  # not yet
        frozen_clock(app).advance(0.5)
        app.tick_clock()
        assert jobs.rendered_at != drawn[jobs]
        assert [jobs.get_row_at(n)[-2].plain for n in range(jobs.row_count)] != ages


async def test_the_header_says_when_the_last_engine_went_quiet_without_being_asked(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE):
        await app.settle()
        header = app.screen.query_one(TotalsHeader)
        assert "1 engine online, 0 in this process" in str(header.content)
        steps = 0
        while app.totals is not None and app.totals.fresh_until is not None:
            fresh_until = app.totals.fresh_until
            frozen_clock(app).set(fresh_until)
            app.tick_clock()
            await app.settle()
            assert app.totals.fresh_until == fresh_until  # still fresh at the very second: not asked again
            assert "1 engine online" in str(header.content)
            frozen_clock(app).advance(1)
            app.tick_clock()  # no commit says a heartbeat went stale: the clock does
            await app.settle()
            steps += 1
            assert steps <= 5
        # The fixture's engine has two fresh workers: their heartbeats go stale one after the other.
        assert steps == 2
        assert "no engine online: work is not running" in str(header.content)


async def test_a_job_screen_of_finished_chunks_is_not_drawn_again_as_the_clock_moves(db: Path) -> None:
    """How long an ended chunk took is fixed: its duration is not a clock-drawn cell (a table of
    chunks that took under 10 s each was drawn again at every tick)."""
    from queuetop.tui.screens.job_detail import JobDetailScreen
    from queuetop.tui.widgets.chunks_table import ChunksTable

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        for key in ("G", "enter"):  # job 1: completed, every chunk's duration ended
            await pilot.press(key)
            await app.settle()
        screen = app.screen
        assert isinstance(screen, JobDetailScreen) and screen.job_id == 1
        chunks = screen.query_one(ChunksTable)
        assert chunks.row_count and all(c.finished_at is not None for c in chunks.records)
        screen.recent = 0.0
        app.tick_clock()  # learns when it is due
        drawn = chunks.rendered_at
        for _ in range(3):
            frozen_clock(app).advance(86400)
            app.tick_clock()
        assert chunks.rendered_at == drawn


async def test_throughput_counts_chunks_that_ran_not_chunks_cancelled(db: Path) -> None:
    """Cancelling pending work ends chunks that no worker ran: the meter must not show it as a burst."""
    from queuetop.tui.widgets.throughput import BUCKET, Throughput

    app = make_app()
    async with app.run_test(size=SIZE):
        await app.settle()
        meter = app.screen.query_one(Throughput)
        app.tick_clock()  # the first sample: the meter's starting point
        assert (await app.queue.cancel(6)).chunks == 3  # job 6: three pending chunks, never claimed
        await app.settle()
        assert app.totals is not None and app.totals.chunks_cancelled >= 3
        frozen_clock(app).advance(BUCKET)
        app.tick_clock()
        assert meter.rate == 0.0
