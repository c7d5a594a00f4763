"""When a work session is ACTIVE, QUIET or ARCHIVED: the thresholds and the status names.

Apart from :mod:`queuetop.engine.events.sessions` so that opening a
:class:`~queuetop.engine.api.Queue` (which reads ``[events.thresholds]``)
does not import the event store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.exceptions import ConfigError, UsageError
from queuetop.engine.model.states import SessionState


@dataclass(frozen=True)
class SessionThresholds:
    """How long after its last event a session stops being ACTIVE, then QUIET."""

    active_seconds: float = 300.0   # ACTIVE: last event under 5 minutes ago
    quiet_seconds: float = 3600.0   # QUIET: under an hour ago; ARCHIVED after

    def __post_init__(self) -> None:
        for name in ("active_seconds", "quiet_seconds"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"[events.thresholds] {name} must be a positive number, got {value!r}")
        if self.quiet_seconds < self.active_seconds:
            raise ConfigError("[events.thresholds] quiet_seconds must not be less than active_seconds")

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> "SessionThresholds":
        """From ``[events.thresholds]``; missing keys keep their defaults."""
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigError("[events.thresholds] must be a table")
        unknown = set(table) - {"active_seconds", "quiet_seconds"}
        if unknown:
            raise ConfigError(f"[events.thresholds]: unknown key(s): {', '.join(sorted(unknown))}")
        return cls(**table)

    def status(self, last_ts_ms: int, now: float) -> SessionState:
        """The status of something whose last event was at ``last_ts_ms``."""
        age = now - last_ts_ms / 1000.0
        if age < self.active_seconds:
            return SessionState.ACTIVE
        if age < self.quiet_seconds:
            return SessionState.QUIET
        return SessionState.ARCHIVED

    def cutoffs(self, now: float) -> tuple[float, float]:
        """(active, quiet) cutoffs in epoch ms: ACTIVE is ``last > active``, QUIET ``quiet < last <= active``."""
        now_ms = now * 1000.0
        return now_ms - self.active_seconds * 1000.0, now_ms - self.quiet_seconds * 1000.0

    def bounds(self, status: SessionState | str | None, now: float) -> tuple[float | None, float | None]:
        """``last_ts_ms`` bounds ``(greater than, at most)`` of a status; ``(None, None)`` for all."""
        if status is None:
            return None, None
        state = parse_status(status)
        active, quiet = self.cutoffs(now)
        if state is SessionState.ACTIVE:
            return active, None
        if state is SessionState.QUIET:
            return quiet, active
        return None, quiet


def parse_status(value: SessionState | str) -> SessionState:
    """A status name, any case; :class:`UsageError` for anything else."""
    if isinstance(value, SessionState):
        return value
    try:
        return SessionState(str(value).upper())
    except ValueError:
        names = ", ".join(s.value for s in SessionState)
        raise UsageError(f"unknown session status {value!r} (one of {names})") from None
