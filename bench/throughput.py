"""Queue throughput in two shapes: one job of many chunks, or many one-chunk jobs.

    python bench/throughput.py [--shape chunks] [--chunks 20000] [--concurrency 256] [--db postgresql://...]
    python bench/throughput.py --shape jobs [--jobs 5000] [--concurrency 64] [--json]

``--shape chunks`` (the default) submits ``--chunks`` no-op chunks through the
engine's API as one job, then drains them with one real ``queuetop
--engine-only`` process, then again with two. Drain rate is chunks divided by
the span from the first claim to the last completion, both read from the
database, so process start-up is not counted. Latency is each chunk's
claim-to-complete time.

``--shape jobs`` is how most queues are fed and how other job queues are
measured: ``--jobs`` no-op jobs of one chunk each, submitted in bulk with
``Queue.submit_many``, then drained by one ``queuetop --engine-only`` process.
Drain rate is jobs divided by the span from the first chunk's claim to the
last job's finish, read from the database. For comparison the same number of
jobs is also submitted with ``Queue.submit`` in a loop, into a database of its
own that is not drained.

With ``--db postgresql://...`` the same runs go to PostgreSQL, each in a
schema of its own that is dropped afterwards. ``--json`` prints one JSON
object of the figures on stdout (and nothing else there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from queuetop.engine.api import Queue

# The concurrency each shape runs with unless told: the chunks shape has
# always run at 256. For many one-chunk no-op jobs, on 2 cores, 16, 64 and
# 256 drained within run-to-run noise of each other and the engine's default
# of 4 at about a third of that; 64 keeps claim and settle batches large
# without a pile of idle handler threads.
DEFAULT_CONCURRENCY = {"chunks": 256, "jobs": 64}
FINISHED_JOBS = ("completed", "partial", "failed", "cancelled")


def queuetop_command() -> list[str]:
    exe = shutil.which("queuetop", path=os.path.dirname(sys.executable)) or shutil.which("queuetop")
    return [exe] if exe else [sys.executable, "-m", "queuetop.cli"]


async def submit(db: str, chunks: int, per_job: int) -> float:
    """Seconds to submit ``chunks`` chunks as jobs of ``per_job`` chunks each."""
    queue = await Queue.open(db)
    try:
        started = time.perf_counter()
        for first in range(0, chunks, per_job):
            await queue.submit("demo.noop", chunks=[{"n": n} for n in range(first, min(chunks, first + per_job))])
        return time.perf_counter() - started
    finally:
        await queue.close()


async def submit_jobs(db: str, jobs: int, *, bulk: bool) -> float:
    """Seconds to submit ``jobs`` one-chunk no-op jobs, with submit_many or submit in a loop."""
    queue = await Queue.open(db)
    try:
        started = time.perf_counter()
        if bulk:
            await queue.submit_many({"intent": "demo.noop"} for _ in range(jobs))
        else:
            for _ in range(jobs):
                await queue.submit("demo.noop")
        return time.perf_counter() - started
    finally:
        await queue.close()


def _connect(db: str) -> Any:
    """A plain DB-API connection to read the benchmark's results."""
    if db.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(db, autocommit=True)
    return sqlite3.connect(db)


@contextmanager
def engines(db: str, processes: int, concurrency: int) -> Iterator[None]:
    """``processes`` real ``queuetop --engine-only`` processes, stopped with SIGTERM on exit."""
    cmd = queuetop_command() + ["--db", db, "--engine-only", "--concurrency", str(concurrency)]
    procs = [subprocess.Popen(cmd, stderr=subprocess.DEVNULL) for _ in range(processes)]
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(conn: Any, query: str, target: int, what: str, timeout: float) -> None:
    """Poll ``query`` (one count) until it reaches ``target``, or exit naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        done = conn.execute(query).fetchone()[0]
        if done >= target:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"drain timed out: {done}/{target} {what}")
        time.sleep(0.1)  # polling the benchmark's own progress, not synchronising a test


def drain(db: str, processes: int, concurrency: int, chunks: int, timeout: float = 300) -> tuple[float, list[float]]:
    """Drain ``chunks`` chunks; the claim-to-completion span and each chunk's latency."""
    with engines(db, processes, concurrency):
        conn = _connect(db)
        wait_for(conn, "SELECT count(*) FROM chunks WHERE status = 'completed'", chunks, "chunks completed", timeout)
        first, last = conn.execute("SELECT min(claimed_at), max(finished_at) FROM chunks").fetchone()
        latencies = [row[0] for row in conn.execute("SELECT finished_at - claimed_at FROM chunks")]
        conn.close()
        return last - first, latencies


def drain_jobs(db: str, concurrency: int, jobs: int, timeout: float = 600) -> dict[str, Any]:
    """Drain ``jobs`` one-chunk jobs with one engine process; span, counts by status, latencies."""
    finished = ", ".join(f"'{state}'" for state in FINISHED_JOBS)
    with engines(db, 1, concurrency):
        conn = _connect(db)
        wait_for(conn, f"SELECT count(*) FROM jobs WHERE status IN ({finished})", jobs, "jobs finished", timeout)
        first = conn.execute("SELECT min(claimed_at) FROM chunks").fetchone()[0]
        last = conn.execute("SELECT max(finished_at) FROM jobs").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
        latencies = [row[0] for row in conn.execute("SELECT finished_at - claimed_at FROM chunks")]
        conn.close()
    return {"span": last - first, "statuses": statuses, "latencies": latencies}


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def backend_version(db: str) -> str:
    """``SQLite 3.x`` or ``PostgreSQL 16.x`` for the output's first line."""
    if not db.startswith("postgresql://"):
        return f"SQLite {sqlite3.sqlite_version}"
    conn = _connect(db)
    try:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]
    finally:
        conn.close()


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line on stderr and exit 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"throughput.py: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("chunks", "jobs"), default="chunks",
                        help="chunks: one job of --chunks chunks (default); jobs: --jobs one-chunk jobs")
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks shape: how many chunks")
    parser.add_argument("--per-job", type=int, default=20_000, help="chunks shape: chunks per submitted job")
    parser.add_argument("--jobs", type=int, default=5_000, help="jobs shape: how many one-chunk jobs")
    parser.add_argument("--concurrency", type=int, help="chunks each engine runs at once "
                        f"(default {DEFAULT_CONCURRENCY['chunks']} for chunks, {DEFAULT_CONCURRENCY['jobs']} for jobs)")
    parser.add_argument("--db", help="a postgresql:// URL to measure PostgreSQL instead of SQLite")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures, nothing else")
    args = parser.parse_args(argv)
    for name in ("chunks", "per_job", "jobs", "concurrency"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.db and not args.db.startswith("postgresql://"):
        parser.error(f"--db must be a postgresql:// URL, got {args.db!r}")
    args.concurrency = args.concurrency or DEFAULT_CONCURRENCY[args.shape]

    with tempfile.TemporaryDirectory() as tmp:
        try:
            with database(args.db, Path(tmp) / "probe.db") as db:
                args.backend = backend_version(db)
        except Exception as exc:  # psycopg's errors; psycopg is imported only for PostgreSQL
            parser.error(f"cannot use {args.db}: {(str(exc).strip() or type(exc).__name__).splitlines()[0]}")
        figures: dict[str, Any] = {"shape": args.shape, "backend": "postgresql" if args.db else "sqlite",
                                   "backend_version": args.backend, "concurrency": args.concurrency,
                                   "cores": os.cpu_count(), "python": sys.version.split()[0]}
        if args.shape == "jobs":
            figures.update(run_jobs(args, Path(tmp)))
        else:
            figures.update(run_chunks(args, Path(tmp)))
    if args.json:
        print(json.dumps(figures))


def say(args: argparse.Namespace, line: str) -> None:
    """Print a line of the human report (nothing with --json)."""
    if not args.json:
        print(line, flush=True)


def run_chunks(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The single-job shape: submit once, drain with one process, then with two."""
    say(args, f"queuetop throughput, one job: {args.chunks} no-op chunks, concurrency {args.concurrency}, "
              f"{os.cpu_count()} cores, {args.backend}")
    figures: dict[str, Any] = {"chunks": args.chunks}
    for processes in (1, 2):
        with database(args.db, tmp / f"bench-{processes}.db") as db:
            elapsed = asyncio.run(submit(db, args.chunks, args.per_job))
            if processes == 1:
                figures["submit_chunks_per_s"] = args.chunks / elapsed
                say(args, f"submit:                {args.chunks / elapsed:>10,.0f} chunks/s")
            span, latencies = drain(db, processes, args.concurrency, args.chunks)
        figures[f"drain_chunks_per_s_{processes}p"] = args.chunks / span
        figures[f"latency_p50_ms_{processes}p"] = percentile(latencies, 50) * 1000
        figures[f"latency_p99_ms_{processes}p"] = percentile(latencies, 99) * 1000
        plural = "es" if processes > 1 else ""
        say(args, f"drain, {processes} process{plural:<2}:    {args.chunks / span:>10,.0f} chunks/s")
        say(args, f"  claim-to-complete:   p50 {percentile(latencies, 50) * 1000:7.1f} ms   "
                  f"p99 {percentile(latencies, 99) * 1000:7.1f} ms")
    return figures


def run_jobs(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Many one-chunk jobs: submit_many, submit in a loop (not drained), drain with one process."""
    n = args.jobs
    say(args, f"queuetop throughput, many jobs: {n} one-chunk no-op jobs, one engine process, "
              f"concurrency {args.concurrency}, {os.cpu_count()} cores, {args.backend}")
    with database(args.db, tmp / "loop.db") as db:
        loop = asyncio.run(submit_jobs(db, n, bulk=False))
    say(args, f"submit (Queue.submit in a loop, for comparison): {n / loop:>10,.0f} jobs/s")
    with database(args.db, tmp / "jobs.db") as db:
        bulk = asyncio.run(submit_jobs(db, n, bulk=True))
        say(args, f"submit (Queue.submit_many):                      {n / bulk:>10,.0f} jobs/s")
        drained = drain_jobs(db, args.concurrency, n)
    statuses = drained["statuses"]
    say(args, f"drain, 1 process (first claim to last job end):  {n / drained['span']:>10,.0f} jobs/s")
    say(args, f"  claim-to-complete:   p50 {percentile(drained['latencies'], 50) * 1000:7.1f} ms   "
              f"p99 {percentile(drained['latencies'], 99) * 1000:7.1f} ms")
    if statuses.get("completed", 0) != n:
        say(args, f"  not every job completed: {statuses}")
    return {
        "jobs": n,
        "submit_many_jobs_per_s": n / bulk,
        "submit_loop_jobs_per_s": n / loop,
        "drain_jobs_per_s": n / drained["span"],
        "drain_seconds": drained["span"],
        "completed": statuses.get("completed", 0),
        "statuses": statuses,
        "latency_p50_ms": percentile(drained["latencies"], 50) * 1000,
        "latency_p99_ms": percentile(drained["latencies"], 99) * 1000,
    }


@contextmanager
def database(url: str | None, sqlite_path: Path) -> Iterator[str]:
    """A fresh database: the SQLite file, or a new schema in PostgreSQL."""
    if not url:
        yield str(sqlite_path)
        return
    schema = f"qt_bench_{os.getpid()}_{sqlite_path.stem.replace('-', '_')}"
    from psycopg import sql

    admin = _connect(url)
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        admin.close()


if __name__ == "__main__":
    main()
