"""Engine CPU per job while draining many one-chunk no-op jobs (less noisy than wall time).

    python bench/drain_cpu.py [--jobs 20000] [--concurrency 64] [--rounds 1] [--db postgresql://...]
    python bench/drain_cpu.py --py-spy out.svg   # also record the drain with py-spy

Submits ``--jobs`` one-chunk no-op jobs with ``Queue.submit_many``, pauses
the queue, starts one ``queuetop --engine-only`` process, waits until its
worker is online, reads the process's CPU time (user + system, every
thread, from /proc), resumes the queue, waits until every job has ended and
reads it again. The difference divided by the jobs is the engine's CPU per
job: start-up and idle polling are left out, the SQLite work on aiosqlite's
thread is in. Drain rate is jobs over the span from the first claim to the
last job's finish, read from the database, as in throughput.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import FINISHED_JOBS, _connect, database, queuetop_command, wait_for  # noqa: E402

from queuetop.engine.api import Queue  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of process ``pid``'s sockets (its connections to the server)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def server_pids(conn: Any, pid: int) -> list[int]:
    """The PostgreSQL backends serving process ``pid`` (same machine, TCP)."""
    ports = sorted(local_ports(pid))
    if not ports:
        return []
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE client_port = ANY (%s)", (ports,)).fetchall()
    return [row[0] for row in rows]


def server_seconds(pids: list[int]) -> dict[int, float]:
    """CPU of each of these backends so far (one that has gone is left out)."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return seconds


async def prepare(db: str, jobs: int) -> float:
    """Submit the jobs (seconds taken) and leave the queue paused."""
    queue = await Queue.open(db)
    try:
        started = time.perf_counter()
        await queue.submit_many({"intent": "demo.noop"} for _ in range(jobs))
        took = time.perf_counter() - started
        await queue.pause("bench")
        return took
    finally:
        await queue.close()


async def resume(db: str) -> None:
    queue = await Queue.open(db)
    try:
        await queue.resume()
    finally:
        await queue.close()


def one_round(db: str, jobs: int, concurrency: int, spy: str | None) -> dict[str, float]:
    submit_s = asyncio.run(prepare(db, jobs))
    cmd = queuetop_command() + ["--db", db, "--engine-only", "--concurrency", str(concurrency)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    recorder = None
    try:
        conn = _connect(db)
        wait_for(conn, "SELECT count(*) FROM workers WHERE status = 'online'", 1, "worker online", 60)
        if spy:
            recorder = subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--rate", "250",
                                         "--nonblocking", "--threads", "-o", spy]
                                        + (["--format", "raw"] if spy.endswith(".txt") else []), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            time.sleep(1)
        backends = server_pids(conn, proc.pid) if db.startswith("postgresql://") else []
        before = cpu_seconds(proc.pid)
        server_before = server_seconds(backends)
        asyncio.run(resume(db))
        finished = ", ".join(f"'{state}'" for state in FINISHED_JOBS)
        wait_for(conn, f"SELECT count(*) FROM jobs WHERE status IN ({finished})", jobs, "jobs finished", 600)
        after = cpu_seconds(proc.pid)
        # the pool may have opened connections since: each counts from its start
        server_after = server_seconds(server_pids(conn, proc.pid) if backends else [])
        first = conn.execute("SELECT min(claimed_at) FROM chunks").fetchone()[0]
        last = conn.execute("SELECT max(finished_at) FROM jobs").fetchone()[0]
        completed = conn.execute("SELECT count(*) FROM jobs WHERE status = 'completed'").fetchone()[0]
        conn.close()
    finally:
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    # The poll after the last job ended adds at most a tenth of a second of idle engine time.
    return {"submit_jobs_per_s": jobs / submit_s, "drain_jobs_per_s": jobs / (last - first),
            "cpu_us_per_job": (after - before) / jobs * 1e6,
            "server_us_per_job": sum(cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items()) / jobs * 1e6, "completed": completed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--db", help="a postgresql:// URL to measure PostgreSQL instead of SQLite")
    parser.add_argument("--py-spy", dest="spy", help="record the (last round's) drain with py-spy into this file")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            with database(args.db, Path(tmp) / f"cpu-{n}.db") as db:
                spy = args.spy if n == args.rounds - 1 else None
                row = one_round(db, args.jobs, args.concurrency, spy)
            rows.append(row)
            print(f"round {n + 1}: submit_many {row['submit_jobs_per_s']:>8,.0f} jobs/s   drain "
                  f"{row['drain_jobs_per_s']:>8,.0f} jobs/s   engine CPU {row['cpu_us_per_job']:6.1f} µs/job   "
                  f"server CPU {row['server_us_per_job']:6.1f} µs/job   "
                  f"completed {row['completed']}", flush=True)
    if len(rows) > 1:
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(f"median:  submit_many {med['submit_jobs_per_s']:>8,.0f} jobs/s   drain "
              f"{med['drain_jobs_per_s']:>8,.0f} jobs/s   engine CPU {med['cpu_us_per_job']:6.1f} µs/job   "
              f"server CPU {med['server_us_per_job']:6.1f} µs/job")


if __name__ == "__main__":
    main()
