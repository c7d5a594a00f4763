"""In-process change notices: the engine tells its subscribers what changed.

The TUI subscribes and re-queries only the panes a change touches. Changes
made by other processes are noticed separately, through ``PRAGMA
data_version`` (see :meth:`queuetop.engine.store.sqlite.backend.Database.data_version`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger("queuetop.engine")

class Topic(StrEnum):
    """What a change can touch; a pane re-queries when its topic is named."""

    JOBS = "jobs"            # a job was submitted, claimed, ended or acted on
    CHUNKS = "chunks"        # a chunk changed state
    WORKERS = "workers"      # a worker registered, stopped or went offline
    SCHEDULES = "schedules"  # a schedule was added, changed, fired or removed
    LOGS = "logs"            # log lines were written
    QUEUE = "queue"          # the queue was paused or resumed
    EVENTS = "events"        # the tailer stored events
    SESSIONS = "sessions"    # work sessions changed with them
    CIRCUITS = "circuits"    # an HTTP host's circuit opened, closed or probed
    ALERTS = "alerts"        # an alert was raised or delivered


JOBS = Topic.JOBS
CHUNKS = Topic.CHUNKS
WORKERS = Topic.WORKERS
SCHEDULES = Topic.SCHEDULES
LOGS = Topic.LOGS
QUEUE = Topic.QUEUE
EVENTS = Topic.EVENTS
SESSIONS = Topic.SESSIONS
CIRCUITS = Topic.CIRCUITS
ALERTS = Topic.ALERTS


@dataclass(frozen=True)
class Change:
    """Something changed; ``job_ids`` narrows it when known."""

    topics: frozenset[str]
    job_ids: frozenset[int] = field(default_factory=frozenset)
    source: str = ""

    @classmethod
    def of(cls, *topics: str, job_ids: Iterable[int] = (), source: str = "") -> "Change":
        return cls(frozenset(topics), frozenset(job_ids), source)


Subscriber = Callable[[Change], None]


class ChangeBus:
    """Synchronous fan-out to subscribers, on the event loop's thread."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every change; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, change: Change) -> None:
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:  # one broken subscriber must not stop the engine
                log.exception("change subscriber failed")
