"""What the API's calls return: small frozen records built from query results.

Kept apart from :mod:`queuetop.engine.api` so that the API module holds the
calls themselves; every name here is re-exported there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.queues import QueueInfo
from queuetop.engine.model.query import JobQuery, JobSort
from queuetop.engine.model.records import Job

__all__ = ["FoundJobs", "LogLine", "QueueInfo", "SubmitResult", "Totals"]


@dataclass(frozen=True)
class SubmitResult:
    job_id: int
    created: bool  # False: a dedupe key matched an unfinished job


@dataclass(frozen=True)
class LogLine:
    id: int
    job_id: int | None
    chunk_id: int | None
    worker_id: str | None
    ts: float
    level: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Totals:
    """The dashboard header's numbers, from counting queries only."""

    jobs: dict[str, int]
    chunks_total: int
    chunks_pending: int
    chunks_processing: int
    chunks_completed: int
    chunks_failed: int
    chunks_cancelled: int
    workers: dict[str, int]  # online / stale / stopping / offline
    paused: bool
    engines: int = 0       # engine processes with a fresh worker heartbeat
    engines_here: int = 0  # of those, this process (0 or 1)
    #: When the oldest fresh heartbeat goes stale (epoch seconds; None: none is fresh). Unless a
    #: newer heartbeat commits first, ``engines`` and the online/stale worker counts are wrong
    #: after it: a screen showing them asks again then (a dead engine commits nothing).
    fresh_until: float | None = None
    alerts_undelivered: int = 0  # pending or being delivered
    alerts_recent: int = 0       # raised in the last RECENT_ALERTS seconds

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FoundJobs:
    """A page of the jobs a query matched, how many it matched, and how many jobs there are."""

    jobs: list[Job]
    matched: int
    total: int  # every job, from the state counters
    query: JobQuery
    sort: JobSort
    #: False when ``matched`` is a lower bound: counting stopped at 10,000, or a
    #: word matched more jobs than its index gives (its newest 10,000 were searched).
    exact: bool = True
    #: False when the count was left for later (``find_jobs(count=False)``): ``matched``
    #: is then what the page shows up to its end, and ``Queue.count_found`` counts.
    counted: bool = True
