"""Pilots of the operator's TUI: detail views, refusals known first, display truth, small terminals.

Same fixture as tests/test_tui_pilot.py (jobs, newest first: 7 pending,
6 pending, 5 running, 4 cancelled, 3 failed, 2 partial, 1 completed); tests
taking ``any_db`` run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from queuetop.engine.api import Queue
from queuetop.engine.config import Config
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import NotFound
from queuetop.engine.services import claims
from queuetop.engine.services.maintenance import mark_stale_workers_offline
from queuetop.tui import format as fmt
from queuetop.tui.app import QueuetopApp
from queuetop.tui.screens.alert_detail import AlertDetailScreen
from queuetop.tui.screens.alerts import AlertsScreen
from queuetop.tui.screens.chunk_detail import ChunkDetailScreen
from queuetop.tui.screens.confirm import ConfirmScreen
from queuetop.tui.screens.event_detail import EventDetailScreen
from queuetop.tui.screens.job_detail import JobDetailScreen
from queuetop.tui.screens.run_detail import RunDetailScreen
from queuetop.tui.screens.worker_detail import WorkerDetailScreen
from queuetop.tui.widgets.attempts_table import AttemptsTable
from queuetop.tui.widgets.chunks_table import ChunksTable
from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.log_tail import LogTail
from queuetop.tui.widgets.totals_header import TotalsHeader

from conftest import query
from test_tui_pilot import messages, press, statuses
from tui_app import any_db, db, fixture_cache, frozen_clock, make_app, queuetop_app  # noqa: F401 (fixtures)
from tui_fixtures import INTENTS, SIZE, add_alerts


# -- detail views ------------------------------------------------------------------------


async def test_enter_on_a_chunk_shows_its_whole_story_and_y_copies_it(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter", "j", "j", "j", "j", "j", "enter")  # job 5, chunk 5
        screen = app.screen
        assert isinstance(screen, ChunkDetailScreen) and (screen.job_id, screen.chunk_index) == (5, 5)
        text = screen.plain
        for error in ("TimeoutError: graph.facebook.com read timed out", "HTTP 503: service unavailable",
                      "HTTP 503: service unavailable (retries spent)"):
            assert error in text
        assert "Attempts (4 failed)" in text and "worker ops-1-4101-b2" in text and '"start": "2025-' in text
        # what the handler read in ctx.params: the job's params, and the chunk's own over them
        assert "Job params\n{\n  \"account\": \"act_2002\"\n}" in text and "\nChunk params\n{" in text
        await press(app, pilot, "y")
        assert app.clipboard == text
        await press(app, pilot, "escape")
        assert isinstance(app.screen, JobDetailScreen)


async def test_a_detail_view_scrolls_with_j_k_g_and_G_at_80x24(db: Path) -> None:
    """Moving around a long record as in every table: it took the arrow keys or the mouse only."""
    from textual.containers import VerticalScroll

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter", "j", "j", "j", "j", "j", "enter")  # job 5, chunk 5
        assert isinstance(app.screen, ChunkDetailScreen)
        await pilot.pause()
        box = app.screen.query_one("#detail", VerticalScroll)
        assert box.max_scroll_y > 3
        await press(app, pilot, "j", "j", "j")
        assert box.scroll_y == 3
        await press(app, pilot, "k")
        assert box.scroll_y == 2
        await press(app, pilot, "G")
        assert box.scroll_y == box.max_scroll_y
        await press(app, pilot, "g")
        assert box.scroll_y == 0


async def test_enter_on_an_event_a_worker_and_a_run(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "4", "enter")  # the event feed's newest event
        assert isinstance(app.screen, EventDetailScreen)
        assert "Payload" in app.screen.plain and '"fromAgent"' in app.screen.plain
        await press(app, pilot, "escape", "3", "enter")  # the first worker: it holds job 5 chunk 6
        assert isinstance(app.screen, WorkerDetailScreen)
        text = app.screen.plain
        assert "job 5 chunk 6" in text and "TimeoutError: graph.facebook.com read timed out" in text
        await press(app, pilot, "escape", "s")
        while app.screen.query_one("#schedules").selected_key != "nightly-ads":
            await press(app, pilot, "j")
        await press(app, pilot, "tab", "enter")  # its newest run
        assert isinstance(app.screen, RunDetailScreen)
        assert "nightly-ads" in app.screen.plain


async def test_enter_on_an_alert_shows_every_delivery_and_y_copies_it(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await add_alerts(app.queue)
        await press(app, pilot, "a", "enter")  # the newest: job 3 failed, delivered on the third attempt
        screen = app.screen
        assert isinstance(screen, AlertDetailScreen) and screen.alert_id == 2
        text = screen.plain
        assert text.startswith("Alert 2 · job.failed · delivered\n")
        for line in ("kind          job.failed", "subject       notify.guardians_late", "repeats       2",
                     "created       2025-12-31 23:18:40", "webhook       https://hooks.example.com/…",
                     "Deliveries (3)",
                     "attempt 1 · webhook · ✗ failed · HTTP 503 · 2025-12-31 23:18:46 · worker ops-1-4101-a1",
                     "  https://hooks.example.com/… answered HTTP 503",
                     "  cannot send to https://hooks.example.com/…: ReadTimeout: timed out",
                     "attempt 3 · webhook · ✓ ok · HTTP 200 · 2025-12-31 23:20:01 · worker ops-1-4101-a1"):
            assert f"\n{line}\n" in text, line
        assert "SECRET" not in text and "token=abc" not in text  # the webhook's path and query never show
        await press(app, pilot, "y")
        assert app.clipboard == text
        await press(app, pilot, "escape", "j", "enter")  # the older one: failed, its last error kept
        assert isinstance(app.screen, AlertDetailScreen) and app.screen.alert_id == 1
        text = app.screen.plain
        assert "state         ✗ failed" in text and "Deliveries (2)" in text
        assert text.endswith("Last error\ncannot send to https://hooks.example.com/…: ReadTimeout: timed out\n")
        await press(app, pilot, "escape")
        assert isinstance(app.screen, AlertsScreen)
        with pytest.raises(NotFound, match="no alert 3"):
            await app.queue.alert(3)


# -- actions -----------------------------------------------------------------------------


async def test_cancelled_chunks_can_be_retried(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "j", "enter", "j", "j", "r")  # job 4, cancelled: chunk 2
        assert (await statuses(app, 4))[2] == "pending"
        await press(app, pilot, "escape", "r")  # the job's other cancelled chunks (one job: no question)
        assert set((await statuses(app, 4)).values()) == {"completed", "pending"}
        assert (await app.queue.job(4)).status.value == "running"


async def test_a_refused_action_is_said_without_asking_first(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "G", "c")  # job 1 completed: nothing to cancel
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("already ended completed" in m for m in messages(app))
        await press(app, pilot, "f")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_space_only_tags_and_the_palette_names_each_target(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        await press(app, pilot, "j", "j", "space")
        assert table.tagged == {"5"} and table.selected_key == "5"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Keys") == 1
        assert {"Retry job 5", "Cancel job 5", "Finalize job 5"} <= set(titles)


async def test_read_only_offers_no_action_in_the_palette_that_it_would_refuse(db: Path) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "space")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Keys", "Schedules", "Queues"} <= titles
        writes = ("Retry", "Cancel", "Finalize", "Pause")
        assert not [t for t in titles if t.startswith(writes)], titles
        await press(app, pilot, "escape", "enter")  # job 5's screen
        assert isinstance(app.screen, JobDetailScreen)
        assert not [c.title for c in app.get_system_commands(app.screen) if c.title.startswith(writes)]
        await press(app, pilot, "j", "j", "j", "j", "j", "enter")  # its chunk 5
        assert isinstance(app.screen, ChunkDetailScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Copy chunk 5 of job 5" in titles and not [t for t in titles if t.startswith(writes)]


async def test_q_then_s_quits_without_a_traceback(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.press("q", "s", "question_mark")
    assert app.return_code == 0


async def test_a_second_ctrl_c_exits_at_once(db: Path) -> None:
    """A chunk runs for 30 s in this process: the first ctrl+c waits for it, the second does not."""
    config = Config(handlers={**{i: "queuetop.engine.handlers.demo:noop" for i in INTENTS},
                              "demo.sleep": "queuetop.engine.handlers.demo:sleep"})
    app = QueuetopApp(str(db), config, engine=True, workers=1)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        job = (await app.queue.submit("demo.sleep", chunks=[{"seconds": 30}], priority=10)).job_id
        from conftest import async_wait_until

        await async_wait_until(lambda: app.queue.chunk(job, 0), timeout=10)
        await async_wait_until(lambda: _status(app, job), timeout=10)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.quitting and app.is_running  # stopping gracefully, keys still answered
        await pilot.press("ctrl+c")
    assert app.return_code == 130
    # The chunk was neither finished nor released: its worker is not marked offline, where the
    # stale-worker rescue would never look, but left for that rescue, as a killed engine's is.
    ((worker, status, held),) = query(db, "SELECT w.id, w.status, (SELECT count(*) FROM chunks c WHERE"
                                          " c.worker_id = w.id AND c.status = 'processing') FROM workers w"
                                          " WHERE w.pid = ?", (os.getpid(),))
    assert status == "stopping" and held >= 1
    async with await Queue.open(db, config, clock=FrozenClock(time.time() + 3600)) as later:
        said = await mark_stale_workers_offline(later)
        assert worker in said and said.endswith(f"{held} chunk(s) rescued"), said
        assert (await later.chunk(job, 0)).status.value == "pending"


async def _status(app: QueuetopApp, job: int) -> bool:
    return (await app.queue.chunk(job, 0)).status.value == "processing"


# -- display truth -----------------------------------------------------------------------


async def test_states_read_without_colour(db: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=SIZE):
        await app.settle()
        table = app.screen.query_one(JobsTable)
        cells = {key: table.get_cell(key, "state").plain for key in ("6", "5", "4", "3", "2", "1")}
        assert cells["6"] == "○ pending" and cells["4"] == "⊘ cancelled"
        assert len({cell.split()[0] for cell in cells.values()}) == 6  # a glyph each
        assert fmt.colour("cancelled") != fmt.colour("pending")


async def test_a_finalized_job_shows_what_was_cut_and_counts_stay_whole(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        # in the default queue: the fixture's ads queue is limited, and the ordinary claim passes it over
        job = (await app.queue.submit("ads.collect.meta", chunks=[{"n": n} for n in range(25)],
                                       priority=100, queue="default")).job_id
        held, _ = await claims.claim(app.queue.db, "probe", 12, app.queue.clock.now())
        await app.queue.settle([claims.success(c, "probe", None, app.queue.clock.now()) for c in held])
        await app.queue.finalize(job)
        big = (await app.queue.submit("ads.collect.meta", chunks=[{"n": n} for n in range(1000)])).job_id
        await app.settle()
        table = app.screen.query_one(JobsTable)
        assert "12/25 ⊘13" in table.get_cell(str(job), "progress").plain
        cell = table.get_cell(str(big), "progress").plain
        assert "0/1000" in cell and table.columns[next(k for k in table.columns if k.value == "progress")].get_render_width(table) >= cell_len(cell)
        await press(app, pilot, "g", "j", "enter")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == job
        fields = app.screen.query_one("#job-fields", Static).content
        assert "completed · 12/25, 13 cancelled" in _plain(fields)


def _plain(renderable: object) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


async def test_the_header_says_which_engines_are_alive(any_db: Path | str) -> None:
    app = make_app(any_db)
    async with app.run_test(size=SIZE):
        await app.settle()
        header = app.screen.query_one(TotalsHeader)
        assert "1 engine online, 0 in this process" in _plain(header.content)
        frozen_clock(app).advance(3600)
        app.request_refresh()
        await app.settle()
        assert "no engine online: work is not running" in _plain(header.content)


async def test_the_header_keeps_its_worker_counts_inside_80_columns(any_db: Path | str) -> None:
    """Workers share the first line with the engine line, which is cut first; states with none are left out."""
    app = make_app(any_db)
    async with app.run_test(size=(80, 24)):
        await app.settle()
        header = app.screen.query_one(TotalsHeader)
        first = _plain(header.content).splitlines()[0]
        shown = first[:header.content_region.width]
        assert "Workers 2 online 1 stale 1 offline" in shown
        assert "stopping" not in first
        frozen_clock(app).advance(3600)
        app.request_refresh()
        await app.settle()
        first = _plain(header.content).splitlines()[0]
        assert "Workers 0 online" in first[:header.content_region.width] and " 2 online" not in first


# -- small terminals ---------------------------------------------------------------------


async def test_at_80x24_one_pane_shows_and_q_and_help_stay_in_the_footer(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await pilot.pause()
        keys = [key for key in app.screen.query(FooterKey) if key.region.right <= 80 and key.region.width]
        assert [key.key for key in keys[:2]] == ["q", "question_mark"]
        shown = [pane for pane in ("jobs", "sessions", "workers-box", "events")
                 if app.screen.query_one(f"#{pane}").display]
        assert shown == ["jobs"]
        await press(app, pilot, "tab")
        assert not app.screen.query_one("#jobs").display and app.screen.query_one("#sessions").display
        await press(app, pilot, "1", "j", "j", "enter")
        chunks = app.screen.query_one(ChunksTable)
        errors = [chunks.get_cell(key, "error").plain for key in ("4", "5")]
        assert all(cell_len(e) <= chunks.columns[next(k for k in chunks.columns if k.value == "error")].width
                   for e in errors)
        assert errors[1].endswith("…")


async def test_at_80x24_l_shows_a_job_s_attempts_and_log_in_the_chunks_place(any_db: Path | str) -> None:
    """Under 120 columns job detail shows only the chunks: the attempts and the log could not be seen
    from it at all. `l` swaps them in (offered only where they are not already on screen); esc goes back
    to the chunks before it leaves the job."""
    app = make_app(any_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter", "j", "j", "j", "j", "j")  # job 5, chunk 5
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        side, chunks = screen.query_one("#job-side"), screen.query_one(ChunksTable)
        assert (chunks.display, side.display) == (True, False)
        assert "Attempts/log" in [key.description for key in screen.query(FooterKey)]
        await press(app, pilot, "l")
        assert (chunks.display, side.display) == (False, True)
        attempts, log = screen.query_one(AttemptsTable), screen.query_one(LogTail)
        assert attempts.region.width >= 78 and log.region.height > 0
        assert attempts.chunk_index == 5 and attempts.row_count == 4
        assert "chunk 5 attempt 1: read timed out; retrying" in "\n".join(line.text for line in log.lines)
        await press(app, pilot, "escape")
        assert app.screen is screen and (chunks.display, side.display) == (True, False)
        await press(app, pilot, "escape")
        assert not isinstance(app.screen, JobDetailScreen)
    app = make_app(any_db)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.settle()
        await press(app, pilot, "j", "j", "enter", "l")
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        assert screen.query_one(ChunksTable).display and screen.query_one("#job-side").display
        assert "Attempts/log" not in [key.description for key in screen.query(FooterKey)]


async def test_at_120x40_jobs_and_one_more_pane(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.settle()
        displayed = lambda: [p for p in ("jobs", "sessions", "workers-box", "events")  # noqa: E731
                             if app.screen.query_one(f"#{p}").display]
        assert displayed() == ["jobs", "sessions"]
        await press(app, pilot, "4")
        assert displayed() == ["jobs", "events"]


async def test_at_80x24_the_alerts_screen_cuts_no_state_and_fits_the_width(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await add_alerts(app.queue)
        await press(app, pilot, "a")
        await app.settle()
        await pilot.pause()
        table = app.screen.query_one("#alerts")
        width = {str(key.value): column.get_render_width(table) - 2 * table.cell_padding
                 for key, column in table.columns.items()}
        for key, state in (("2", "✓ delivered"), ("1", "✗ failed")):
            assert table.get_cell(key, "status").plain == state
            for column in ("id", "kind", "status", "tries", "raised"):
                assert cell_len(table.get_cell(key, column).plain if hasattr(table.get_cell(key, column), "plain")
                                else str(table.get_cell(key, column))) <= width[column], (key, column)
        # Every column is on screen: nothing hides past the right edge.
        assert table.virtual_size.width <= table.content_region.width


async def test_help_at_80x24_fits_the_terminal_and_says_how_to_scroll(db: Path) -> None:
    """The help box was 84 wide (its right edge cut) and cut at the bottom without a word."""
    from textual.containers import VerticalScroll

    from queuetop.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.settle()
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        box = app.screen.query_one("#help", VerticalScroll)
        assert box.region.right <= 80 and box.max_scroll_y > 0
        assert "scroll" in str(box.border_subtitle)
        await press(app, pilot, "j", "j")
        assert box.scroll_y == 2
        await press(app, pilot, "k")
        assert box.scroll_y == 1
    async with make_app().run_test(size=(160, 50)) as pilot:
        await queuetop_app(pilot).settle()
        await pilot.press("question_mark")
        await pilot.pause()
        box = pilot.app.screen.query_one("#help", VerticalScroll)
        assert box.region.width == 84  # room enough: its own width
        assert ("scroll" in str(box.border_subtitle)) == (box.max_scroll_y > 0)
