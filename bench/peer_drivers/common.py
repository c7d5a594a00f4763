"""What every peer driver shares: its arguments, the task's time stamps, the report.

A driver runs in the throwaway virtual environment ``bench/peers.py`` makes,
never in queuetop's, so it imports nothing of queuetop. Each one submits
``--jobs`` no-op jobs with its queue's bulk API where it has one, then drains
them in the same single process; every task records when it started and
ended with ``time.time()``, the same way for all peers. The drain span runs
from the first task's start to the later of the last task's end and the last
completion the queue itself recorded (for queues that record one), so a
queue that acknowledges jobs in buffered batches is not credited with work
it has not yet written. The PostgreSQL peers' queue tables are ANALYZEd
after the submit (outside the timing), as autovacuum soon would: without it
procrastinate's fetch plans badly over thousands of queued jobs. The report
is one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from importlib.metadata import version
from typing import Any


class Stamps:
    """(start, end) of every task run, from any thread or coroutine."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def record(self, start: float) -> None:
        with self._lock:
            self.runs.append((start, time.time()))

    def __len__(self) -> int:
        return len(self.runs)

    def wait(self, jobs: int, timeout: float, done: Any = None) -> None:
        """Block (a thread) until ``jobs`` tasks have run, or exit with a message."""
        deadline = time.monotonic() + timeout
        while len(self) < jobs:
            if time.monotonic() > deadline:
                sys.exit(f"drain timed out: {len(self)}/{jobs} tasks ran")
            time.sleep(0.01)  # the benchmark watching its own progress

    async def wait_async(self, jobs: int, timeout: float) -> None:
        """As :meth:`wait`, in a coroutine."""
        import asyncio

        deadline = time.monotonic() + timeout
        while len(self) < jobs:
            if time.monotonic() > deadline:
                sys.exit(f"drain timed out: {len(self)}/{jobs} tasks ran")
            await asyncio.sleep(0.01)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--db", help="a postgresql:// URL (PostgreSQL peers)")
    parser.add_argument("--schema", help="a fresh PostgreSQL schema to put the peer's tables in")
    parser.add_argument("--path", help="a database file (SQLite peers)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--as-shipped", action="store_true",
                        help="the peer's own defaults, where the driver otherwise matches queuetop's durability")
    return parser.parse_args()


def report(system: str, package: str, *, submit_api: str, jobs: int, submit_seconds: float, stamps: Stamps,
           concurrency: str, recorded_end: float | None = None, completed: int | None = None) -> None:
    """Print the driver's figures as one JSON line."""
    first = min(start for start, _ in stamps.runs)
    tasks_last = max(end for _, end in stamps.runs)
    last = tasks_last if recorded_end is None else max(tasks_last, recorded_end)
    print(json.dumps({
        "system": system, "version": version(package), "python": sys.version.split()[0],
        "submit_api": submit_api, "concurrency": concurrency, "jobs": jobs,
        "ran": len(stamps), "completed": len(stamps) if completed is None else completed,
        "submit_jobs_per_s": jobs / submit_seconds, "drain_jobs_per_s": jobs / (last - first),
        "drain_seconds": last - first, "tasks_only_drain_jobs_per_s": jobs / (tasks_last - first),
    }))
