"""Event detail: one coordination event and its whole payload as indented JSON."""

from __future__ import annotations

from queuetop.engine.model.display import timestamp

from ..sessions import EventView
from .detail import DetailScreen, Section, fields, pretty


class EventDetailScreen(DetailScreen):
    """One stored event (events do not change once stored)."""

    def __init__(self, event: EventView) -> None:
        super().__init__()
        self.event = event

    async def load(self) -> tuple[str, list[Section]]:
        e = self.event
        return f"Event #{e.id} · {e.type}", [
            Section("Event", fields(("time", timestamp(e.ts)), ("type", e.type), ("agent", e.agent),
                                    ("session", e.session_id), ("category", e.category), ("summary", e.summary))),
            Section("Payload", pretty(e.data)),
        ]
