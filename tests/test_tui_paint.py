"""How the tables paint: a change repaints the rows it touched, and every line looks as DataTable paints it.

The app runs on a fresh copy of the fixture database (tests/tui_fixtures.py)
with a frozen clock and no workers. Speed is measured in bench/tui.py, never here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter

from queuetop.tui.widgets.jobs_table import JobsTable
from queuetop.tui.widgets.row_table import RowCachedTable

from tui_app import SCENES, db, fixture_cache, make_app  # noqa: F401 (fixtures)
from tui_fixtures import SIZE


def row_line(table: RowCachedTable, key: str) -> str:
    """The text the table paints for row ``key`` (one line)."""
    index = table.get_row_index(key)
    return table.render_line(index + (1 if table.show_header else 0) - round(table.scroll_y)).text


async def test_a_changed_job_repaints_its_row_alone(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.pause()
        table = app.screen.query_one(JobsTable)
        assert "pending" in row_line(table, "6")
        painted = table._painted.misses
        await app.queue.cancel(6)
        await app.settle()
        await pilot.pause()
        assert "cancelled" in row_line(table, "6")
        # One row changed: one line painted again (the header and the other rows come from the cache).
        assert table._painted.misses - painted == 1
        # The cursor moving repaints the two rows it leaves and lands on, no other.
        painted = table._painted.misses
        await pilot.press("j")
        await pilot.pause()
        assert table.cursor_row == 1
        assert table._painted.misses - painted == 2


async def test_tagging_repaints_the_tagged_row(db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.pause()
        table = app.screen.query_one(JobsTable)
        assert "●" not in row_line(table, "7")
        await pilot.press("space")
        await pilot.pause()
        assert row_line(table, "7").startswith(" ●")
        await pilot.press("space")
        await pilot.pause()
        assert "●" not in row_line(table, "7")


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["160x50", "80x24"])
@pytest.mark.parametrize("scene", ["dashboard", "dashboard_tagged_filtered", "job_detail", "queues"])
async def test_every_line_is_painted_as_datatable_paints_it(scene: str, size: tuple[int, int], db: Path) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await SCENES[scene](pilot)
        await pilot.pause()
        tables = list(app.screen.query(RowCachedTable))
        assert tables
        compared = 0
        for table in tables:
            if not table.display or not table.size.height:
                continue
            table._pseudo_class_state = table.get_pseudo_class_state()
            x, style = table.scroll_offset.x, table.rich_style
            for y in range(table.size.height):
                line = y + (round(table.scroll_y) if y >= table.header_height else 0)
                ours = table._render_line(line, x, x + table.size.width, style)
                theirs = DataTable._render_line(table, line, x, x + table.size.width, style)
                assert [(s.text, s.style) for s in ours] == [(s.text, s.style) for s in theirs], (table.id, y)
                compared += 1
            # The columns that size to their content are as wide as DataTable's measure makes them.
            console = app.console
            for column in table.ordered_columns:
                if column.auto_width:
                    cells = [default_cell_formatter(table.get_cell(row, column.key), wrap=False, height=1)
                             for row in table.rows]
                    widest = max([measure(console, column.label, 1)] + [measure(console, c, 1) for c in cells])
                    assert column.content_width == widest, (table.id, column.key)
        assert compared


async def test_a_job_screen_paints_its_chunks_at_their_fitted_widths_first(db: Path) -> None:
    """The chunks are applied in the screen's mount, before the table has a size: its columns are
    fitted when the layout sizes it, so the first paint is not one at provisional widths that a
    second layout and whole paint then correct."""
    from queuetop.tui.screens.job_detail import JobDetailScreen
    from queuetop.tui.widgets.chunks_table import ChunksTable

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.settle()
        await pilot.pause()
        first: list[dict[str, int]] = []
        display = app._display

        def noting(screen: object, renderable: object) -> None:
            if not first and isinstance(app.screen, JobDetailScreen) and renderable is not None:
                table = app.screen.query_one(ChunksTable)
                if table.row_count:
                    first.append({str(key.value): column.get_render_width(table)
                                  for key, column in table.columns.items()})
            display(screen, renderable)

        setattr(app, "_display", noting)  # watches the paints, as the terminal path would get them
        await pilot.press("j", "j", "enter")  # job 5
        await app.settle()
        await pilot.pause()
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == 5
        table = app.screen.query_one(ChunksTable)
        fitted = {str(key.value): column.get_render_width(table) for key, column in table.columns.items()}
        assert first == [fitted]
