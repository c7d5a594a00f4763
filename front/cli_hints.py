"""Warnings the CLI adds to a command that succeeded but likely did not do what was meant."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from queuetop.engine.model.display import engines_line

if TYPE_CHECKING:
    from queuetop.engine.api import Queue


async def warn_unrunnable(queue: Queue, intents: Iterable[str]) -> None:
    """One stderr line per submitted intent that nothing here or online can run (most likely misspelt).

    The job is kept (another process with that handler may come online later:
    processes with different handler sets share one database), so this is a
    warning, not a refusal. An intent counts as runnable when this config's
    ``[handlers]`` (or the built-ins) name it, or an online worker says it runs it.
    """
    unknown = sorted(intent for intent in intents if intent not in queue.registry)
    if not unknown:
        return
    waiting = await queue.unrunnable_intents()  # empty when no worker is online at all
    online = await queue.workers_elsewhere()
    where = f"[handlers] of {queue.config.path}" if queue.config.path else "[handlers] (no queuetop.toml here)"
    for intent in unknown:
        if intent in waiting or not online:
            print(f"queuetop: warning: no handler for intent {intent!r} in the {where}, and no online worker "
                  f"runs it: the job waits until a process with one starts", file=sys.stderr)


async def say_if_no_engine(queue: Queue) -> None:
    """Unfinished work with no engine alive waits for one: one line saying so, as the TUI's header does.

    ``jobs`` names intents no online worker runs; with no worker online at all
    that says nothing, and the listing looked like work in progress.
    """
    counts = (await queue.state_counts())["jobs"]
    unfinished = counts.get("pending", 0) + counts.get("running", 0)
    if unfinished and not (await queue.engines_online())[0]:
        print(f"waiting: {engines_line(0, 0)} ({unfinished:,} unfinished job{'s' if unfinished != 1 else ''}; "
              f"start one with queuetop --engine-only)")
