"""The schedules screen at any width: the columns that fit, times never cut, relative where full times
do not fit, and a resize across a width keeping the cursor on its schedule.

Same fixture as tests/test_tui_pilot.py (frozen clock): nightly-ads ran a
moment ago and is due in an hour, quarter-rollup is overdue, hourly-digest
is off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.text import Text

from queuetop.tui.screens.schedules import SchedulesScreen
from queuetop.tui.widgets.schedules_table import (MediumSchedulesTable, NarrowSchedulesTable, SchedulesTable)

from test_tui_pilot import press
from tui_app import any_db, db, fixture_cache, make_app  # noqa: F401 (fixtures)


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
