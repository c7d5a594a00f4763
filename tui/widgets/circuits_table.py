"""HTTP circuit breakers by host: open ones first; the pane shows only when there are any."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.text import Text

from ..host import host
from .. import format as fmt
from .live_table import Col, LiveTable


class CircuitsTable(LiveTable[Any]):
    """Host, state, consecutive failures, openings, next probe, last error."""

    TITLE = "HTTP circuits"
    MARGIN = 0
    COLUMNS: ClassVar[tuple[Col, ...]] = (
        Col("id", "HOST"),
        Col("state", "STATE"),
        Col("failures", "FAILS", 5),
        Col("opens", "OPENS", 5),
        Col("probe", "PROBE IN", 8),
        Col("error", "LAST ERROR", 12, flex=True, min=6),
    )

    def on_mount(self) -> None:
        self.display = False  # until some host has a breaker

    async def fetch(self, offset: int, limit: int) -> tuple[Sequence[Any], int]:
        circuits = getattr(host(self).queue, "circuits", None)
        if circuits is None:  # an engine without HTTP circuit breakers
            return [], 0
        rows = list(await circuits())
        self.display = bool(rows)
        self.styles.height = min(len(rows), 5) + 3  # header and borders
        return rows[offset:offset + limit], len(rows)

    def key_of(self, record: Any) -> str:
        return str(record.host)

    def render_record(self, c: Any, now: float) -> Sequence[RenderableType]:
        state = getattr(c.state, "value", str(c.state))
        probe = "-"
        if state == "open" and c.half_open_at is not None:
            probe = fmt.until(c.half_open_at - now)
        elif state == "half_open":
            probe = "probing" if c.probe_in_flight else "now"
        return (
            str(c.host),
            fmt.state(state, bold=state != "closed"),
            str(c.failures),
            str(c.opens),
            probe,
            Text(fmt.clip(c.last_error, 400), style="dim"),
        )
