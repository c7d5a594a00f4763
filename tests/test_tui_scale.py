"""Pilots of the TUI under volume: the operator's find-read-retry flow, refreshes that never block
keys, and a cursor and view that stay put while rows arrive.

Each test builds its own queue through the engine (submit, claim, settle) on
SQLite and, with QUEUETOP_TEST_PG_DSN set, on PostgreSQL. Speed is measured
in bench/tui.py, never here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuetop.engine.api import Queue
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.services import claims
from queuetop.tui.app import QueuetopApp
from queuetop.tui.screens.chunk_detail import ChunkDetailScreen
from queuetop.tui.screens.dashboard import DashboardScreen
from queuetop.tui.screens.job_detail import JobDetailScreen
from queuetop.tui.widgets.filter_input import FilterInput
from queuetop.tui.widgets.jobs_table import JobsTable

from conftest import postgres_schema
from test_tui_pilot import press
from tui_app import make_app
from tui_fixtures import NOW, SIZE, fixture_config

FAILED = 12
# Longer than any column: the detail must show all of it.
ERROR = ("ReadTimeout: reports.example.com did not answer within 30s while fetching page {n} of the "
         "quarterly ledger export (connection pool exhausted; upstream said: retry later)")


@pytest.fixture
def queue_db(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path | str]:
    """An empty queue on the backend under test."""
    monkeypatch.chdir(tmp_path)
    if backend == "sqlite":
        yield tmp_path / "queuetop.db"
        return
    with postgres_schema("qt_scale") as url:
        yield url


async def build_many(db: Path | str, jobs: int = 300) -> list[int]:
    """``jobs`` one-chunk jobs of which :data:`FAILED`, spread among them, failed for good; their ids."""
    clock = FrozenClock(NOW - 600)
    queue = await Queue.open(db, fixture_config(), clock=clock)
    try:
        every = jobs // FAILED
        # The ones to fail go first in the claim order (priority), wherever their ids fall.
        submitted = await queue.submit_many(
            {"intent": "ads.collect.meta", "params": {"account": f"act_{n}"}, "chunks": [{"page": n}],
             "priority": 5 if n % every == every // 2 else 0} for n in range(jobs))
        failing = sorted(r.job_id for n, r in enumerate(submitted) if n % every == every // 2)[:FAILED]
        got, _ = await claims.claim(queue.db, "ops-1-4101-a1", FAILED, clock.now())
        assert sorted(c.job_id for c in got) == failing
        outcomes = [claims.failure(c, "ops-1-4101-a1", ERROR.format(n=c.job_id), permanent=True, max_retries=0,
                                   now=clock.now()) for c in got]
        await claims.settle(queue.db, outcomes, clock.now(), on_job_ended=queue.job_ended_hooks)
        return failing
    finally:
        await queue.close()


def jobs_table(app: QueuetopApp) -> JobsTable:
    return app.screen.query_one(JobsTable)


def shown(app: QueuetopApp) -> list[int]:
    return [int(str(row.key.value)) for row in jobs_table(app).ordered_rows]


async def test_find_the_failed_jobs_among_many_read_one_error_and_retry_it(queue_db: Path | str) -> None:
    failing = await build_many(queue_db)
    app = make_app(queue_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "slash", *"state:failed err:timeout", "enter")
        table = jobs_table(app)
        assert shown(app) == sorted(failing, reverse=True)
        assert table.border_title == f"Jobs · state:failed err:timeout · {FAILED} of 300"
        second = sorted(failing, reverse=True)[1]
        await press(app, pilot, "j", "enter")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == second
        await press(app, pilot, "enter")  # its one chunk
        screen = app.screen
        assert isinstance(screen, ChunkDetailScreen)
        assert ERROR.format(n=second) in screen.plain  # the whole error, not a cut cell
        await press(app, pilot, "escape", "r")  # back on the job: retry the chunk under the cursor
        chunk = (await app.queue.chunks(second))[0]
        assert chunk.status.value == "pending"
        assert (await app.queue.job(second)).status.value != "failed"
        await press(app, pilot, "escape")
        assert isinstance(app.screen, DashboardScreen)
        await app.settle()
        assert second not in shown(app) and len(shown(app)) == FAILED - 1
        assert f"{FAILED - 1} of 300" in str(jobs_table(app).border_title)


async def test_free_text_finds_a_job_by_its_params_and_by_a_chunk_error(queue_db: Path | str) -> None:
    failing = await build_many(queue_db)
    async with await Queue.open(queue_db, clock=FrozenClock(NOW)) as queue:
        found = await queue.find_jobs("act_299")  # the params of one job
        assert [job.params for job in found.jobs] == [{"account": "act_299"}] and found.exact
        found = await queue.find_jobs("quarterly ledger")  # text from the chunks' last errors
        assert sorted(job.id for job in found.jobs) == failing and found.matched == FAILED
        found = await queue.find_jobs(f'err:"page {failing[0]} of"')  # one job's own error
        assert [job.id for job in found.jobs] == [failing[0]]
        found = await queue.find_jobs('"said: retry"')  # a colon is text here, never the index's syntax
        assert found.matched == FAILED
        found = await queue.find_jobs('"AND ledger OR"')  # nor are the index's words
        assert found.matched == 0
        found = await queue.find_jobs('err:"did not answer"')
        assert found.matched == FAILED and found.exact
        found = await queue.find_jobs('"timed" "nowhere-to-be-found"')
        assert found.matched == 0 and found.jobs == []


async def test_a_slow_refresh_never_blocks_a_key_and_a_newer_one_supersedes_it(queue_db: Path | str) -> None:
    await build_many(queue_db, jobs=60)
    app = make_app(queue_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        live = app.live
        assert live is not None
        gate = asyncio.Event()
        entered = asyncio.Event()
        real = app.queue.totals

        async def slow_totals():  # the database takes its time answering this one refresh
            entered.set()
            await gate.wait()
            return await real()

        setattr(app.queue, "totals", slow_totals)
        app.request_refresh()
        await entered.wait()
        table = jobs_table(app)
        before = table.selected_key
        await pilot.press("j")  # answered while the refresh waits
        await pilot.pause()
        assert table.selected_key != before and not gate.is_set()
        await pilot.press("slash", *"act_7", "enter")  # a filter runs its own query meanwhile
        await app.workers.wait_for_complete()
        assert "act_7" in str(table.border_title) and not gate.is_set()
        setattr(app.queue, "totals", real)
        superseded = live.superseded
        app.request_refresh()  # a newer refresh: the stuck one is cancelled, its work redone
        await app.settle()
        assert live.superseded == superseded + 1 and not gate.is_set()
        assert app.totals is not None and sum(app.totals.jobs.values()) == 60


async def test_the_cursor_keeps_its_job_while_jobs_arrive_above_it(queue_db: Path | str) -> None:
    await build_many(queue_db, jobs=120)
    app = make_app(queue_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = jobs_table(app)
        await press(app, pilot, "j", "j", "j")
        held = table.selected_key
        for round_ in range(3):
            for n in range(7):
                await app.queue.submit("ads.collect.meta", params={"round": round_, "n": n})
            await app.settle()
            assert table.selected_key == held  # the same job under the cursor
        await press(app, pilot, "enter")
        assert isinstance(app.screen, JobDetailScreen) and str(app.screen.job_id) == held


async def test_a_pane_at_the_top_follows_new_rows_and_one_scrolled_away_stays_put(
        queue_db: Path | str) -> None:
    await build_many(queue_db, jobs=200)
    app = make_app(queue_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = jobs_table(app)
        top = shown(app)[0]
        await app.queue.submit("ads.collect.meta", params={"new": 1})
        await app.settle()
        assert shown(app)[0] == top + 1  # at the top: the new job shows
        assert table.selected_key == str(top)  # and the cursor stayed on its job
        # Scrolled away: far down the list, past the first window.
        await press(app, pilot, *["j"] * (table.row_count + 5))
        assert table.window_start > 0
        first_row = shown(app)[0]
        held, row, start = table.selected_key, table.cursor_row, table.window_start
        for n in range(5):
            await app.queue.submit("ads.collect.meta", params={"later": n})
        await app.settle()
        assert shown(app)[0] == first_row  # the same rows on screen
        assert (table.selected_key, table.cursor_row) == (held, row)
        assert table.window_start == start + 5  # the window moved past the five new jobs
        await press(app, pilot, "g")  # back to the top: the newest again
        assert shown(app)[0] == top + 6


async def test_quitting_while_a_job_opens_shows_no_traceback(queue_db: Path | str) -> None:
    await build_many(queue_db, jobs=30)
    app = make_app(queue_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.press("enter", "q")
        await pilot.pause()
    assert app.return_code == 0


async def test_common_words_short_words_and_long_counts_say_when_they_are_bounded(
        queue_db: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits scaled down (the real ones are 10,000 and 20,000) so that 300 jobs cross them."""
    from queuetop.engine.store import find

    failing = await build_many(queue_db)
    monkeypatch.setattr(find, "CAP", 20)
    monkeypatch.setattr(find, "COUNT_CAP", 50)
    monkeypatch.setattr(find, "SHORT_SPAN", 100)
    async with await Queue.open(queue_db, clock=FrozenClock(NOW)) as queue:
        alone = await queue.find_jobs("account", limit=10)  # every job: a common word, alone
        # its index's newest 20, on both backends (PostgreSQL read its trigram index whole before 0012)
        assert (alone.matched, alone.exact) == (20, False)
        assert [job.id for job in alone.jobs] == list(range(300, 290, -1))  # the newest, either way
        both = await queue.find_jobs("account state:failed")  # beside a filter: checked job by job, exact
        assert (sorted(job.id for job in both.jobs), both.matched, both.exact) == (failing, FAILED, True)
        many = await queue.find_jobs("account age:<1d", limit=10)
        assert (many.matched, many.exact) == (50, False)  # counting stopped
        short = await queue.find_jobs("t_", limit=300)  # under three characters: the newest 100 jobs
        assert {job.id for job in short.jobs} == set(range(201, 301)) and not short.exact
        rare = await queue.find_jobs("act_150")  # rare: through the index, exact
        assert ([job.params for job in rare.jobs], rare.exact) == ([{"account": "act_150"}], True)
