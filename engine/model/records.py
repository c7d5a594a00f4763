"""Frozen records that cross module borders: what the API returns and the TUI shows.

Each is built from a stored row with ``from_row`` (JSON columns decoded,
states as enums) and turned back into plain data with ``as_dict``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.states import (AlertKind, AlertState, ChunkState, JobState, OutcomeKind, ScheduleKind,
                                           WorkerState)
from queuetop.engine.model.text import redact_url

#: A stored row: readable by column name (sqlite3.Row, or the PostgreSQL backend's row).
Row = Any


@dataclass(frozen=True)
class Job:
    """One request of work, as stored."""

    id: int
    intent: str
    params: dict[str, Any]
    status: JobState
    priority: int
    max_retries: int
    timeout: float
    dedupe_key: str | None
    on_finalize: str | None
    parent_job_id: int | None
    schedule_id: int | None
    chunks_total: int
    chunks_completed: int
    chunks_failed: int
    chunks_cancelled: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    log_count: int = 0
    nonce: str | None = None  # random, per job: part of the http handler's idempotency keys
    queue: str = "default"

    @property
    def chunks_ended(self) -> int:
        return self.chunks_completed + self.chunks_failed + self.chunks_cancelled

    @classmethod
    def from_row(cls, row: Row) -> "Job":
        data = dict(row)
        data["params"] = json.loads(data["params"])
        data["status"] = JobState(data["status"])
        data.setdefault("log_count", 0)
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = self.status.value
        return out


@dataclass(frozen=True)
class Chunk:
    """One slice of a job."""

    id: int
    job_id: int
    chunk_index: int
    params: dict[str, Any]
    status: ChunkState
    priority: int
    run_after: float
    attempt: int
    worker_id: str | None
    lease_token: str | None
    claimed_at: float | None
    finished_at: float | None
    last_error: str | None
    result: Any
    queue: str = "default"

    @classmethod
    def from_row(cls, row: Row) -> "Chunk":
        data = dict(row)
        data["params"] = json.loads(data["params"])
        data["status"] = ChunkState(data["status"])
        data["result"] = json.loads(data["result"]) if data["result"] is not None else None
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = self.status.value
        out.pop("lease_token")  # an internal fence, not for display
        return out


@dataclass(frozen=True)
class Attempt:
    """An attempt of a chunk that did not succeed, with its error."""

    chunk_index: int
    attempt: int
    worker_id: str | None
    outcome: OutcomeKind
    error: str | None
    started_at: float | None
    ended_at: float

    @classmethod
    def from_row(cls, row: Row) -> "Attempt":
        data = {name: row[name] for name in cls.__dataclass_fields__}
        data["outcome"] = OutcomeKind(data["outcome"])
        return cls(**data)


@dataclass(frozen=True)
class Submission:
    """What to submit: built by the CLI, the Python API and schedules."""

    intent: str
    chunks: Sequence[Mapping[str, Any]] = ({},)
    params: Mapping[str, Any] | None = None
    priority: int = 0
    max_retries: int = 3
    timeout: float = 3600.0
    dedupe_key: str | None = None
    on_finalize: str | None = None
    parent_job_id: int | None = None
    schedule_id: int | None = None
    queue: str = "default"


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    cron: str
    kind: ScheduleKind
    intent: str
    params: dict[str, Any]
    active: bool
    next_run_at: float | None
    last_run_at: float | None
    last_status: str | None
    last_error: str | None
    created_at: float
    tz: str = "UTC"             # the IANA zone its cron is read in
    catch_up: str = "none"      # missed due times: none, once or all
    max_catch_up: int = 10
    missed: int = 0             # due times that passed while nothing ran them, ever
    last_missed_at: float | None = None
    queue: str | None = None    # its jobs' queue; None: the one [queues] routes the intent to

    @classmethod
    def from_row(cls, row: Row) -> "Schedule":
        data = dict(row)
        data["params"] = json.loads(data["params"])
        data["active"] = bool(data["active"])
        data["kind"] = ScheduleKind(data["kind"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MissedRuns:
    """Due times of a schedule that passed while nothing ran them, found once (what ``schedule.missed`` reports).

    ``count`` is exact unless ``capped`` (then at least that many);
    ``run_for`` are the due times its ``catch_up`` runs now.
    """

    schedule_id: int
    schedule: str
    intent: str
    tz: str
    count: int
    capped: bool
    first: float
    last: float
    catch_up: str
    run_for: tuple[float, ...]
    detected_at: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "run_for": list(self.run_for)}


@dataclass(frozen=True)
class ScheduleRun:
    id: int
    schedule_id: int
    scheduled_for: float
    started_at: float
    finished_at: float | None
    status: str
    error: str | None
    job_id: int | None
    worker_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as the workers pane and ``queuetop workers`` show it."""

    id: str
    host: str
    pid: int
    status: WorkerState
    concurrency: int
    chunks_done: int
    chunks_failed: int
    started_at: float
    last_heartbeat: float
    stopped_at: float | None
    current: str | None  # "job#chunk" of the chunks it holds now
    intents: list[str] | None = None  # what its process can run; None: not recorded (all)
    abandoned: int = 0  # sync handler threads still running after their chunk timed out

    def shown_state(self, now: float, stale_after: float) -> WorkerState:
        """``stale`` for an online worker whose heartbeat is late."""
        if self.status is WorkerState.ONLINE and now - self.last_heartbeat > stale_after:
            return WorkerState.STALE
        return self.status

    @classmethod
    def from_row(cls, row: Row) -> "WorkerInfo":
        data = dict(row)
        data["status"] = WorkerState(data["status"])
        data["intents"] = json.loads(data["intents"]) if data.get("intents") else None
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = self.status.value
        return out


@dataclass(frozen=True)
class AlertDelivery:
    """One attempt to deliver an alert to one destination."""

    id: int
    alert_id: int
    attempt: int
    target: str                # 'webhook' or 'submit'
    ok: bool
    status_code: int | None    # the webhook's HTTP status, when it answered
    error: str | None          # redacted: never the webhook's path or query
    at: float
    worker_id: str | None      # the engine process that tried

    @classmethod
    def from_row(cls, row: Row) -> "AlertDelivery":
        data = dict(row)
        data["ok"] = bool(data["ok"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Alert:
    """A raised alert and its delivery state. ``webhook`` is already redacted."""

    id: int
    kind: AlertKind
    subject: str
    summary: str
    job_id: int | None
    schedule: str | None
    host: str | None
    worker_id: str | None
    intent: str | None
    rule: int
    webhook: str | None
    submit: str | None
    status: AlertState
    attempts: int
    next_attempt_at: float
    repeats: int
    created_at: float
    last_seen_at: float
    delivered_at: float | None
    submitted_job_id: int | None
    last_error: str | None
    deliveries: tuple[AlertDelivery, ...] = ()

    @classmethod
    def from_row(cls, row: Row, deliveries: Sequence[AlertDelivery] = ()) -> "Alert":
        data = dict(row)
        data["kind"] = AlertKind(data["kind"])
        data["status"] = AlertState(data["status"])
        data["webhook"] = redact_url(data["webhook"])
        return cls(**data, deliveries=tuple(deliveries))

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["kind"] = self.kind.value
        out["status"] = self.status.value
        out["deliveries"] = [d.as_dict() for d in self.deliveries]
        return out
