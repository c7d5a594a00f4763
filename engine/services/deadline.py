"""The shared timeout of a worker's async chunks (see :class:`Deadline`)."""

from __future__ import annotations

import asyncio


class Deadline:
    """The async chunks of one claim batch with one timeout: one timer for all of them.

    They started together, so they share a deadline. When it passes, those
    still running are cancelled and marked expired, and each ends timed out
    unless something else cancelled it too (an operator, a lost lease, the
    shutdown), as with ``asyncio.timeout``; once all have ended the timer is
    cancelled.
    """

    __slots__ = ("tasks", "left", "handle", "expired")

    def __init__(self, tasks: tuple[asyncio.Task[None], ...] = ()) -> None:
        self.tasks: list[asyncio.Task[None]] = list(tasks)
        self.left = len(tasks)  # chunks still running
        self.handle: asyncio.TimerHandle | None = None
        self.expired: set[asyncio.Task[None]] = set()

    @classmethod
    def own(cls, timeout: float) -> "Deadline":
        """A deadline of the running task alone, ``timeout`` seconds from now (a retried chunk's)."""
        deadline = cls(tuple(task for task in [asyncio.current_task()] if task is not None))
        deadline.handle = asyncio.get_running_loop().call_later(timeout, deadline.expire)
        return deadline

    def expire(self) -> None:
        """The deadline passed: cancel the chunks still running, marked as timed out."""
        for task in self.tasks:
            if not task.done():
                self.expired.add(task)
                task.cancel()
