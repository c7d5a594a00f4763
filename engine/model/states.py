"""Every state and kind, defined once: the CLI, the TUI and the SQL CHECK lists use these names.

Each is a ``str`` enum, so a member equals (and stores as) its name; the
newer ones are ``StrEnum``s, which also print as their name. How a
state looks on screen is the TUI's business (``queuetop.tui.format``).
"""

from __future__ import annotations

from enum import Enum, StrEnum


class JobState(str, Enum):
    """A job's status: ``pending`` -> ``running`` -> one of the four finished states."""

    PENDING = "pending"      # submitted, no chunk claimed yet
    RUNNING = "running"      # at least one chunk claimed, not all ended
    COMPLETED = "completed"  # every chunk completed
    PARTIAL = "partial"      # ended with some chunks failed or cancelled
    FAILED = "failed"        # ended with no chunk completed
    CANCELLED = "cancelled"  # ended by an operator's cancel

    @property
    def finished(self) -> bool:
        return self in FINISHED_JOB_STATES


class ChunkState(str, Enum):
    """A chunk's status; a failed attempt with retries left goes back to ``pending``."""

    PENDING = "pending"        # waiting to be claimed (maybe not before run_after)
    PROCESSING = "processing"  # claimed by a worker under a lease token
    COMPLETED = "completed"    # handler returned
    FAILED = "failed"          # permanent error, or retries spent
    CANCELLED = "cancelled"    # job cancelled or finalized before this chunk ended

    @property
    def finished(self) -> bool:
        return self in FINISHED_CHUNK_STATES


class WorkerState(str, Enum):
    """A worker's row in ``workers``; ``stale`` is only ever shown, never stored."""

    ONLINE = "online"      # heartbeating
    STOPPING = "stopping"  # draining after SIGTERM/SIGINT
    OFFLINE = "offline"    # stopped, or silent past the stale timeout
    STALE = "stale"        # shown only: online, but its heartbeat is late


class SessionState(str, Enum):
    """A work session's (or thread's) status, from the time since its last event."""

    ACTIVE = "ACTIVE"      # an event within the active window
    QUIET = "QUIET"        # no event for a while
    ARCHIVED = "ARCHIVED"  # no event for long


FINISHED_JOB_STATES = frozenset(
    {JobState.COMPLETED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED}
)
FINISHED_CHUNK_STATES = frozenset({ChunkState.COMPLETED, ChunkState.FAILED, ChunkState.CANCELLED})


class OutcomeKind(StrEnum):
    """Why an attempt did not succeed: kept with the attempt's error."""

    TRANSIENT = "transient"  # timeouts, 5xx, network: retried with back-off
    PERMANENT = "permanent"  # bad input, unknown intent, 4xx: fails the chunk at once
    TIMED_OUT = "timed_out"  # the handler outlived the chunk's timeout
    LOST = "lost"            # its worker went offline holding the chunk
    CANCELLED = "cancelled"  # an operator cancelled the chunk while it ran


class ScheduleKind(StrEnum):
    """What a schedule does when it fires."""

    JOB = "job"                  # submits a job of its intent
    MAINTENANCE = "maintenance"  # runs a built-in maintenance task in the process that won


class CatchUp(StrEnum):
    """What a schedule does about due times that passed while nothing ran it."""

    NONE = "none"  # skip them; fire next at the first time after now
    ONCE = "once"  # one run now, for the latest of them
    ALL = "all"    # one run for each of them, the latest max_catch_up


class RunStatus(StrEnum):
    """How one firing of a schedule went."""

    RUNNING = "running"  # fired, not recorded as ended yet
    OK = "ok"            # the job was submitted (or the task ran)
    ERROR = "error"      # submitting, the task or the job it made failed


class CircuitState(StrEnum):
    """An HTTP host's circuit breaker."""

    CLOSED = "closed"        # requests go through; failures are counted
    OPEN = "open"            # nothing is sent until half_open_at
    HALF_OPEN = "half_open"  # one probe request is in flight


class AlertKind(StrEnum):
    """What an alert is about; ``[[alerts]] on = [...]`` names these."""

    JOB_FAILED = "job.failed"            # a job ended with no chunk completed
    JOB_PARTIAL = "job.partial"          # a job ended with some chunks failed or cancelled
    SCHEDULE_FAILED = "schedule.failed"  # a run errored, or the job it made did not complete
    SCHEDULE_MISSED = "schedule.missed"  # a due time passed while nothing ran the schedule
    CIRCUIT_OPEN = "circuit.open"        # an HTTP host's circuit opened
    WORKER_STALE = "worker.stale"        # a silent worker was marked offline and its chunks rescued
    BACKLOG = "backlog"                  # pending chunks of an intent waited longer than backlog_seconds


class AlertState(StrEnum):
    """An alert's delivery: written ``pending``, claimed by one engine, then ended."""

    PENDING = "pending"        # waiting for its (next) delivery attempt
    DELIVERING = "delivering"  # claimed by one engine under a lease
    DELIVERED = "delivered"    # every destination took it
    FAILED = "failed"          # attempts spent; kept for the operator
