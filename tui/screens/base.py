"""What every live screen shares: the stale banner, coming back up to date, and the clock's repaints."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual import work
from textual.events import Resize, ScreenResume
from textual.screen import Screen

from .. import format as fmt
from ..host import host
from ..widgets.live_table import LiveTable
from ..widgets.stale_banner import StaleBanner


RECENT = 0.75  # seconds: a table drawn this recently is not drawn again for the clock


class LiveScreenBase(Screen[Any]):
    """A screen whose panes follow the database (see ``QueuetopApp.refresh_data``).

    Tables shown through :meth:`show_rows` or :meth:`reload_table` remember when their
    clock-drawn cells (ages, countdowns, due times) next read differently;
    :meth:`tick` re-renders a table only then. A table drawn some other way
    (a page fetched, a resize) is re-rendered at the next tick once, which
    tells when it is due again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # table -> (its rendered_at when watched, the engine-clock time its clock-drawn cells change)
        self._clock_due: dict[LiveTable[Any], tuple[float, float]] = {}
        self._keep: str | None = None  # the row under the cursor when a table was made again for a width
        self.recent = RECENT
        # Shown first with data read before it was pushed: its first resume asks for no refresh.
        self.opened_with_data = False
        self._styled_at: int | None = None  # the app's CSS generation its widgets were styled for
        # LiveUpdates.changes when it was last refreshed while shown (None: never)
        self.current_as_of: int | None = None

    # -- tables made for the terminal's width ------------------------------------------

    def refit(self, kind: type[LiveTable[Any]], pick: Callable[[int], type[LiveTable[Any]]], width: int) -> None:
        """Compose the screen again when the ``kind`` table shown is not the one ``pick`` chooses for ``width``.

        The table then comes back empty: the refresh that fills it puts the
        cursor back on its row (:meth:`keep_cursor`).
        """
        tables = self.query(kind)
        if tables and type(tables.first()) is not pick(width):
            self._keep = tables.first().selected_key
            self._recompose(kind)

    @work(group="refit", exclusive=True)
    async def _recompose(self, kind: type[LiveTable[Any]]) -> None:
        await self.recompose()
        self.query_one(kind).focus()
        host(self).request_refresh()

    def keep_cursor(self, table: LiveTable[Any]) -> None:
        """After a table made again was filled: the cursor on the row it was on."""
        if self._keep is not None:
            keep, self._keep = self._keep, None
            if keep in table.rows:
                table.move_cursor(row=table.get_row_index(keep), scroll=False)

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        """Re-query the panes that show ``topics``."""

    def show_rows(self, table: LiveTable[Any], records: Any, total: int) -> None:
        """``table.apply(records, total)``, noting when what it shows changes with the clock."""
        with fmt.CLOCK_CELLS.watch() as seen:
            table.apply(records, total)
        self._clock_due[table] = (table.rendered_at, table.now() + seen.within)

    async def reload_table(self, table: LiveTable[Any], *, anchor: bool = True) -> None:
        """``table.reload()`` through :meth:`show_rows`."""
        records, total = await table.load(anchor=anchor)
        self.show_rows(table, records, total)

    def clock_due(self, table: LiveTable[Any]) -> bool:
        """True when ``table`` shows a clock-drawn cell that reads differently by now (or nobody knows).

        Never for a table drawn in the last ``recent`` (RECENT) seconds: under load the
        refreshes (about one a second) draw the ages anew, and a tick between
        two of them would paint the whole table once more for one second's
        difference.
        """
        if time.monotonic() - table.rendered_at < self.recent:
            return False
        seen = self._clock_due.get(table)
        if seen is None or seen[0] != table.rendered_at:
            return True  # drawn without a watch: once, to learn when it is due
        return table.now() >= seen[1]

    def tick(self) -> None:
        """Ages move on: re-render the tables whose clock-drawn cells changed, writing only those cells, in one paint.

        A table whose every age is in days is left alone until its next day
        boundary, so an idle screen does nothing.
        """
        with self.app.batch_update():
            for table in self.query(LiveTable):
                if not table.loaded or not self.clock_due(table):
                    continue
                with fmt.CLOCK_CELLS.watch() as seen:
                    table.rerender()
                self._clock_due[table] = (table.rendered_at, table.now() + seen.within)

    def show_stale(self, reason: str | None, since: float | None) -> None:
        banner = self.query(StaleBanner)
        if not banner:
            return
        if reason is None or since is None:
            banner.first().show_fresh()
        else:
            banner.first().show_stale(reason, since)

    def on_mount(self) -> None:
        self._styled_at = getattr(self.app, "_css_update_count", None)  # styled as it mounts
        live = getattr(self.app, "live", None)
        if live is not None and live.stale_reason is not None:
            self.show_stale(live.stale_reason, live.stale_since)

    def _on_screen_resume(self, event: ScreenResume) -> None:
        """Coming back up to date, without styling every widget again when the CSS is as it was.

        Textual restyles the whole screen when one is pushed: right after the
        mount that styled every widget, or (a screen kept and pushed again)
        for the CSS it was styled for when it last showed. That pass costs
        3-10 ms before the first paint, and it makes every table paint all
        its rows again. A new theme (the CSS changed) still restyles it.
        """
        generation = getattr(self.app, "_css_update_count", None)
        if generation is not None and generation == self._styled_at:
            event.refresh_styles = False
        self._styled_at = generation
        if self.opened_with_data:  # first shown with its data: the rest is loading already
            self.opened_with_data = False
            return
        live = host(self).live
        if live is not None and self.current_as_of == live.changes and not live.dirty:
            return  # nothing changed while it was hidden: what it shows is current (ages move by the tick)
        host(self).request_refresh()

    def _on_resize(self, event: Resize) -> None:
        """A resize to the size the screen was last laid out at lays out nothing again.

        A screen just pushed is laid out in its resume, then gets a resize
        for the size it was laid out at: Textual would lay it out, and the
        screen under it, once more (and paint them), a second layout after
        its first paint that the next key would meet. A real change of size
        goes on to Textual's handler.
        """
        if event.size == self._compositor.size:  # a layout still due is the next frame's
            event.prevent_default()
