"""TUI figures on a big database: open time, refresh cycles, key latency, CPU and memory, idle and under load.

    python bench/tui.py [--db PATH] [--keep] [--idle-seconds 10]
                        [--jobs 10000] [--chunks-per-job 20] [--sessions 20000] [--queries-only]
                        [--live] [--live-seconds 60] [--open-cycles 100] [--only keys|live]

Builds (or reuses with --db of an existing file) a database with 10,000 jobs,
200,000 chunks, 500 workers and 20,000 work sessions (sizes are options;
twelve of the jobs are failed, whatever their number; one more job has
10,000 chunks), then prints:

* find: Queue.find_jobs for the queries an operator types (``state:failed``,
  free text, ``err:``, ``intent:``, a sort), median and worst of a few runs,
  with the match count (``--queries-only`` prints only these);
* counters: what a trigger-kept counter costs a write (the same chunk update
  timed with and without the counting triggers, on a copy of the database);

* dashboard open time: from starting the app until its first refresh has
  filled every pane (headless, 160x50), and until that is painted;
* refresh-cycle time p50/p99: one cycle = every pane re-queried and the
  differences applied, with a small engine change before each cycle (a job
  cancelled: the kind of notice a busy queue sends all the time);
* idle CPU: the real ``queuetop --no-workers`` in a pseudo-terminal, CPU time
  over ``--idle-seconds`` seconds of nothing happening, from /proc;
* key press -> paint p50/p95 (bench/tui_keys.py): ``j``, keystrokes in
  ``/``, ``enter`` into the job of 10,000 chunks and ``escape`` back;
* ``--live``: the same keys while an engine drains ~1,000 chunks/s with 20
  new jobs/s and 100 events/s, the real TUI's CPU and RSS over
  ``--live-seconds``, and its RSS over ``--open-cycles`` opens and closes.

Jobs, chunks, workers and logs are written with plain SQL here (a bench may;
the TUI never does). Sessions go through the engine's own tailer from a
generated NDJSON file, so they are stored exactly as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.api import Queue
import tui_keys
from tui_keys import BIG_CHUNKS, BIG_INTENT

JOBS = 10_000
CHUNKS_PER_JOB = 20
WORKERS = 500
SESSIONS = 20_000
NOW = 1_767_225_600.0
SIZE = (160, 50)


def build_rows(path: Path) -> None:
    """Jobs (every state), their chunks, workers (online/stale/offline), attempts and logs.

    Of every ten jobs seven are completed, one partial, one running, one
    pending; twelve jobs spread over the whole range are failed instead,
    every chunk of theirs failed with a timeout.
    """
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :jobs)
            INSERT INTO jobs (id, intent, params, status, chunks_total, chunks_completed, chunks_failed,
                              created_at, started_at, finished_at)
            SELECT i, 'bench.collect.' || (i % 7), '{"n":' || i || '}',
                   CASE WHEN i % :every_failed = 0 THEN 'failed'
                        WHEN i <= :completed THEN 'completed' WHEN i <= :partial THEN 'partial'
                        WHEN i <= :running THEN 'running' ELSE 'pending' END,
                   :per,
                   CASE WHEN i % :every_failed = 0 THEN 0
                        WHEN i <= :completed THEN :per WHEN i <= :partial THEN :per - 2
                        WHEN i <= :running THEN :per / 2 ELSE 0 END,
                   CASE WHEN i % :every_failed = 0 THEN :per
                        WHEN i <= :completed THEN 0 WHEN i <= :partial THEN 2 WHEN i <= :running THEN 1 ELSE 0 END,
                   :now - (:jobs - i) * 10,
                   CASE WHEN i <= :running OR i % :every_failed = 0 THEN :now - (:jobs - i) * 10 + 1 END,
                   CASE WHEN i <= :partial OR i % :every_failed = 0 THEN :now - (:jobs - i) * 10 + 60 END
            FROM n
            """, {"jobs": JOBS, "per": CHUNKS_PER_JOB, "now": NOW, "every_failed": max(1, JOBS // 12),
                  "completed": JOBS * 7 // 10, "partial": JOBS * 8 // 10, "running": JOBS * 9 // 10})
        conn.execute(
            """
            WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :per - 1),
            s AS (SELECT j.id AS job_id, j.created_at, k.i, CASE
                WHEN j.status = 'completed' THEN 'completed'
                WHEN j.status = 'failed' THEN 'failed'
                WHEN j.status = 'partial' THEN CASE WHEN k.i < :per - 2 THEN 'completed' ELSE 'failed' END
                WHEN j.status = 'running' THEN CASE WHEN k.i < :per / 2 THEN 'completed'
                                                    WHEN k.i = :per / 2 THEN 'failed'
                                                    WHEN k.i = :per / 2 + 1 THEN 'processing' ELSE 'pending' END
                ELSE 'pending' END AS status, j.status AS job_status
                FROM jobs j CROSS JOIN k)
            INSERT INTO chunks (job_id, chunk_index, params, status, run_after, attempt, worker_id, lease_token,
                                claimed_at, finished_at, last_error)
            SELECT s.job_id, s.i, '{"page":' || s.i || '}', s.status, s.created_at,
                   CASE WHEN s.status = 'pending' THEN 0 WHEN s.status = 'failed' THEN 4 ELSE 1 END,
                   CASE WHEN s.status != 'pending' THEN 'bench-w' || ((s.job_id * 20 + s.i) % 400 + 1) END,
                   CASE WHEN s.status = 'processing' THEN hex(randomblob(8)) END,
                   CASE WHEN s.status != 'pending' THEN s.created_at + 1 END,
                   CASE WHEN s.status IN ('completed', 'failed') THEN s.created_at + 2 END,
                   CASE WHEN s.job_status = 'failed' THEN 'ReadTimeout: api.example.com read timed out'
                        WHEN s.status = 'failed' THEN 'HTTP 503: service unavailable' END
            FROM s ORDER BY s.job_id, s.i
            """, {"per": CHUNKS_PER_JOB})
        conn.execute(
            """
            INSERT INTO chunk_attempts (chunk_id, attempt, worker_id, outcome, error, started_at, ended_at)
            SELECT c.id, a.n, c.worker_id, 'transient', 'HTTP 503: service unavailable', c.claimed_at, c.claimed_at + a.n
            FROM chunks c CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) a
            WHERE c.status = 'failed'
            """)
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :workers)
            INSERT INTO workers (id, host, pid, status, concurrency, chunks_done, chunks_failed, started_at,
                                 last_heartbeat, stopped_at)
            SELECT 'bench-w' || i, 'host-' || (i % 25), 10000 + i,
                   CASE WHEN i <= 450 THEN 'online' ELSE 'offline' END, 4, i * 3, i % 5,
                   :now - 86400 + i, CASE WHEN i <= 400 THEN :now - (i % 4) ELSE :now - 3600 END,
                   CASE WHEN i > 450 THEN :now - 3000 END
            FROM n
            """, {"workers": WORKERS, "now": NOW})
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5)
            INSERT INTO task_logs (job_id, worker_id, ts, level, message)
            SELECT j.id, 'bench-w1', j.created_at + n.i, 'info', 'step ' || n.i FROM jobs j CROSS JOIN n
            """)
        conn.execute("COMMIT")
    add_big_job(path)


def add_big_job(path: Path) -> int:
    """The job of 10,000 chunks that ``enter`` opens (added to a database built before it existed)."""
    with closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT id FROM jobs WHERE intent = ?", (BIG_INTENT,)).fetchone()
        if row is not None:
            return int(row[0])
        conn.execute("BEGIN IMMEDIATE")
        (job_id,) = conn.execute(
            """
            INSERT INTO jobs (intent, params, status, chunks_total, chunks_completed, chunks_failed,
                              created_at, started_at)
            VALUES (:intent, '{"big":true}', 'running', :n, :n - 1000, 500, :now - 5, :now - 4) RETURNING id
            """, {"intent": BIG_INTENT, "n": BIG_CHUNKS, "now": NOW}).fetchone()
        conn.execute(
            """
            WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :n - 1)
            INSERT INTO chunks (job_id, chunk_index, params, status, run_after, attempt, worker_id,
                                claimed_at, finished_at, last_error)
            SELECT :job, i, '{"page":' || i || '}',
                   CASE WHEN i < :n - 1000 THEN 'completed' WHEN i < :n - 500 THEN 'failed' ELSE 'pending' END,
                   :now - 5, CASE WHEN i < :n - 500 THEN 1 ELSE 0 END,
                   CASE WHEN i < :n - 500 THEN 'bench-w' || (i % 400 + 1) END,
                   CASE WHEN i < :n - 500 THEN :now - 4 END, CASE WHEN i < :n - 500 THEN :now - 3 END,
                   CASE WHEN i >= :n - 1000 AND i < :n - 500 THEN 'HTTP 429: rate limited' END
            FROM k
            """, {"job": job_id, "n": BIG_CHUNKS, "now": NOW})
        conn.execute("COMMIT")
        return int(job_id)


async def build_sessions(queue: Queue, clock: FrozenClock, workdir: Path) -> int:
    """SESSIONS work sessions (two events each) through the engine's tailer; 0 if it is absent."""
    try:
        import orjson

        from queuetop.engine.events.tail import Tailer
    except ImportError:
        return 0
    path = workdir / "bench-events.ndjson"
    start_ms = int((NOW - 2 * SESSIONS) * 1000)
    with open(path, "wb") as out:
        for i in range(SESSIONS):
            for step, kind in enumerate(("task.started", "task.completed")):
                out.write(orjson.dumps({
                    "type": kind, "agentId": f"agent-{i % 12}", "ts": start_ms + (2 * i + step) * 1000,
                    "data": {"workSessionId": f"ws_bench_{i:05d}", "conversationId": f"conv_{i:05d}",
                             "fromAgent": f"agent-{i % 12}", "toAgent": f"agent-{(i + 1) % 12}",
                             "message": f"bench session {i} {kind}"},
                }) + b"\n")
    tailer = Tailer(queue.db, clock, [str(path)])
    try:
        await tailer.poll_once()
    finally:
        tailer.close()
    return SESSIONS


async def build(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    clock = FrozenClock(NOW)
    queue = await Queue.open(path, clock=clock)  # the schema, through the engine
    try:
        await asyncio.to_thread(build_rows, path)
        sessions = await build_sessions(queue, clock, path.parent)
    finally:
        await queue.close()
    return time.perf_counter() - started, sessions


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure_app(path: Path, cycles: int) -> dict[str, float]:
    from queuetop.tui.app import QueuetopApp
    from queuetop.tui.live import ALL_TOPICS

    started = time.perf_counter()
    app = QueuetopApp(path, clock=FrozenClock(NOW))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        opened = time.perf_counter() - started
        await pilot.pause()
        painted = time.perf_counter() - started
        live = app.live
        assert live is not None
        live.cycle_times.clear()
        pending = [job.id for job in await app.queue.jobs(status="pending", limit=cycles)]
        full: list[float] = []
        tui_keys.Painter(app)  # each screen update rendered to terminal text, as a terminal gets it
        for n in range(cycles):
            await app.queue.cancel(pending[n % len(pending)])  # an in-process change notice
            await live.cycle()
            await pilot.pause()
            live.request(ALL_TOPICS)
            t = time.perf_counter()
            await live.cycle()  # every pane re-queried
            # and painted: the messages the cycle queued handled, then the screen update made now
            # (not on the next tick of the screen's update timer, not after pilot.pause()'s 20 ms idle test)
            await pilot._wait_for_screen()
            app.screen._on_timer_update()
            full.append(time.perf_counter() - t)
        times = list(live.cycle_times)
    return {"open": opened, "painted": painted, "p50": pct(times, 0.5), "p99": pct(times, 0.99),
            "full_p50": pct(full, 0.5), "full_p99": pct(full, 0.99), "cycles": len(times)}


FIND_QUERIES = [
    ("state:failed", "id:desc"),
    ("state:failed", "updated:desc"),
    ("state:pending", "id:desc"),
    ("state:failed err:timeout", "id:desc"),
    ("err:timeout", "id:desc"),
    ("timed out", "id:desc"),
    ("4242", "id:desc"),
    ("intent:bench.collect.3", "id:desc"),
    ("age:<1h", "id:desc"),
    ("", "intent:asc"),
    ("", "progress:desc"),
    ("", "updated:desc"),
]


async def measure_queries(path: Path, runs: int = 5) -> list[tuple[str, str, str, float, float]]:
    """(query, sort, matches, median ms, worst ms) of Queue.find_jobs for a 50-row page."""
    out = []
    async with await Queue.open(path, clock=FrozenClock(NOW)) as queue:
        await queue.find_jobs("state:failed")  # warm the page cache as a running TUI has it
        for query, sort in FIND_QUERIES:
            times, matched = [], 0
            for _ in range(runs):
                t = time.perf_counter()
                found = await queue.find_jobs(query, sort=sort, limit=50)
                times.append(time.perf_counter() - t)
                matched = found.matched
            out.append((query, sort, f"{matched:,}" + ("" if found.exact else "+"), pct(times, 0.5) * 1000, max(times) * 1000))
    return out


def measure_counter_cost(path: Path, rows: int = 20_000) -> tuple[float, float]:
    """µs per chunk-row status change with the counting triggers, and without (on a copy)."""
    copy = path.with_name(path.name + ".counters")
    shutil.copyfile(path, copy)
    try:
        with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM chunks WHERE status = 'completed' ORDER BY id LIMIT ?", (rows,))]

            def flip(status: str) -> float:
                conn.execute("BEGIN IMMEDIATE")
                t = time.perf_counter()
                conn.executemany("UPDATE chunks SET status = ? WHERE id = ?", [(status, i) for i in ids])
                took = time.perf_counter() - t
                conn.execute("COMMIT")
                return took

            flip("cancelled"), flip("completed")  # warm
            with_triggers = min(flip("cancelled") + flip("completed") for _ in range(3))
            for trigger in ("chunks_count_insert", "chunks_count_delete", "chunks_count_update"):
                conn.execute(f"DROP TRIGGER {trigger}")
            without = min(flip("cancelled") + flip("completed") for _ in range(3))
        n = 2 * len(ids)
        return with_triggers / n * 1e6, without / n * 1e6
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def start_tui(path: Path) -> tuple[subprocess.Popen[bytes], int, Callable[[], None]]:
    """The real ``queuetop --no-workers`` in a pseudo-terminal; returns it, the pty and how to stop it."""
    exe = shutil.which("queuetop", path=os.path.dirname(sys.executable)) or shutil.which("queuetop")
    command = [exe] if exe else [sys.executable, "-m", "queuetop.cli"]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(SIZE[0]), "LINES": str(SIZE[1])}
    proc = subprocess.Popen(command + ["--db", str(path), "--no-workers"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True, start_new_session=True)
    os.close(slave)
    drained = threading.Event()

    def drain() -> None:
        while not drained.is_set():
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def stop() -> None:
        os.write(master, b"q")
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(5)
        drained.set()
        os.close(master)

    return proc, master, stop


def measure_idle(path: Path, seconds: float) -> float:
    """CPU % of the real app in a pseudo-terminal, idle, over ``seconds``."""
    proc, _, stop = start_tui(path)
    try:
        time.sleep(4.0)  # let it open and paint (not measured)
        if proc.poll() is not None:
            raise SystemExit(f"queuetop exited early with status {proc.returncode}")
        before, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        after, t1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        stop()
    return 100.0 * (after - before) / (t1 - t0)


async def migrate(path: Path) -> None:
    """Open the queue once: a database built by an older queuetop gets its migrations now."""
    queue = await Queue.open(path)
    await queue.close()


def report_keys(figures: dict[str, object], label: str) -> None:
    """One line per key: p50/p95 in ms and the number of presses."""
    for key, name in (("j", "j (cursor down)"), ("filter", "filter keystroke"),
                      ("enter", f"enter (job of {BIG_CHUNKS:,} chunks)"), ("escape", "escape (back)")):
        times = figures[key]
        assert isinstance(times, list)
        print(f"key {label} {name:<32} p50 {pct(times, 0.5) * 1000:6.1f} ms, p95 {pct(times, 0.95) * 1000:6.1f} ms"
              f"  ({len(times)} presses)")
    cpu = figures.get("cpu")
    if isinstance(cpu, dict) and cpu:
        print(f"key {label} CPU per key (to the next key): "
              + ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in cpu.items()))
    if "rss_after_cycles" in figures:
        print(f"RSS over {figures['rss_cycles']} open/close cycles of that job: "
              f"{figures['rss_before_cycles']:.0f} MB -> {figures['rss_after_cycles']:.0f} MB")


def measure_live(path: Path, seconds: float, open_cycles: int) -> None:
    """The TUI beside an engine under load: its CPU and RSS over time, then the key figures."""
    from queuetop.engine.model.clock import SystemClock

    with tui_keys.live_load(path) as load:
        print(f"live load:        engine warmed up in {load['warm_up']:.0f}s")
        proc, master, stop = start_tui(path)
        try:
            time.sleep(4.0)  # let it open and paint (not measured)
            samples = []
            t0, cpu0, done0 = time.monotonic(), cpu_seconds(proc.pid), tui_keys.drained(path)
            last_t, last_cpu = t0, cpu0
            step = max(1.0, seconds / 10)
            while time.monotonic() - t0 < seconds:
                time.sleep(step)
                now, cpu = time.monotonic(), cpu_seconds(proc.pid)
                samples.append((now - t0, 100 * (cpu - last_cpu) / (now - last_t), tui_keys.rss_mb(proc.pid)))
                last_t, last_cpu = now, cpu
            cpu_all = 100 * (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            drained = (tui_keys.drained(path) - done0) / (time.monotonic() - t0)
        finally:
            stop()
        print(f"live TUI CPU:     {cpu_all:.1f}% of one core over {seconds:g}s "
              f"(queuetop --no-workers in a {SIZE[0]}x{SIZE[1]} pty; engine drained {drained:,.0f} chunks/s)")
        print("live TUI RSS:     " + ", ".join(f"{t:.0f}s {rss:.0f} MB ({cpu:.0f}%)" for t, cpu, rss in samples))
        figures = asyncio.run(tui_keys.measure_keys(path, rss_cycles=open_cycles, clock=SystemClock()))
    report_keys(figures, "live")


def main() -> int:
    global JOBS, CHUNKS_PER_JOB, SESSIONS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="use (or build) the database here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--cycles", type=int, default=200, help="refresh cycles to time (default 200)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle CPU window (default 10)")
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"jobs to build (default {JOBS:,})")
    parser.add_argument("--chunks-per-job", type=int, default=CHUNKS_PER_JOB,
                        help=f"chunks per job (default {CHUNKS_PER_JOB})")
    parser.add_argument("--sessions", type=int, default=SESSIONS, help=f"work sessions (default {SESSIONS:,})")
    parser.add_argument("--queries-only", action="store_true",
                        help="print only the find and counter figures (no app, no idle CPU)")
    parser.add_argument("--live", action="store_true",
                        help="also measure under load: an engine draining ~1,000 chunks/s, 20 new jobs/s, "
                             "100 events/s (adds to the database)")
    parser.add_argument("--live-seconds", type=float, default=60.0,
                        help="how long to watch the TUI's CPU and RSS under load (default 60)")
    parser.add_argument("--open-cycles", type=int, default=100,
                        help="open/close cycles of the big job for the RSS figure (default 100)")
    parser.add_argument("--only", choices=("keys", "live"),
                        help="only the idle key figures, or only the live run")
    args = parser.parse_args()
    if args.chunks_per_job < 3:  # a partial job is built with two failed chunks and at least one completed
        parser.error("--chunks-per-job must be at least 3")
    JOBS, CHUNKS_PER_JOB, SESSIONS = args.jobs, args.chunks_per_job, args.sessions
    workdir = Path(tempfile.mkdtemp(prefix="queuetop-bench-"))
    path = args.db or workdir / "bench.db"
    try:
        if not path.exists():
            took, sessions = asyncio.run(build(path))
            print(f"built {path}: {JOBS:,} jobs, {JOBS * CHUNKS_PER_JOB:,} chunks, {WORKERS} workers, "
                  f"{sessions:,} sessions in {took:.1f}s")
            if not sessions:
                print("  (no work sessions: this build has no event tailer)")
        add_big_job(path)
        asyncio.run(migrate(path))  # migrations run here, not inside a measurement
        if args.only is None:
            for query, sort, matched, median, worst in asyncio.run(measure_queries(path)):
                print(f"find {query or '(everything)'!s:<26} by {sort:<13} {matched:>10} matches  "
                      f"median {median:7.1f} ms, worst {worst:7.1f} ms")
            with_triggers, without = measure_counter_cost(path)
            print(f"counters:         {with_triggers:.2f} µs per chunk status change with the counting trigger, "
                  f"{without:.2f} µs without")
            if args.queries_only:
                return 0
            figures = asyncio.run(measure_app(path, args.cycles))
            print(f"dashboard open:   {figures['open'] * 1000:.0f} ms to data in every pane, "
                  f"{figures['painted'] * 1000:.0f} ms painted (target < 1000 ms)")
            print(f"refresh cycle:    p50 {figures['p50'] * 1000:.1f} ms, p99 {figures['p99'] * 1000:.1f} ms "
                  f"over {figures['cycles']} cycles, all panes re-queried (target < 50 ms)")
            print(f"  with painting:  p50 {figures['full_p50'] * 1000:.1f} ms, "
                  f"p99 {figures['full_p99'] * 1000:.1f} ms")
            idle = measure_idle(path, args.idle_seconds)
            print(f"idle CPU:         {idle:.1f}% of one core over {args.idle_seconds:g}s "
                  f"(queuetop --no-workers in a {SIZE[0]}x{SIZE[1]} pty)")
        if args.only in (None, "keys"):
            report_keys(asyncio.run(tui_keys.measure_keys(path, clock=FrozenClock(NOW))), "idle")
        if args.live or args.only == "live":
            measure_live(path, args.live_seconds, args.open_cycles)
    finally:
        if not args.keep and args.db is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            print(f"kept {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
