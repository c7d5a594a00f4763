"""A DataTable that updates in place and holds one window of a long list.

Subclasses say how to fetch a window (``LIMIT``/``OFFSET`` through the engine's
API) and how to render one record; :meth:`LiveTable.sync` then applies only
what changed: changed cells written in place (their row alone is painted
again), ``add_row``/``remove_row`` for rows that came or went, and a re-order
when the order moved. The cursor stays on the same row key (selection follows
its row) and the scroll position is not touched. Moving past either end of
the window fetches the next window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from rich.console import RenderableType
from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

from .. import format as fmt
from ..host import host
from ..messages import LoadFailed
from .row_table import RowCachedTable

R = TypeVar("R")

TAG_MARK = Text("●", style="bold magenta", no_wrap=True)
NO_TAG = Text(" ", no_wrap=True)


@dataclass(frozen=True)
class Col:
    """One column: its key, its header, and its width.

    ``width`` None: the column sizes to its content and is never cut (ids,
    states, counts). A ``flex`` column (params, errors, summaries) takes what
    the pane has left, ``width`` when it fits, never less than ``min``, and
    its cells end with ``…`` when cut; the last flex column takes any room
    to spare. Otherwise ``width`` is fixed.
    """

    key: str
    label: str
    width: int | None = None
    flex: bool = False
    min: int = 4


class LiveTable(RowCachedTable, Generic[R]):
    """A windowed, diff-updated table of engine records."""

    COLUMNS: ClassVar[tuple[Col, ...]] = ()
    KEY_COLUMN: ClassVar[str] = "id"  # its cell's text is the row key
    TAGGABLE: ClassVar[bool] = False
    MARGIN: ClassVar[int] = 10  # rows fetched beyond what the pane can show
    TITLE: ClassVar[str] = ""
    # A feed (newest first): a cursor on the first row stays there as new rows
    # arrive above it, instead of following its row down.
    PIN_TOP: ClassVar[bool] = False
    # Rows fetched past the window so the cursor's row is still found after this many arrive above it.
    SLACK: ClassVar[int] = 40
    FAR: ClassVar[int] = 1_000  # how much further a second look goes when the slack was not enough

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g,home", "first", "First row", show=False, id="table.first"),
        Binding("G,end", "last", "Last row", show=False, id="table.last"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.window_start = 0
        self.total = 0
        self.records: list[R] = []
        self.tagged: set[str] = set()
        self._cells: dict[str, tuple[RenderableType, ...]] = {}
        self._keys: list[str] = []
        self.loaded = False
        self.rendered_at = 0.0  # time.monotonic() of the last rerender
        self._fitted_width: int | None = None  # the pane's width at the last rerender
        # [tui] tag_moves_down: space tags and moves on, as in file managers
        self.tag_moves_down = False

    # -- what subclasses provide ---------------------------------------------------

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[R], int]:
        """One window of records and the total count (a COUNT query)."""
        raise NotImplementedError

    def key_of(self, record: R) -> str:
        """The row key of ``record`` (also its KEY_COLUMN cell's text)."""
        raise NotImplementedError

    def render_record(self, record: R, now: float) -> Sequence[RenderableType]:
        """The cells of ``record``, KEY_COLUMN included, in COLUMNS order."""
        raise NotImplementedError

    def now(self) -> float:
        """The time used for ages: the engine's clock."""
        return host(self).queue.clock.now()

    # -- set-up --------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.TAGGABLE:
            self.add_column(" ", key="tag", width=1)
        for col in self.COLUMNS:
            self.add_column(col.label, key=col.key, width=col.width)
        self.border_title = self.TITLE
        self._update_subtitle()
        config = getattr(self.app, "config", None)
        self.tag_moves_down = bool(config is not None and config.tui.get("tag_moves_down"))

    def on_resize(self) -> None:
        if self.loaded and self.size.width != self._fitted_width:  # else fitted already, as the layout sized it
            self.rerender()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        """The layout gave the pane a new width: fit the columns to it before the paint that follows.

        Rows applied before the pane had a size (a screen's first data, in its
        mount) were drawn with provisional column widths; fitted only in the
        resize handler, the screen would paint twice, the second time whole.
        """
        resized = super()._size_updated(size, virtual_size, container_size, layout)
        if resized and self.loaded and size.width != self._fitted_width:
            self.rerender()
        return resized

    # -- column widths ------------------------------------------------------------

    def fit_columns(self) -> dict[str, int]:
        """Share the pane's width among the flex columns; returns their widths (cells)."""
        flex = [col for col in self.COLUMNS if col.flex]
        if not flex or not self.size.width:
            return {col.key: col.width or col.min for col in flex}
        padding = 2 * self.cell_padding
        keys = {col.key for col in flex}
        fixed = sum(column.get_render_width(self) for key, column in self.columns.items()
                    if key.value not in keys)
        room = self.content_region.width - 1 - fixed - padding * len(flex)  # 1: the scrollbar
        wanted = [col.width or col.min for col in flex]
        if room >= sum(wanted):
            widths = list(wanted)
            widths[-1] += room - sum(wanted)
        else:
            spare = max(0, room - sum(col.min for col in flex))
            above = sum(w - col.min for w, col in zip(wanted, flex)) or 1
            widths = [col.min + (w - col.min) * spare // above for w, col in zip(wanted, flex)]
        fitted = {col.key: w for col, w in zip(flex, widths)}
        changed = False
        for column_key, column in self.columns.items():
            width = fitted.get(str(column_key.value))
            if width is not None and (column.width != width or column.auto_width):
                column.width, column.auto_width = width, False
                changed = True
        if changed:
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()
        return fitted

    def _refresh_content_widths(self) -> None:
        """Measure the content-sized columns now (DataTable does it only when it next paints)."""
        if self._updated_cells:
            updated = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def _fit(self, cells: tuple[RenderableType, ...], widths: dict[str, int]) -> tuple[RenderableType, ...]:
        """Cut the flex columns' cells to their widths, ending with ``…``."""
        if not widths:
            return cells
        out = list(cells)
        for n, col in enumerate(self.COLUMNS):
            width = widths.get(col.key)
            if width is None or n >= len(out):
                continue
            cell = out[n]
            if isinstance(cell, Text):
                out[n] = fmt.clip_text(cell, width)
            elif isinstance(cell, str):
                out[n] = fmt.clip(cell, width)
        return tuple(out)

    @property
    def page_size(self) -> int:
        """Rows held: what the pane can show plus a margin."""
        visible = max(self.size.height - 1, 10) if self.size.height else 30
        return visible + self.MARGIN

    def back_to_top(self) -> None:
        """The window, the cursor and the scroll at the top (the rows are kept until the next apply)."""
        self.window_start = 0
        self.tagged.clear()
        if self.row_count and self.cursor_row:
            self.move_cursor(row=0, scroll=False)
        self.scroll_to(0, 0, animate=False, immediate=True)

    # -- data ----------------------------------------------------------------------

    async def reload(self, *, anchor: bool = True) -> None:
        """Fetch the current window again and apply the difference.

        The cursor keeps its row (by key) when rows arrive above it: a few
        rows past the window are fetched too, and unless the pane is at the
        top with the cursor's row still in sight (then it follows the new
        rows), the window moves down by as many rows as arrived above the
        cursor's, so the rows on screen stay where they were. ``anchor=False``
        (the operator moved the window, or changed what it lists) does not.
        """
        records, total = await self.load(anchor=anchor)
        self.apply(records, total)

    async def relist(self) -> None:
        """Show what the table lists now (a new filter or sort), from the top.

        The cursor stays on its row if that row is still listed; otherwise it
        goes to the first row, not to whichever row took its place.
        """
        selected = self.selected_key
        self.window_start = 0
        await self.reload(anchor=False)
        if self.row_count and (selected is None or self.selected_key != selected):
            self.move_cursor(row=0, scroll=False)

    async def load(self, *, anchor: bool = True) -> tuple[list[R], int]:
        """What :meth:`reload` shows, fetched but not applied (a screen applies several at once)."""
        key = None if self.PIN_TOP or not anchor else self.selected_key
        page = self.page_size
        records, total = await self.fetch(self.window_start, page + (self.SLACK if key is not None else 0))
        if not records and total and self.window_start:
            # The window fell past the end (rows went away): show the last one.
            self.window_start = max(0, total - page)
            records, total = await self.fetch(self.window_start, page)
        if key is not None:
            wanted = page + self.SLACK
            if len(records) == wanted and key not in {self.key_of(r) for r in records}:
                # More arrived above it than the slack holds: look further once.
                records, total = await self.fetch(self.window_start, min(10_000, wanted + self.FAR))
            records = self._keep_anchor(key, list(records))
        return list(records[:page]), total

    def _keep_anchor(self, anchor: str, records: list[R]) -> list[R]:
        """The window moved down past rows that arrived above ``anchor`` (the cursor's row), if it must."""
        keys = [self.key_of(r) for r in records]
        if anchor not in keys:
            return records  # it went away (or moved far): the cursor keeps its place in the window
        shift = keys.index(anchor) - self.cursor_row
        if shift <= 0:
            return records
        on_screen = keys.index(anchor) - round(self.scroll_y)
        if self.window_start == 0 and self.scroll_y == 0 and on_screen < self.visible_rows:
            return records  # at the top: new rows show, the cursor's row moves down with its job
        self.window_start += shift
        return records[shift:]

    @property
    def visible_rows(self) -> int:
        """Data rows the pane shows at once."""
        return max(1, self.scrollable_content_region.height - (self.header_height if self.show_header else 0))

    def apply(self, records: Sequence[R], total: int) -> None:
        """Show ``records`` (fetched already) as the window, ``total`` rows in all."""
        self.total = total
        self.records = list(records)
        self.loaded = True
        self.rerender()

    def rerender(self) -> None:
        """Render the held records again (ages move on) and apply the difference."""
        self.rendered_at = time.monotonic()
        self._fitted_width = self.size.width
        now = self.now()
        rendered = [(self.key_of(r), tuple(self.render_record(r, now))) for r in self.records]
        widths = self.fit_columns()
        self.sync([(key, self._fit(cells, widths)) for key, cells in rendered])
        # The columns that size to content may have grown with these rows: share the rest again.
        self._refresh_content_widths()
        again = self.fit_columns()
        if again != widths:
            self.sync([(key, self._fit(cells, again)) for key, cells in rendered])
        self._update_subtitle()

    def sync(self, rows: Sequence[tuple[str, tuple[RenderableType, ...]]]) -> int:
        """Make the table show ``rows``; returns how many cells were written."""
        selected = self.selected_key
        index = self.cursor_row
        if self.TAGGABLE:
            rows = [(key, (TAG_MARK if key in self.tagged else NO_TAG, *cells)) for key, cells in rows]
        # A str handed to DataTable is parsed as console markup at every paint:
        # text with "[" in it (an intent, an error) would lose it, and the
        # parse is most of what painting a row costs. Plain Text it is.
        rows = [(key, tuple(Text(c, no_wrap=True, end="") if isinstance(c, str) else c for c in cells))
                for key, cells in rows]
        keys = [key for key, _ in rows]
        wanted = set(keys)
        before = self._keys
        kept = set(before) & wanted
        written = 0
        removed = False
        for key in before:
            if key not in wanted:
                self.remove_row(key)
                del self._cells[key]
                removed = True
        column_keys = [column.key for column in self.ordered_columns]
        changed_rows: list[tuple[str, list[tuple[ColumnKey, RenderableType]]]] = []
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                written += len(cells)
            else:
                changed = [(column, now) for column, was, now in zip(column_keys, old, cells) if was != now]
                if changed:
                    changed_rows.append((key, changed))
                    written += len(changed)
            self._cells[key] = cells
        # Rows kept stay in their old order and new ones were appended.
        order = [k for k in before if k in kept] + [k for k in keys if k not in kept]
        self._keys = keys
        if order != keys:
            position = {key: n for n, key in enumerate(keys)}
            self.sort(self.KEY_COLUMN, key=lambda cell: position[str(cell)])
        # Changed cells repaint their rows alone (rows that came, went or moved repaint the table).
        for key, changed in changed_rows:
            self.write_cells(key, changed)
            for column, now in changed:
                # A content-sized column grows with a wider cell (a state or a
                # count is never cut): measured then only, as measuring a
                # column that did not grow would read every one of its cells.
                spec = self.columns[column]
                if spec.auto_width and isinstance(now, Text) and now.cell_len > spec.content_width:
                    self._updated_cells.add(CellKey(RowKey(key), column))
                    self.refresh()  # every row's lines move with the wider column
        if written or removed or order != keys:
            # DataTable keys its render caches by a count of every change: what
            # it cached before this one can never be used again, yet would stay
            # (up to 10,000 cells a table) until pushed out. Dropped now; the
            # painted rows of this table are kept by row and version instead.
            self._drop_stale_caches()
        if self.PIN_TOP and index == 0:
            target = 0
        elif selected is not None and selected in wanted:
            target = keys.index(selected)
        else:
            target = min(index, len(keys) - 1)
        if keys and target != self.cursor_row:
            self.move_cursor(row=max(target, 0), scroll=False)
        return written

    # -- selection -----------------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
        """The row key under the cursor, if any."""
        if not self._keys or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    @property
    def selected_record(self) -> R | None:
        key = self.selected_key
        for record in self.records:
            if self.key_of(record) == key:
                return record
        return None

    def opened(self, key: str, record: R | None) -> Message | None:
        """The message ``enter`` on row ``key`` posts (``record`` is that row's, if loaded).

        None: nothing opens. A table that does not override this opens
        nothing and lets the selection go on up to its screen.
        """
        return None

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        if type(self).opened is LiveTable.opened:
            return
        event.stop()
        if event.row_key.value is None:
            return
        message = self.opened(event.row_key.value, self.selected_record)
        if message is not None:
            self.post_message(message)

    def action_toggle_tag(self) -> None:
        """Tag or untag the row under the cursor; the cursor stays (``tag_moves_down`` moves it on)."""
        key = self.selected_key
        if key is None or not self.TAGGABLE:
            return
        self.tagged.symmetric_difference_update({key})
        cells = self._cells[key]
        cells = (TAG_MARK if key in self.tagged else NO_TAG, *cells[1:])
        self._cells[key] = cells
        self.write_cells(key, [(ColumnKey("tag"), cells[0])])
        self._update_subtitle()
        if self.tag_moves_down:
            self.action_cursor_down()

    def clear_tags(self) -> None:
        for key in list(self.tagged):
            if key in self._cells:
                self._cells[key] = (NO_TAG, *self._cells[key][1:])
                self.write_cells(key, [(ColumnKey("tag"), NO_TAG)])
        self.tagged.clear()
        self._update_subtitle()

    # -- moving past the window ----------------------------------------------------------

    def action_cursor_down(self) -> None:
        if self.cursor_row >= self.row_count - 1 and self.window_start + self.row_count < self.total:
            self._shift(self.window_start + max(1, self.page_size // 2), "down")
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0 and self.window_start > 0:
            self._shift(max(0, self.window_start - max(1, self.page_size // 2)), "up")
        else:
            super().action_cursor_up()

    def action_first(self) -> None:
        if self.window_start:
            self._shift(0, "first")
        elif self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        end = max(0, self.total - self.page_size)
        if self.window_start != end and self.total > self.row_count:
            self._shift(end, "last")
        elif self.row_count:
            self.move_cursor(row=self.row_count - 1)

    @work(group="page", exclusive=True)
    async def _shift(self, offset: int, then: str) -> None:
        self.window_start = offset
        try:
            await self.reload(anchor=False)
        except Exception as exc:  # the live loop shows it and retries
            self.post_message(LoadFailed(exc))
            return
        if not self.row_count:
            return
        if then == "down":
            self.move_cursor(row=min(self.cursor_row + 1, self.row_count - 1))
        elif then == "up":
            self.move_cursor(row=max(self.cursor_row - 1, 0))
        elif then == "first":
            self.move_cursor(row=0)
        else:
            self.move_cursor(row=self.row_count - 1)

    def _update_subtitle(self) -> None:
        if not self.total:
            text = "none" if self.loaded else "loading…"
        else:
            text = f"{self.window_start + 1:,}–{self.window_start + self.row_count:,} of {self.total_text()}"
        if self.tagged:
            text = f"{len(self.tagged)} tagged · {text}"
        self.set_subtitle(text)

    def total_text(self) -> str:
        """How many rows the table lists in all, as the subtitle says it."""
        return f"{self.total:,}"

    def set_subtitle(self, text: str) -> None:
        """Set the border subtitle; an unchanged one repaints nothing."""
        if self.border_subtitle != text:
            self.border_subtitle = text

