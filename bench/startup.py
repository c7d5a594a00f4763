"""CLI start-up: how long one ``queuetop`` call takes, next to bare Python.

    python bench/startup.py [--runs 15] [--db postgresql://...]

Runs each command ``--runs`` times as a fresh process, interleaved so that
a busy moment on the machine hits every command alike, and prints the
median wall time of each with its ratio to bare ``python -c 'import
sqlite3, json, asyncio'`` (the floor any Python CLI on SQLite pays), both
in wall time and in CPU time (user + system, which a loaded machine skews
less).
``jobs`` and ``submit`` go to a throwaway SQLite file (or the given
PostgreSQL database, in a schema of its own that is dropped afterwards).
One warm-up round goes first and is not counted; it writes compiled
bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for the runs), as ``pip
install`` does for an installed queuetop, so no run compiles source.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def queuetop_command() -> list[str]:
    exe = shutil.which("queuetop", path=os.path.dirname(sys.executable)) or shutil.which("queuetop")
    return [exe] if exe else [sys.executable, "-m", "queuetop.cli"]


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``; a failing run stops the bench."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--db", help="a postgresql:// URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    qt = queuetop_command()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="queuetop-startup-") as tmp:
        schema = None
        if args.db:
            schema = f"bench_startup_{os.getpid()}"
            db = _pg_schema(args.db, schema)
        else:
            db = str(Path(tmp) / "startup.db")
        env.pop("QUEUETOP_DB", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cmds = {
            "python -c 'import sqlite3, json, asyncio'": [sys.executable, "-c", "import sqlite3, json, asyncio"],
            "queuetop --version": [*qt, "--version"],
            "queuetop jobs": [*qt, "jobs", "--db", db],
            "queuetop submit demo.noop": [*qt, "submit", "demo.noop", "--db", db],
        }
        try:
            wall(cmds["queuetop submit demo.noop"], env)  # creates the database: not a timed run
            for argv in cmds.values():
                wall(argv, env)  # warm-up
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
            for _ in range(args.runs):
                for name, argv in cmds.items():
                    times[name].append(wall(argv, env))
        finally:
            if schema:
                _pg_drop(args.db, schema)

    medians = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
               for name, runs in times.items()}
    base_wall, base_cpu = next(iter(medians.values()))
    print(f"CLI start-up, median of {args.runs} runs each ({os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}, {'PostgreSQL' if args.db else 'SQLite'})")
    width = max(map(len, medians))
    print(f"  {'':<{width}}  {'wall':>8}  {'ratio':>6}  {'cpu':>8}  {'ratio':>6}")
    for name, (wall_s, cpu_s) in medians.items():
        print(f"  {name:<{width}}  {wall_s * 1000:5.1f} ms  {wall_s / base_wall:5.2f}x  "
              f"{cpu_s * 1000:5.1f} ms  {cpu_s / base_cpu:5.2f}x")


def _pg_schema(url: str, schema: str) -> str:
    """A fresh schema on ``url``; the URL that puts queuetop in it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _pg_drop(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
