"""Injectable time: the engine never reads the wall clock directly.

Every timestamp the engine stores comes from a :class:`Clock`, so tests and
snapshots can freeze or step time and get the same result on every run.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time as epoch seconds."""

    def now(self) -> float:
        """Current time, epoch seconds."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that only moves when told to (tests, snapshots, demos)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self._now += seconds

    def set(self, when: float) -> None:
        """Jump to ``when`` (epoch seconds)."""
        self._now = float(when)
