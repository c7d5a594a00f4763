"""The dashboard header: totals by state, from counting queries only."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from queuetop.engine.api import Totals
from queuetop.engine.model.states import JobState

from .. import format as fmt

JOB_ORDER = [state.value for state in JobState]


class TotalsHeader(Static):
    """The queue's state and its workers, jobs by state, chunks by state."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("loading…", id=id)
        self._shown: Text | None = None

    def show(self, totals: Totals, *, read_only: bool, engine: str) -> None:
        """Render ``totals``; repaints only when the text changed."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("Queue ", style="bold")
        if totals.paused:
            text.append(" PAUSED ", style="bold reverse " + fmt.colour_of("stopping"))
        elif totals.engines:
            text.append(f"{fmt.state_glyph('running')} running", style=fmt.colour_of("running"))
        else:  # nothing heartbeats: no work is being done, whatever is pending
            text.append(f"{fmt.state_glyph('stale')} stopped", style="bold " + fmt.colour_of("stale"))
        if totals.alerts_undelivered or totals.alerts_recent:
            # The badge: alerts waiting for delivery, and raised in the last hour (`a` lists them).
            # Before the engine line, which is long: at 80 columns the badge must still show.
            style = "bold reverse " + fmt.colour_of("failed" if totals.alerts_undelivered else "partial")
            text.append("  ")
            text.append(f" alerts: {totals.alerts_undelivered} undelivered, {totals.alerts_recent} recent ",
                        style=style)
        if read_only:
            text.append("   READ-ONLY", style="bold " + fmt.colour_of("partial"))
        # Workers on the first line, before the engine line that is cut first: on the chunks line
        # they were pushed past the edge at 80 columns. States with no workers are left out.
        text.append("   Workers", style="bold")
        for name in ("online", "stale", "stopping", "offline"):
            count = totals.workers.get(name, 0)
            if name != "online" and not count:
                continue
            text.append(f" {fmt.number(count)} ", style="bold" if count else "dim")
            text.append(name, style=fmt.colour_of(name) if count else "dim")
        text.append(f"   {engine}", style="dim" if totals.engines else fmt.colour_of("stale"))
        text.append("\n")
        text.append("Jobs   ", style="bold")
        for name in JOB_ORDER:
            count = totals.jobs.get(name, 0)
            text.append(f"{fmt.number(count)} ", style="bold" if count else "dim")
            text.append(name, style=fmt.colour_of(name) if count else "dim")
            text.append("  ")
        text.append("\n")
        text.append("Chunks ", style="bold")
        for name, count in (("pending", totals.chunks_pending), ("processing", totals.chunks_processing),
                            ("completed", totals.chunks_completed), ("failed", totals.chunks_failed)):
            text.append(f"{fmt.number(count)} ", style="bold" if count else "dim")
            text.append(name, style=fmt.colour_of(name) if count else "dim")
            text.append("  ")
        if text != self._shown:
            # Three lines every time: only the first needs a layout (not the whole screen's per change).
            first = self._shown is None
            self._shown = text
            self.update(text, layout=first)
