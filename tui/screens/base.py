"""What every live screen shares: the stale banner and coming back up to date."""

from __future__ import annotations

import time
from typing import Any

from textual.screen import Screen

from ..host import host
from ..widgets.live_table import LiveTable
from ..widgets.stale_banner import StaleBanner


class LiveScreenBase(Screen[Any]):
    """A screen whose panes follow the database (see ``QueuetopApp.refresh_data``)."""

    async def refresh_data(self, topics: frozenset[str], job_ids: frozenset[int]) -> None:
        """Re-query the panes that show ``topics``."""

    def tick(self) -> None:
        """Ages move on: re-render the held rows, writing only the cells that changed, in one paint.

        A table a refresh drew in the last half second has its ages already.
        """
        now = time.monotonic()
        with self.app.batch_update():
            for table in self.query(LiveTable):
                if table.loaded and now - table.rendered_at >= 0.5:
                    table.rerender()

    def show_stale(self, reason: str | None, since: float | None) -> None:
        banner = self.query(StaleBanner)
        if not banner:
            return
        if reason is None or since is None:
            banner.first().show_fresh()
        else:
            banner.first().show_stale(reason, since)

    def on_mount(self) -> None:
        live = getattr(self.app, "live", None)
        if live is not None and live.stale_reason is not None:
            self.show_stale(live.stale_reason, live.stale_since)

    def on_screen_resume(self) -> None:
        host(self).request_refresh()
