"""What `concurrency` buys: one engine draining one-chunk jobs of a short handler.

    python bench/concurrency.py [--jobs 3000] [--handler-ms 2] [--levels 4,8,16,32,64] [--db postgresql://...]

For each concurrency level, ``--jobs`` one-chunk ``demo.sleep`` jobs (an
async handler that waits ``--handler-ms``) are bulk-submitted to a fresh
database and drained by one real ``queuetop --engine-only --concurrency N``
process. Printed per level: jobs/s (first claim to last finish, read from
the database) and the engine's CPU, as a share of one core over the drain and
in microseconds per job (user + system time of the process, start-up
included). The README's choice of the default comes from this table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import _connect, database, queuetop_command  # noqa: E402  (a sibling script)

from queuetop.engine.api import Queue  # noqa: E402


async def submit(db: str, jobs: int, seconds: float) -> None:
    queue = await Queue.open(db)
    try:
        await queue.submit_many({"intent": "demo.sleep", "params": {"seconds": seconds}} for _ in range(jobs))
    finally:
        await queue.close()


def drain(db: str, jobs: int, concurrency: int, timeout: float = 600) -> tuple[float, float]:
    """(jobs/s, engine CPU seconds) for one engine process at ``concurrency``."""
    proc = subprocess.Popen(queuetop_command() + ["--db", db, "--engine-only", "--concurrency", str(concurrency)],
                            stderr=subprocess.DEVNULL)
    conn = _connect(db)
    try:
        deadline = time.monotonic() + timeout
        while conn.execute("SELECT count(*) FROM jobs WHERE status = 'completed'").fetchone()[0] < jobs:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"concurrency {concurrency}: the drain did not finish")
            time.sleep(0.05)  # polling the benchmark's own progress, not synchronising a test
        first, last = conn.execute("SELECT min(claimed_at), max(finished_at) FROM chunks").fetchone()
    finally:
        conn.close()
        proc.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(proc.pid, 0)
    return jobs / (last - first), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--handler-ms", type=float, default=2.0)
    parser.add_argument("--levels", default="4,8,16,32,64", help="comma-separated concurrency levels")
    parser.add_argument("--db", help="a postgresql:// URL to measure PostgreSQL instead of SQLite")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    backend = "PostgreSQL" if args.db else f"SQLite {sqlite3.sqlite_version}"
    print(f"queuetop concurrency: {args.jobs} one-chunk jobs of a {args.handler_ms:g} ms async handler, "
          f"{backend}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| concurrency | jobs/s | engine CPU (share of a core) | engine CPU per job |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            with database(args.db, Path(tmp) / f"c{level}.db") as db:
                asyncio.run(submit(db, args.jobs, args.handler_ms / 1000))
                rate, cpu = drain(db, args.jobs, level)
            span = args.jobs / rate
            print(f"| {level} | {rate:,.0f} | {min(cpu / span, 9.99):.0%} | {cpu / args.jobs * 1e6:,.0f} µs |")


if __name__ == "__main__":
    main()
