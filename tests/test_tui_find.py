"""The `/` query line on the dashboard: find the failed jobs among many, read the count, open one.

Runs on both backends (``any_db``: the pilot fixture's seven jobs, of which
job 3 is failed) with 400 more jobs submitted first, two of them failed
through the real claim and settle path.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from queuetop.engine.api import Queue
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.services import claims
from queuetop.tui.app import QueuetopApp
from queuetop.tui.screens.job_detail import JobDetailScreen
from queuetop.tui.widgets.filter_input import FilterInput
from queuetop.tui.widgets.jobs_table import JobsTable

from tui_app import any_db, db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import NOW, SIZE

KEYS = {" ": "space", ":": "colon", ">": "greater_than_sign", "<": "less_than_sign", ",": "comma",
        ".": "full_stop", "*": "asterisk", '"': "quotation_mark"}


async def type_text(app: QueuetopApp, pilot, text: str) -> None:
    await pilot.press(*(KEYS.get(char, char) for char in text))
    await app.settle()
    await app.workers.wait_for_complete()
    await pilot.pause()


def shown(app: QueuetopApp) -> list[str]:
    return [row.key.value for row in app.screen.query_one(JobsTable).ordered_rows]


async def _many_jobs(db: Path | str) -> list[int]:
    """400 more jobs; the first two (highest priority) fail."""
    clock = FrozenClock(NOW - 120)
    async with await Queue.open(db, clock=clock) as queue:
        made = await queue.submit_many([{"intent": "bulk.fetch", "chunks": [{"n": n}], "params": {"n": n},
                                         "priority": 10 if n < 2 else 0} for n in range(400)])
        got, _ = await claims.claim(queue.db, "w", 2, clock.now())
        assert len(got) == 2
        await queue.settle([claims.failure(c, "w", "ReadTimeout: upstream read timed out", permanent=True,
                                           max_retries=0, now=clock.now()) for c in got])
    return [m.job_id for m in made[:2]]


async def test_find_the_failed_jobs_among_many_and_open_one(any_db: Path | str) -> None:
    failed = await _many_jobs(any_db)
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        assert table.border_title == "Jobs" and table.total == 407

        await pilot.press("slash")
        await type_text(app, pilot, "state:failed")
        assert shown(app) == [str(failed[1]), str(failed[0]), "3"]
        assert table.border_title == "Jobs · state:failed · 3 of 407"

        # A bad query (an empty state after the comma): one line under the input, the table as it was.
        await type_text(app, pilot, ",")
        error = app.screen.query_one("#filter-error", Static)
        assert error.display and "unknown state ''" in str(error.render())
        assert shown(app) == [str(failed[1]), str(failed[0]), "3"]
        assert table.border_title == "Jobs · state:failed · 3 of 407"
        await pilot.press("backspace")
        await type_text(app, pilot, " err:timeout")
        assert not error.display
        assert shown(app) == [str(failed[1]), str(failed[0])]
        assert table.border_title == "Jobs · state:failed err:timeout · 2 of 407"

        await pilot.press("enter")  # keep the query, back to the table
        await app.settle()
        assert app.screen.query_one(FilterInput).value == "state:failed err:timeout"
        await pilot.press("o")  # sort by intent, shown in the title
        await app.settle()
        assert table.border_title == "Jobs · state:failed err:timeout · 2 of 407 · by intent ↑"
        await pilot.press("O")
        await app.settle()
        assert table.border_title.endswith("by intent ↓")

        await pilot.press("enter")  # open the job under the cursor
        await app.settle()
        assert isinstance(app.screen, JobDetailScreen)
        assert app.screen.job_id == failed[1]

        await pilot.press("escape")
        await app.settle()
        await pilot.press("escape")  # clears the query: every job again
        await app.settle()
        await app.workers.wait_for_complete()
        await app.settle()
        assert table.border_title == "Jobs · by intent ↓" and table.total == 407


async def test_enter_on_a_query_that_does_not_parse_keeps_the_line_and_its_keys(any_db: Path | str) -> None:
    """Enter used to leave the line whatever it held: the error stayed on screen, the table kept a
    fragment typed on the way (`st`), and the keys typed next to mend the query ran as the dashboard's:
    the `p` of `completed` paused the whole database."""
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.press("slash")
        await type_text(app, pilot, "state:bogus")
        await pilot.press("enter")
        await app.settle()
        box = app.screen.query_one(FilterInput)
        assert app.focused is box and box.display
        assert app.screen.query_one("#filter-error", Static).display
        for _ in "bogus":
            await pilot.press("backspace")
        await type_text(app, pilot, "completed")
        assert box.value == "state:completed" and app.focused is box
        assert not (await app.queue.totals()).paused
        assert shown(app) == ["1"]
        await pilot.press("enter")  # it parses now: back to the table, the query kept
        await app.settle()
        assert isinstance(app.focused, JobsTable) and box.value == "state:completed"


async def test_a_filter_keystroke_shows_its_rows_before_their_count(any_db: Path | str, monkeypatch) -> None:
    """A word matching more jobs than a page shows: the rows come with the keystroke, the count once typing
    pauses (a newer keystroke cancels a count not yet made)."""
    from conftest import async_wait_until
    from queuetop.tui.screens import dashboard

    await _many_jobs(any_db)
    app = make_app(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        monkeypatch.setattr(dashboard, "COUNT_AFTER", 60.0)  # typing never pauses long enough
        await pilot.press("slash", "b", "u", "l")
        await async_wait_until(lambda: "· bul ·" in str(table.border_title), timeout=10)
        assert table.border_title == "Jobs · bul · counting… of 407"
        assert table.row_count > 10 and set(shown(app)) <= {str(n) for n in range(8, 408)}
        assert str(table.border_subtitle).endswith(f"1–{table.row_count} of …")

        monkeypatch.setattr(dashboard, "COUNT_AFTER", 0.0)  # typing pauses: the count follows
        await type_text(app, pilot, "k")
        assert table.border_title == "Jobs · bulk · 400 of 407"
        assert str(table.border_subtitle).endswith(f"1–{table.row_count} of 400")

        # a query whose page ends the list is its own count, with the keystroke
        monkeypatch.setattr(dashboard, "COUNT_AFTER", 60.0)
        await type_text(app, pilot, " state:failed")
        assert table.border_title == "Jobs · bulk state:failed · 2 of 407"
        await pilot.press("escape")
        await app.settle()


async def test_refreshes_reuse_a_fresh_match_count_rather_than_count_again(db: Path, monkeypatch) -> None:
    """A filter on a common word: each refresh (several a second under load) ran its count query again."""
    await _many_jobs(db)
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        table = app.screen.query_one(JobsTable)
        await pilot.press("slash")
        await type_text(app, pilot, "bulk")
        await pilot.press("enter")
        await app.settle()
        assert table.border_title == "Jobs · bulk · 400 of 407"
        statements: list[str] = []
        reader = await app.queue.db._connection("_reader")  # the TUI's reads (SQLite)
        await reader.set_trace_callback(statements.append)
        monkeypatch.setattr(JobsTable, "RECOUNT_EVERY", 3600.0)
        for _ in range(3):
            app.request_refresh()
            await app.settle()
        assert statements and not [s for s in statements if "AS counted" in s]  # pages read, nothing counted
        assert table.border_title == "Jobs · bulk · 400 of 407"
        monkeypatch.setattr(JobsTable, "RECOUNT_EVERY", 0.0)  # the count has aged: the next refresh counts
        app.request_refresh()
        await app.settle()
        assert len([s for s in statements if "AS counted" in s]) == 1
        assert table.border_title == "Jobs · bulk · 400 of 407"
