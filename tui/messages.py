"""Every message the TUI posts: from the engine and widgets up to screens and the app.

Widgets and the live-update loop post these; screens and the app handle them
("messages up, actions down"). Screens tell widgets what to do by calling
their methods.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from queuetop.engine.model.changes import Change


class EngineChanged(Message):
    """The engine in this process changed something (a ``queue.changes`` notice)."""

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change


class EventsArrived(Message):
    """The tailer stored new events (an ``EventBatch`` from ``Tailer.subscribe``)."""

    def __init__(self, batch: Any) -> None:
        super().__init__()
        self.batch = batch


class DataStale(Message):
    """Reading the database failed or hangs: panes keep their last data."""

    def __init__(self, reason: str, since: float) -> None:
        super().__init__()
        self.reason = reason
        self.since = since


class DataFresh(Message):
    """Reading the database works again."""


class LoadFailed(Message):
    """A widget's own query (paging, a filter) failed; the live loop takes over."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error



class JobSelected(Message):
    """Enter on a job: open its detail screen."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


class SessionSelected(Message):
    """Enter on a work session: open its detail screen."""

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id


class ChunkSelected(Message):
    """Enter on a chunk: open its detail (params, result, error, every attempt)."""

    def __init__(self, job_id: int, chunk_index: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.chunk_index = chunk_index


class EventSelected(Message):
    """Enter on an event: open its whole payload."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class WorkerSelected(Message):
    """Enter on a worker: what it holds and its last errors."""

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self.worker = worker


class AlertSelected(Message):
    """Enter on an alert: its fields, every delivery attempt, the redacted webhook."""

    def __init__(self, alert_id: int) -> None:
        super().__init__()
        self.alert_id = alert_id


class RunSelected(Message):
    """Enter on a schedule run: its whole error."""

    def __init__(self, run: Any, schedule: str) -> None:
        super().__init__()
        self.run = run
        self.schedule = schedule


class QueueChosen(Message):
    """Enter on a queue: show the jobs pane filtered to its jobs (``queue:NAME``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
