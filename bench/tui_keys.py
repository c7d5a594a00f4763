"""Key press -> repaint latency of the TUI, idle or under live load (used by bench/tui.py).

The app runs in this process through Textual's test harness at 160x50. Its
display hook is replaced by one that does what the terminal path does with
every screen update (render the update to terminal text) and notes the time:
a key's latency is from the key event entering the app's input queue until
the first screen update painted after the key's effect is visible in the
widgets (the cursor on the next row, the table showing the typed query, the
job's chunks on screen, the dashboard back). The app gets its keys exactly
as from a terminal (a ``Key`` event sent through the driver).

``--live`` load: one real ``queuetop --engine-only`` process drains chunks
that each sleep 0.1 s, 100 at once (~1,000 chunks/s), while a feeder process
submits 20 jobs of 50 chunks a second and appends 100 coordination events a
second to the NDJSON file the engine follows. The TUI runs no workers, as an operator's
beside an engine does.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from queuetop.engine.model.clock import SystemClock

SIZE = (160, 50)
BIG_INTENT = "bench.big"  # the job of 10,000 chunks that enter opens
BIG_CHUNKS = 10_000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MB (from /proc)."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int | None = None) -> float:
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Painter:
    """The app's display hook: renders each update as the terminal path does and notes when."""

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        self.app = app
        self.update_type = CompositorUpdate
        self.waiting: tuple[Callable[[], bool], asyncio.Event] | None = None
        self.painted_at = 0.0
        self.paints = 0
        app._display = self.display

    def display(self, screen: Any, renderable: Any) -> None:
        if renderable is None or self.app._batch_count:
            return
        if isinstance(renderable, self.update_type):
            renderable.render_segments(self.app.console)
        self.paints += 1
        if self.waiting is not None:
            condition, done = self.waiting
            if condition():
                self.painted_at = time.perf_counter()
                self.waiting = None
                done.set()

    async def key(self, key: str, shown: Callable[[], bool], timeout: float = 30.0) -> float:
        """Send ``key``; seconds until a paint shows what ``shown`` checks."""
        done = asyncio.Event()
        self.waiting = (shown, done)
        driver = self.app._driver
        from textual import events
        from textual.keys import _character_to_key

        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        try:
            char: str | None = unicodedata.lookup(name.upper().replace("_", " "))
        except KeyError:
            char = key if len(key) == 1 else None
        if name in ("enter", "escape", "slash"):
            char = {"enter": "\r", "escape": "\x1b", "slash": "/"}[name]
        event = events.Key(name, char)
        event.set_sender(self.app)
        started = time.perf_counter()
        driver.send_message(event)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            self.waiting = None
            raise SystemExit(f"key {key!r}: the screen never showed its effect within {timeout:g}s") from None
        return self.painted_at - started


async def measure_keys(path: Path | str, *, presses: int = 60, opens: int = 20, rss_cycles: int = 0,
                       clock: Any = None) -> dict[str, Any]:
    """p50/p95 of j, filter keystrokes, enter into the big job and escape back; RSS over open/close cycles.

    ``out["cpu"]``: process CPU seconds per key of each kind, from its press
    to the next key's (what the key cost, its aftermath included: the figure
    that a loaded machine does not move). Enter and escape alternate: their
    CPU is per pair, under ``"enter+escape"``.
    """
    from queuetop.tui.app import QueuetopApp
    from queuetop.tui.screens.dashboard import DashboardScreen
    from queuetop.tui.screens.job_detail import JobDetailScreen
    from queuetop.tui.widgets.chunks_table import ChunksTable
    from queuetop.tui.widgets.jobs_table import JobsTable

    app = QueuetopApp(path, clock=clock or SystemClock())
    app.animation_level = "none"
    out: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        painter = Painter(app)
        await app.ready.wait()
        await pilot.pause()
        jobs = app.screen.query_one(JobsTable)
        cpu: dict[str, float] = {}

        # j: the cursor one row down (past the held window, the next window is fetched)
        times = []
        started = cpu_seconds()
        for n in range(presses):
            if n % 30 == 0 and jobs.cursor_row:
                await pilot.press("g")
                await app.workers.wait_for_complete()
            before = int(jobs.selected_key or 0)
            # the next older job (ids descend): rows arriving above move the cursor's row, not its job
            times.append(await painter.key("j", lambda: jobs.selected_key is not None
                                           and int(jobs.selected_key) < before))
        out["j"] = times
        cpu["j"] = (cpu_seconds() - started) / presses

        # a filter keystroke: the table shows the jobs the line so far matches
        times = []
        await pilot.press("slash")
        started = cpu_seconds()
        for word in ("timeout", "503", "collect"):
            typed = ""
            for char in word:
                typed += char
                text = typed
                times.append(await painter.key(char, lambda: f"· {text} ·" in str(jobs.border_title)))
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            await pilot.press("slash")
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        out["filter"] = times
        cpu["filter"] = (cpu_seconds() - started) / len(times)  # escapes and slashes between words included

        # enter into the job of 10,000 chunks (the cursor on it through the filter), escape back
        await pilot.press("slash", *f"intent:{BIG_INTENT}", "enter")
        await app.workers.wait_for_complete()
        await app.settle()

        def detail_shown() -> bool:
            screen = app.screen
            return (isinstance(screen, JobDetailScreen) and screen.job is not None
                    and screen.query_one(ChunksTable).row_count > 0)

        enter, escape = [], []
        started = cpu_seconds()
        for n in range(opens + rss_cycles):
            took_in = await painter.key("enter", detail_shown)
            took_out = await painter.key("escape", lambda: isinstance(app.screen, DashboardScreen))
            if n < opens:
                enter.append(took_in)
                escape.append(took_out)
            if n == opens - 1:
                cpu["enter+escape"] = (cpu_seconds() - started) / opens
            if n == opens:
                gc.collect()
                out["rss_before_cycles"] = rss_mb()
        if rss_cycles:
            gc.collect()
            out["rss_after_cycles"] = rss_mb()
            out["rss_cycles"] = rss_cycles
        out["enter"], out["escape"] = enter, escape
        out["paints"] = painter.paints
        out["cpu"] = cpu
    return out


# -- live load ---------------------------------------------------------------------------------

FEEDER = r"""
import asyncio, sys, time, orjson
from queuetop.engine.api import Queue

async def main(db, events, jobs_per_s, chunks, events_per_s):
    queue = await Queue.open(db)
    n = 0
    started = time.monotonic()
    with open(events, "ab") as out:
        while True:
            tick = n / 10
            wait = started + tick - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if n % (10 // max(1, min(10, jobs_per_s))) == 0:
                for _ in range(max(1, jobs_per_s // 10)):
                    await queue.submit("demo.sleep", chunks=[{"n": i} for i in range(chunks)], priority=1)
            ms = int(time.time() * 1000)
            for i in range(events_per_s // 10):
                k = n * 100 + i
                out.write(orjson.dumps({"type": "task.progress", "agentId": f"agent-{k % 12}", "ts": ms,
                                        "data": {"workSessionId": f"ws_live_{k // 20:07d}",
                                                 "message": f"live event {k}"}}) + b"\n")
            out.flush()
            n += 1

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
"""


def queuetop_command() -> list[str]:
    import shutil

    exe = shutil.which("queuetop", path=os.path.dirname(sys.executable)) or shutil.which("queuetop")
    return [exe] if exe else [sys.executable, "-m", "queuetop.cli"]


@contextmanager
def live_load(path: Path, *, jobs_per_s: int = 20, chunks: int = 50, events_per_s: int = 100,
              concurrency: int = 100) -> Iterator[dict[str, Any]]:
    """An engine draining and a feeder submitting and writing events, until the block ends."""
    events = path.with_name(path.name + ".live-events.ndjson")
    events.touch()
    # The built history is months old by the wall clock: the log cleanup would
    # delete all five million log lines in one transaction (minutes of writers
    # waiting) before anything else. Not what this measures: it keeps them.
    # Every chunk sleeps 0.1 s (demo.sleep), 100 at once: the engine drains
    # about 1,000 a second. The built jobs' intents get the same handler: with
    # millions of pending chunks it could not run in front of the fed ones,
    # every claim would step over them. The fed jobs (priority 1) go first.
    config = path.with_name(path.name + ".live.toml")
    config.write_text("[engine]\nlog_retention_days = 36500\n\n[handlers]\n" + "".join(
        f'"{intent}" = "queuetop.engine.handlers.demo:sleep"\n'
        for intent in [f"bench.collect.{n}" for n in range(7)] + [BIG_INTENT]))
    first = last_job_id(path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    engine = subprocess.Popen(queuetop_command() + ["--db", str(path), "--config", str(config), "--engine-only",
                                                    "--concurrency", str(concurrency), "--events", str(events)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    feeder = subprocess.Popen([sys.executable, "-c", FEEDER, str(path), str(events), str(jobs_per_s), str(chunks),
                               str(events_per_s)], stderr=subprocess.DEVNULL, env=env)
    info: dict[str, Any] = {"engine": engine.pid, "feeder": feeder.pid, "first_job": first}
    try:
        # Warm-up: the engine's start-up work (a built database's stale
        # workers are rescued first) is over once it drains at the fed rate.
        started = time.monotonic()
        while True:
            if engine.poll() is not None or feeder.poll() is not None:
                raise SystemExit("the live engine or feeder exited early")
            before, t0 = drained(path), time.monotonic()
            time.sleep(2.0)
            rate = (drained(path) - before) / (time.monotonic() - t0)
            if rate >= 0.8 * jobs_per_s * chunks:
                break
            if time.monotonic() - started > 300:
                raise SystemExit(f"the live engine drains only {rate:.0f} chunks/s after 300s of warm-up")
        info["warm_up"] = time.monotonic() - started
        yield info
    finally:
        for proc in (feeder, engine):
            proc.terminate()
        for proc in (feeder, engine):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        events.unlink(missing_ok=True)
        config.unlink(missing_ok=True)


def last_job_id(path: Path | str) -> int:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0])


def drained(path: Path | str) -> int:
    """Chunks completed so far (the state counters)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT coalesce(sum(n), 0) FROM counts WHERE kind = 'chunks' AND state = 'completed'"
                                ).fetchone()[0])
