"""Queue throughput: submit rate, drain rate with one and two processes, latency.

    python bench/throughput.py [--chunks 20000] [--concurrency 256] [--db postgresql://...]

Submits ``--chunks`` no-op chunks through the engine's API, then drains them
with one real ``queuetop --engine-only`` process, then again with two. Drain
rate is chunks divided by the span from the first claim to the last
completion, both read from the database, so process start-up is not counted.
Latency is each chunk's claim-to-complete time.

With ``--db postgresql://...`` the same runs go to PostgreSQL, each in a
schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
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
from typing import Any

from queuetop.engine.api import Queue


def queuetop_command() -> list[str]:
    exe = shutil.which("queuetop", path=os.path.dirname(sys.executable)) or shutil.which("queuetop")
    return [exe] if exe else [sys.executable, "-m", "queuetop.cli"]


async def submit(db: str, chunks: int, per_job: int) -> float:
    queue = await Queue.open(db)
    try:
        started = time.perf_counter()
        for first in range(0, chunks, per_job):
            await queue.submit("demo.noop", chunks=[{"n": n} for n in range(first, min(chunks, first + per_job))])
        return time.perf_counter() - started
    finally:
        await queue.close()


def _connect(db: str) -> Any:
    """A plain DB-API connection to read the benchmark's results."""
    if db.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(db, autocommit=True)
    return sqlite3.connect(db)


def drain(db: str, processes: int, concurrency: int, chunks: int, timeout: float = 300) -> tuple[float, list[float]]:
    cmd = queuetop_command() + ["--db", db, "--engine-only", "--concurrency", str(concurrency)]
    procs = [subprocess.Popen(cmd, stderr=subprocess.DEVNULL) for _ in range(processes)]
    try:
        conn = _connect(db)
        deadline = time.monotonic() + timeout
        while True:
            done = conn.execute("SELECT count(*) FROM chunks WHERE status = 'completed'").fetchone()[0]
            if done >= chunks:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"drain timed out: {done}/{chunks} completed")
            time.sleep(0.1)  # polling the benchmark's own progress, not synchronising a test
        first, last = conn.execute("SELECT min(claimed_at), max(finished_at) FROM chunks").fetchone()
        latencies = [row[0] for row in conn.execute("SELECT finished_at - claimed_at FROM chunks")]
        conn.close()
        return last - first, latencies
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--per-job", type=int, default=20_000, help="chunks per submitted job")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--db", help="a postgresql:// URL to measure PostgreSQL instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        backend = "PostgreSQL" if args.db else f"SQLite {sqlite3.sqlite_version}"
        print(f"queuetop throughput: {args.chunks} no-op chunks, concurrency {args.concurrency}, "
              f"{os.cpu_count()} cores, {backend}")
        for processes in (1, 2):
            with database(args.db, Path(tmp) / f"bench-{processes}.db") as db:
                run(db, processes, args)


def run(db: str, processes: int, args: argparse.Namespace) -> None:
    elapsed = asyncio.run(submit(db, args.chunks, args.per_job))
    if processes == 1:
        print(f"submit:                {args.chunks / elapsed:>10,.0f} chunks/s")
    span, latencies = drain(db, processes, args.concurrency, args.chunks)
    print(f"drain, {processes} process{'es' if processes > 1 else '':<2}:    {args.chunks / span:>10,.0f} chunks/s")
    print(f"  claim-to-complete:   p50 {percentile(latencies, 50) * 1000:7.1f} ms   "
          f"p99 {percentile(latencies, 99) * 1000:7.1f} ms")


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
