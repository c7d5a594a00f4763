"""State names and their colours, defined once and used everywhere.

The CLI, the TUI and the SQL CHECK constraints all use these names; the
colours are plain strings (Rich/Textual colour names) so the engine stays
free of any UI import.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
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
    PENDING = "pending"        # waiting to be claimed (maybe not before run_after)
    PROCESSING = "processing"  # claimed by a worker under a lease token
    COMPLETED = "completed"    # handler returned
    FAILED = "failed"          # permanent error, or retries spent
    CANCELLED = "cancelled"    # job cancelled or finalized before this chunk ended

    @property
    def finished(self) -> bool:
        return self in FINISHED_CHUNK_STATES


class WorkerState(str, Enum):
    ONLINE = "online"      # heartbeating
    STOPPING = "stopping"  # draining after SIGTERM/SIGINT
    OFFLINE = "offline"    # stopped, or silent past the stale timeout
    STALE = "stale"        # shown only: online, but its heartbeat is late


class SessionState(str, Enum):
    ACTIVE = "ACTIVE"      # an event within the active window
    QUIET = "QUIET"        # no event for a while
    ARCHIVED = "ARCHIVED"  # no event for long


FINISHED_JOB_STATES = frozenset(
    {JobState.COMPLETED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED}
)
FINISHED_CHUNK_STATES = frozenset({ChunkState.COMPLETED, ChunkState.FAILED, ChunkState.CANCELLED})

# One colour per state name, for every screen and the CLI.
STATE_COLOURS: dict[str, str] = {
    "pending": "grey62",
    "running": "dodger_blue1",
    "processing": "dodger_blue1",
    "completed": "green3",
    "partial": "dark_orange",
    "failed": "red1",
    "cancelled": "grey50",
    "online": "green3",
    "stopping": "yellow",
    "offline": "grey50",
    "stale": "red1",
    "ACTIVE": "green3",
    "QUIET": "yellow",
    "ARCHIVED": "grey50",
    "open": "red1",
    "half_open": "yellow",
    "closed": "green3",
    "ok": "green3",
    "error": "red1",
}


def colour(state: str | Enum) -> str:
    """The colour for a state name (or enum member); white for unknown names."""
    name = state.value if isinstance(state, Enum) else state
    return STATE_COLOURS.get(name, "white")
