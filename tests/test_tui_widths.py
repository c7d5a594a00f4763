"""Screens whose tables come in several widths (schedules, alerts, a work session): the columns that fit, nothing
past the right edge (no horizontal scrollbar, whose thumb showed as a stray ``▉``), times never cut,
and a resize across a width keeping the cursor on its row.

Same fixture as tests/test_tui_pilot.py (frozen clock): nightly-ads ran a
moment ago and is due in an hour, quarter-rollup is overdue, hourly-digest
is off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.text import Text

from queuetop.tui.screens.alerts import AlertsScreen
from queuetop.tui.screens.schedules import SchedulesScreen
from queuetop.tui.screens.session_detail import SessionDetailScreen
from queuetop.tui.widgets.alerts_table import AlertsTable, NarrowAlertsTable
from queuetop.tui.widgets.schedules_table import (MediumSchedulesTable, NarrowSchedulesTable, SchedulesTable)
from queuetop.tui.widgets.session_events_table import NarrowSessionEventsTable, SessionEventsTable
from queuetop.tui.widgets.threads_table import NarrowThreadsTable, ThreadsTable

from test_tui_pilot import press
from tui_app import any_db, db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import add_alerts, add_long_alert


def _cells(table: SchedulesTable, name: str) -> dict[str, str]:
    return {str(key.value): (cell.plain if isinstance(cell, Text) else str(cell))
            for key, cell in zip(table.columns, table.get_row(name))}


def _widths(table: SchedulesTable) -> dict[str, int]:
    return {str(key.value): column.get_render_width(table) - 2 * table.cell_padding
            for key, column in table.columns.items()}


@pytest.mark.parametrize(("size", "kind", "headers"), [
    ((80, 24), NarrowSchedulesTable, ["NAME", "ON", "NEXT RUN", "LAST RUN", "LAST ERROR"]),
    ((120, 40), MediumSchedulesTable, ["NAME", "CRON", "INTENT", "ON", "NEXT RUN", "LAST RUN", "LAST ERROR"]),
    ((160, 50), SchedulesTable, ["NAME", "CRON", "TZ", "KIND", "INTENT", "ACTIVE", "NEXT RUN", "LAST RUN", "LAST",
                                 "LAST ERROR"]),
], ids=["80x24", "120x40", "160x50"])
async def test_every_schedules_column_fits_and_no_time_or_name_is_cut(any_db: Path | str, size: tuple[int, int],
                                                                      kind: type, headers: list[str]) -> None:
    app = make_app(any_db)
    async with app.run_test(size=size) as pilot:
        await app.settle()
        await press(app, pilot, "s")
        table = app.screen.query_one(SchedulesTable)
        assert type(table) is kind
        assert [str(column.label) for column in table.ordered_columns] == headers
        # Every column is on screen: nothing hides past the right edge.
        assert table.virtual_size.width <= table.content_region.width
        width = _widths(table)
        for name in ("nightly-ads", "quarter-rollup", "mark-stale-workers-offline", "hourly-digest"):
            cells = _cells(table, name)
            for column in ("id", "next", "last"):
                assert "…" not in cells[column] and cell_len(cells[column]) <= width[column], (name, column)
        nightly, rollup, digest = (_cells(table, n) for n in ("nightly-ads", "quarter-rollup", "hourly-digest"))
        assert rollup["next"] == "overdue by 1h" and digest["next"] == "-"
        if kind is SchedulesTable:
            assert (nightly["next"], nightly["last"], nightly["status"]) == (
                "2026-01-01 01:00:00", "2025-12-31 23:59:50", "✓ ok")
        else:  # relative: the next run, and the last run's status with its age
            assert (nightly["next"], nightly["last"], nightly["active"]) == ("in 1h", "✓ 10s ago", "yes")


async def test_a_resize_across_a_width_changes_the_columns_and_keeps_the_cursor(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await app.settle()
        await press(app, pilot, "s", "j", "j")
        assert app.screen.query_one(SchedulesTable).selected_key == "quarter-rollup"
        await pilot.resize_terminal(80, 24)
        await app.workers.wait_for_complete()
        await app.settle()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SchedulesScreen)
        table = screen.query_one(SchedulesTable)
        assert type(table) is NarrowSchedulesTable and table.has_focus
        assert table.selected_key == "quarter-rollup"
        assert screen.query_one("#schedule-runs").border_title == "Runs · quarter-rollup"
        await press(app, pilot, "j")
        assert table.selected_key == "cleanup-old-events"


@pytest.mark.parametrize(("size", "kind"), [((80, 24), NarrowAlertsTable), ((99, 30), NarrowAlertsTable),
                                            ((100, 30), AlertsTable), ((160, 50), AlertsTable)],
                         ids=["80x24", "99x30", "100x30", "160x50"])
async def test_the_alerts_table_never_scrolls_sideways(any_db: Path | str, size: tuple[int, int], kind: type) -> None:
    app = make_app(any_db)
    async with app.run_test(size=size) as pilot:
        await app.settle()
        await add_alerts(app.queue)
        await add_long_alert(app.queue)  # schedule.missed, being delivered: the widest kind and state
        await press(app, pilot, "a")
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one(AlertsTable)
        assert type(table) is kind and table.row_count == 3
        assert _cells(table, "3")["status"] == "▶ delivering" and _cells(table, "3")["kind"] == "schedule.missed"
        assert table.virtual_size.width <= table.content_region.width
        assert not table.show_horizontal_scrollbar
        assert "▉" not in app.export_screenshot()


async def test_a_resize_keeps_the_alert_under_the_cursor(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await app.settle()
        await add_alerts(app.queue)
        await press(app, pilot, "a", "j")
        assert app.screen.query_one(AlertsTable).selected_key == "1"
        await pilot.resize_terminal(80, 24)
        await app.workers.wait_for_complete()
        await app.settle()
        await pilot.pause()
        table = app.screen.query_one(AlertsTable)
        assert type(table) is NarrowAlertsTable and table.has_focus and table.selected_key == "1"


@pytest.mark.parametrize(("size", "threads", "events"), [
    ((80, 24), NarrowThreadsTable, NarrowSessionEventsTable),
    ((120, 40), ThreadsTable, SessionEventsTable),
    ((160, 50), ThreadsTable, SessionEventsTable),
], ids=["80x24", "120x40", "160x50"])
async def test_a_work_session_s_tables_never_scroll_sideways_nor_cut_an_id(any_db: Path | str, size: tuple[int, int],
                                                                          threads: type, events: type) -> None:
    app = make_app(any_db)
    async with app.run_test(size=size) as pilot:
        await app.settle()
        await press(app, pilot, "tab", "enter")
        screen = app.screen
        assert isinstance(screen, SessionDetailScreen)
        await app.settle()
        for kind, table in ((threads, screen.query_one(ThreadsTable)), (events, screen.query_one(SessionEventsTable))):
            assert type(table) is kind and table.row_count > 0
            assert table.virtual_size.width <= table.content_region.width, kind
            for key in table.rows:
                assert "…" not in _cells(table, str(key.value))["id"]
        fields = screen.query_one("#session-fields")
        assert fields.content_region.height == (3 if size[0] < 110 else 2)  # no field wraps onto a line of its own
        assert "▉" not in app.export_screenshot()


async def test_a_resize_of_a_work_session_changes_its_tables(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await app.settle()
        await press(app, pilot, "tab", "enter")
        assert type(app.screen.query_one(ThreadsTable)) is ThreadsTable
        await pilot.resize_terminal(80, 24)
        await app.workers.wait_for_complete()
        await app.settle()
        await pilot.pause()
        screen = app.screen
        assert type(screen.query_one(ThreadsTable)) is NarrowThreadsTable and screen.query_one(ThreadsTable).has_focus
        assert type(screen.query_one(SessionEventsTable)) is NarrowSessionEventsTable
        assert screen.query_one(SessionEventsTable).row_count > 0
        assert screen.query_one("#session-fields").border_title.startswith("Work session ")
