"""Schedule run detail: one firing of a schedule and its whole error."""

from __future__ import annotations

from queuetop.engine.model.display import duration, timestamp
from queuetop.engine.model.records import ScheduleRun

from .detail import DetailScreen, Section, fields


class RunDetailScreen(DetailScreen):
    """One schedule run (as read when it was opened)."""

    def __init__(self, run: ScheduleRun, schedule: str) -> None:
        super().__init__()
        self.run = run
        self.schedule = schedule

    async def load(self) -> tuple[str, list[Section]]:
        r = self.run
        took = duration(r.finished_at - r.started_at) if r.finished_at is not None else "running"
        return f"Run {r.id} of {self.schedule} · {r.status}", [
            Section("Run", fields(("schedule", self.schedule), ("status", r.status),
                                  ("scheduled for", timestamp(r.scheduled_for)), ("started", timestamp(r.started_at)),
                                  ("finished", timestamp(r.finished_at)), ("took", took), ("job", r.job_id),
                                  ("worker", r.worker_id))),
            Section("Error", r.error or "-", "red1" if r.error else "dim"),
        ]
