"""Say when something blocks the event loop, and which handler it is.

An ``async def`` handler that calls blocking code (``time.sleep``, a
blocking HTTP client, a long computation) stops everything the engine does
on its loop: other chunks, heartbeats (another engine would take the chunks
over once the worker looks stale) and timeouts, its own included. Nothing
can interrupt it, so a thread watches a tick the loop sets, and when the
tick is late it names the code the loop is stuck in, once per stall.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from types import FrameType

log = logging.getLogger("queuetop.engine")

BLOCKED_AFTER = 2.5  # seconds since the loop's last tick before a stall is reported
TICK = 1.0  # the loop's tick: one timer a second, nothing an idle engine would notice
WATCH = 0.5  # how often the thread looks

_WORKER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


class LoopWatchdog:
    """Runs on a daemon thread while the loop runs; :meth:`stop` ends it."""

    def __init__(self, blocked_after: float = BLOCKED_AFTER) -> None:
        self.blocked_after = blocked_after
        self._last = time.monotonic()
        self._done = threading.Event()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tick(loop)
        threading.Thread(target=self._watch, name="queuetop-loop-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._done.set()
        if self._handle is not None:
            self._handle.cancel()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last = time.monotonic()
        self._handle = loop.call_later(TICK, self._tick, loop)

    def _watch(self) -> None:
        stalled_since: float | None = None
        while not self._done.wait(WATCH):
            late = time.monotonic() - self._last
            if late < self.blocked_after:
                if stalled_since is not None:
                    log.warning("the event loop ran again after %.1fs blocked", time.monotonic() - stalled_since)
                    stalled_since = None
                continue
            if stalled_since is None:
                stalled_since = self._last
                place = where(sys._current_frames().get(self._loop_thread))
                advice = ("; an async def handler must not call blocking code: make it a plain def (it then runs "
                          "in a thread) or await asyncio.to_thread(...)") if place.startswith(" by ") else ""
                log.warning("the event loop has been blocked for %.1fs%s: nothing else runs meanwhile "
                            "(other chunks, heartbeats, timeouts)%s", late, place, advice)


def where(frame: FrameType | None) -> str:
    """`` by job J chunk N (file:line in function)`` for the handler a worker is running, else the innermost code."""
    innermost = frame
    while frame is not None:
        caller = frame.f_back
        if caller is not None and caller.f_code.co_name == "_execute" and caller.f_code.co_filename == _WORKER_FILE:
            claim = caller.f_locals.get("claim")
            job = f" by job {claim.job_id} chunk {claim.chunk_index}" if claim is not None else " by a chunk"
            now_at = f", now at {_place(innermost)}" if innermost is not frame else ""
            return f"{job} ({_place(frame)}{now_at})"
        frame = caller
    return f" in {_place(innermost)}" if innermost is not None else ""


def _place(frame: FrameType | None) -> str:
    if frame is None:
        return "?"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
