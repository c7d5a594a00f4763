"""The threads a worker runs sync handlers on, and those their timeouts leave behind.

A thread cannot be killed: a sync handler that outlives its chunk's timeout
keeps its thread until it returns. Its chunk ends as timed out at once; the
thread is *abandoned* (counted, shown in the worker's row) and its slot goes
to a fresh pool, so the next chunk never waits for a thread and never spends
its timeout queued behind a hung one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("queuetop.engine")

# Names of the threads sync handlers run on: "handler-<worker id>_<n>".
HANDLER_THREAD_PREFIX = "handler-"


class HandlerThreads:
    """One thread per slot for sync handlers, plus the abandoned ones still running."""

    def __init__(self, slots: int, name: str, on_freed: Callable[[], None]) -> None:
        self.slots = slots
        self.name = name
        self._on_freed = on_freed  # an abandoned thread returned: a slot may be claimable again
        # On the shared default executor (6 threads on 2 cores) handlers would
        # queue behind each other and spend their timeout waiting.
        self._pool = self._new_pool()
        self._retired: list[ThreadPoolExecutor] = []
        self._abandoned: set[asyncio.Future[Any]] = set()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.slots, thread_name_prefix=f"{HANDLER_THREAD_PREFIX}{self.name}")

    @property
    def abandoned(self) -> int:
        """Sync handler threads still running after their chunk timed out."""
        return len(self._abandoned)

    async def start(self, function: Callable[[Any], Any], ctx: Any) -> asyncio.Future[Any]:
        """Run ``function(ctx)`` on a pool thread; return once it has started.

        The chunk's timeout is counted from here, never while it waits for a
        thread (the pool always has a thread per slot: see :meth:`abandon`).
        """
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def run(pid: int = os.getpid()) -> Any:
            loop.call_soon_threadsafe(started.set)
            try:
                return function(ctx)
            finally:
                if os.getpid() != pid:  # a child the handler forked came back: never run the parent's code
                    os._exit(0 if sys.exc_info()[0] is None else 1)

        future = loop.run_in_executor(self._pool, run)
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, future}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        return future

    def abandon(self, call: asyncio.Future[Any], what: str) -> None:
        """Leave a timed-out call's thread behind and give its slot to a fresh pool.

        The old pool keeps running what it has (its threads end when their
        handlers return); new work goes to a pool with a thread per slot.
        """
        self._abandoned.add(call)
        call.add_done_callback(self._ended)
        self._retired.append(self._pool)
        self._pool.shutdown(wait=False)
        self._pool = self._new_pool()
        log.warning("%s: sync handler still running after its timeout; its thread is abandoned "
                    "(%d abandoned thread(s) in worker %s)", what, self.abandoned, self.name)

    def _ended(self, call: asyncio.Future[Any]) -> None:
        self._abandoned.discard(call)
        if not self._abandoned:
            self._retired.clear()  # shut down already; their last threads have returned
        self._on_freed()

    def shutdown(self) -> None:
        """No more work; queued calls are dropped, running ones end on their own."""
        for pool in (self._pool, *self._retired):
            pool.shutdown(wait=False, cancel_futures=True)
