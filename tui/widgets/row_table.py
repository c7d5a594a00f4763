"""A DataTable that paints a row again only when that row changed.

DataTable keys every render cache it has by one count of all changes to the
table: after any ``update_cell`` or ``add_row`` each visible cell goes
through Rich again (``Padding`` in ``Styled`` through ``render_lines``), about
40-60 ms for a pane at 160x50. This table keys each painted line by its row's
key and a version that changes only when that row's cells are written, with
what else decides how the line looks (its place, the cursor and the mouse on
it, the column widths, the widget's width and styles). A one-line ``Text``
cell is rendered straight to segments (the same segments, without the
wrapping machinery), and cells written through :meth:`write_cells` repaint
their row's region alone.

It covers the tables queuetop builds (row cursor, rows one line high, no row
labels, no fixed rows or columns); any other configuration paints as
DataTable does.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import count
from typing import Any

from rich.cells import cell_len
from rich.console import RenderableType
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.render import measure
from textual.renderables.styled import Styled
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter
from textual.widgets.data_table import CellType, ColumnKey, RowKey

_EMPTY = Text("", end="")


class RowCachedTable(DataTable[RenderableType]):
    """DataTable with painted lines cached per row key and row version."""

    LINE_CACHE = 200  # painted lines kept: three screens of rows

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._row_versions: dict[str, int] = {}
        self._versions = count(1)
        self._painted: LRUCache[tuple[object, ...], Strip] = LRUCache(self.LINE_CACHE)
        self._paint_style: Style | None = None

    # -- writing -------------------------------------------------------------------

    def add_row(self, *cells: CellType, height: int | None = 1, key: str | None = None,
                label: Any = None) -> RowKey:
        row_key = super().add_row(*cells, height=height, key=key, label=label)
        if row_key.value is not None:
            self._row_versions[row_key.value] = next(self._versions)
        return row_key

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        self._row_versions.pop(row_key.value if isinstance(row_key, RowKey) else row_key, None)

    def write_cells(self, key: str, cells: Iterable[tuple[ColumnKey, RenderableType]]) -> None:
        """Write cells of row ``key`` and repaint that row's lines only.

        Column widths are not measured again (as ``update_cell`` without
        ``update_width``).
        """
        row = self._data[RowKey(key)]
        for column, value in cells:
            row[column] = value
        self._row_versions[key] = next(self._versions)
        # DataTable's own caches are keyed by this count: what they hold of this row is stale.
        self._update_count += 1
        self._drop_stale_caches()
        self.refresh_row(self._row_locations.get(RowKey(key)))

    def _drop_stale_caches(self) -> None:
        """Forget what DataTable cached under earlier change counts (never used again).

        The painted lines of this table and the widget's own line cache stay:
        rows that did not change are not painted again.
        """
        self._row_render_cache.clear()
        self._cell_render_cache.clear()
        self._row_renderable_cache.clear()
        self._line_cache.clear()
        self._offset_cache.clear()
        self._ordered_row_cache.clear()

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._painted.clear()

    def notify_style_update(self) -> None:
        self._painted.clear()
        super().notify_style_update()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Widen content-sized columns for ``new_rows``, and size the scrollable area.

        As DataTable's, with a ``Text`` cell measured from its lines (what its
        ``__rich_measure__`` returns as the maximum, without splitting it into
        words for the minimum nobody reads here).
        """
        rows = [key for key in new_rows if key in self._row_locations]
        if any(self.rows[key].label is not None or self.rows[key].auto_height for key in rows):
            super()._update_dimensions(rows)
            return
        columns = self.ordered_columns
        console = self.app.console
        for key in rows:
            data = self._data[key]
            for column in columns:
                value = data.get(column.key)
                cell = _EMPTY if value is None else default_cell_formatter(value, wrap=False, height=1) or _EMPTY
                if isinstance(cell, Text):
                    width = max((cell_len(line) for line in cell.plain.splitlines()), default=0)
                else:
                    width = measure(console, cell, 1)
                if width > column.content_width:
                    column.content_width = width
        self.virtual_size = Size(
            sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width,
            self._total_row_height + (self.header_height if self.show_header else 0))

    # -- painting ------------------------------------------------------------------

    def _paints_rows(self) -> bool:
        """Whether this table is one the row cache covers (else DataTable paints it)."""
        return (self.cursor_type == "row" and not self.fixed_rows and not self.fixed_columns
                and not (self._labelled_row_exists and self.show_row_labels) and self.header_height == 1)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_style = self.rich_style  # the widget's style, worked out once a paint, not once a line
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if not self._paints_rows():
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self._paint_style or self.rich_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        if not self._paints_rows():
            return super()._render_line(y, x1, x2, base_style)
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        if line_no:
            return super()._render_line(y, x1, x2, base_style)  # a row taller than one line
        header = row_key is self._header_row_key
        row_index = -1 if header else self._row_locations.get(row_key)
        if row_index is None:
            return super()._render_line(y, x1, x2, base_style)
        columns = self.ordered_columns
        widths = tuple(column.get_render_width(self) for column in columns)
        version: object = (tuple(column.label.markup for column in columns) if header
                           else self._row_versions.get(str(row_key.value)))
        if version is None:
            return super()._render_line(y, x1, x2, base_style)
        cursor = row_index == self.cursor_coordinate.row
        hover = row_index == self.hover_coordinate.row
        key = (row_key, version, row_index, x1, x2, width, widths, cursor, hover, base_style,
               self.show_cursor, self._show_hover_cursor, self._pseudo_class_state, self.cell_padding,
               self.cursor_foreground_priority, self.cursor_background_priority, self.zebra_stripes)
        strip = self._painted.get(key)
        if strip is None:
            segments = self._paint_row(row_key, row_index, base_style, cursor, hover, widths)
            strip = Strip(line_crop(segments, x1, x2, width)).adjust_cell_length(width, base_style).simplify()
            self._painted.set(key, strip)
        return strip

    def _paint_row(self, row_key: RowKey, row_index: int, base_style: Style, cursor: bool, hover: bool,
                   widths: tuple[int, ...]) -> list[Segment]:
        """One row's line, as DataTable's ``_render_line_in_row`` would paint it."""
        header = row_index == -1
        row_style = self._get_row_style(row_index, base_style)
        component, post = self._get_styles_to_render_cell(
            header, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        data = None if header else self._data[row_key]
        segments: list[Segment] = []
        for index, (column, width) in enumerate(zip(self.ordered_columns, widths)):
            if data is None:
                cell: RenderableType = column.label
            else:
                value = data.get(column.key)
                cell = _EMPTY if value is None else default_cell_formatter(value, wrap=False, height=1) or _EMPTY
            pre = row_style + Style.from_meta({"row": row_index, "column": index}) + component
            segments.extend(self._paint_cell(cell, width, pre, post))
        extend_style, _ = self._get_styles_to_render_cell(
            header, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False)
        extend_style = row_style + extend_style + Style.from_meta(
            {"row": row_index, "column": 0, "out_of_bounds": True})
        remaining = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        segments.append(Segment(" " * remaining, extend_style))
        return segments

    def _paint_cell(self, cell: RenderableType, width: int, pre: Style, post: Style) -> list[Segment]:
        """One cell, padded, ``width`` cells wide, styles applied as DataTable applies them."""
        padding = self.cell_padding
        inner = width - 2 * padding
        if (isinstance(cell, Text) and inner > 0 and cell.justify in (None, "default")
                and cell.overflow in (None, "fold", "crop") and "\n" not in cell.plain and "\t" not in cell.plain):
            console = self.app.console
            if cell.spans:
                rendered = list(cell.render(console))
            else:  # Text.render drops the style of a Text without spans (rendering it whole keeps it)
                rendered = [Segment(cell.plain, console.get_style(cell.style, default=Style.null()) or None)]
            line = Segment.adjust_line_length(rendered, inner)
            if padding:
                line = [Segment(" " * padding), *line, Segment(" " * padding)]
            return list(Segment.apply_style(line, pre, post))
        options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
        lines = self.app.console.render_lines(Styled(Padding(cell, (0, padding)), pre_style=pre, post_style=post),
                                              options)
        return lines[0] if lines else [Segment(" " * width, pre)]
