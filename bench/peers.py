"""queuetop beside other Python job queues: many one-chunk jobs, one process, the same run.

    python bench/peers.py [--jobs 5000] [--runs 3] [--db postgresql://postgres@127.0.0.1:5432/test] [--venv PATH]

Makes a throwaway virtual environment in a temporary folder (or reuses
``--venv``), pip-installs huey, pgqueuer, procrastinate and Oban for Python
into it (any that pip cannot install is skipped with a line saying so; Oban
for Python needs Python 3.12 or newer and gets a second environment from a
newer interpreter when one is found), and runs each peer's driver script
(``bench/peer_drivers/``) with that environment's Python: the same ``--jobs``
no-op jobs, submitted with the peer's bulk API where it has one, drained by
one process. huey runs on SQLite, the others on PostgreSQL, each in a fresh
schema dropped afterwards. In the same run it runs ``bench/throughput.py
--shape jobs --json`` for queuetop on SQLite and PostgreSQL, and ``--shape
chunks`` for the single-job shape, then prints one markdown table with the
ratios and the machine.

Drain is measured from the first task's start (queuetop: first claim) to the
last job's end (queuetop: the job's finished_at; peers: the later of the
task's own end and the completion the peer records, where it records one).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

HERE = Path(__file__).resolve().parent
DRIVERS = HERE / "peer_drivers"
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Peer:
    """One peer: what pip installs, its driver, its backend, and the concurrency it runs at."""

    name: str
    requirements: tuple[str, ...]
    driver: str
    backend: str  # "sqlite" or "postgresql"
    concurrency: int
    needs_python: tuple[int, int] = (3, 8)
    as_shipped: bool = False  # the peer's own defaults (the driver's --as-shipped), a row beside it

    @property
    def key(self) -> str:
        """The peer's figures are kept and looked up under this."""
        return f"{self.name}, as shipped" if self.as_shipped else self.name


# Concurrency per peer, measured on 2 cores with 5,000 no-op jobs: huey 16
# worker threads (8 drained ~35% slower, 1 and 4 slower still); pgqueuer's
# dequeue batch 100, the figure other comparisons quote (500 drains faster
# still, 10 far slower); procrastinate 10 (1 and 50 were no faster); Oban for
# Python 50 (10 was a third slower).
PGQUEUER_BATCH = 100
PEERS = (
    Peer("huey", ("huey",), "huey_driver.py", "sqlite", 16),
    # huey at its own synchronous=FULL: as a user runs it, and as the target's
    # first comparison measured it; the ratios stay against the row above
    Peer("huey", ("huey",), "huey_driver.py", "sqlite", 16, as_shipped=True),
    Peer("pgqueuer", ("pgqueuer[asyncpg]",), "pgqueuer_driver.py", "postgresql", PGQUEUER_BATCH),
    Peer("procrastinate", ("procrastinate", "psycopg[binary]"), "procrastinate_driver.py", "postgresql", 10),
    Peer("Oban for Python", ("oban", "psycopg[binary]"), "oban_driver.py", "postgresql", 50, needs_python=(3, 12)),
)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def make_venv(venv: Path, python: str) -> Path | None:
    """A virtual environment at ``venv`` made by ``python`` (kept if it exists); its python."""
    if not venv_python(venv).exists():
        made = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode:
            log(f"could not make a virtual environment with {python}: {last_line(made.stderr)}")
            return None
    return venv_python(venv)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    return lines[-1] if lines else "(no output)"


def pip_install(python: Path, requirements: tuple[str, ...]) -> str | None:
    """Install ``requirements``; None when done, else pip's last line of complaint."""
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else last_line(done.stderr or done.stdout)


def python_version(python: str | Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    if out.returncode:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def newer_python(wanted: tuple[int, int], given: str | None) -> str | None:
    """The oldest interpreter of at least ``wanted`` (closest to ours): ``given``, on PATH, or pyenv's."""
    candidates = [given] if given else []
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(wanted[1], 20)]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/3.*/bin/python3"),
                         key=lambda path: [int(n) for n in Path(path).parent.parent.name.split(".") if n.isdigit()])
    for candidate in filter(None, candidates):
        version = python_version(candidate)
        if version and version >= wanted:
            return candidate
    return None


def install_peers(venv: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Each peer's python, for those pip could install; a line for each it could not."""
    pythons: dict[str, Path] = {}
    base = make_venv(venv, sys.executable)
    if base is None:
        return pythons
    base_version = python_version(base) or (0, 0)
    for peer in PEERS:
        if peer.name in pythons:  # another row of the same peer
            continue
        python: Path | None = base
        if base_version < peer.needs_python:
            newer = newer_python(peer.needs_python, args.newer_python)
            if newer is None:
                log(f"skipped {peer.name}: it needs Python {'.'.join(map(str, peer.needs_python))}+, "
                    f"and none was found (--newer-python PATH)")
                continue
            python = make_venv(venv.parent / f"{venv.name}-py{'.'.join(map(str, python_version(newer) or ()))}",
                               newer)
            if python is None:
                continue
        log(f"installing {peer.name} ({' '.join(peer.requirements)}) into {python.parent.parent} ...")
        complaint = pip_install(python, peer.requirements)
        if complaint:
            log(f"skipped {peer.name}: pip could not install it: {complaint}")
            continue
        pythons[peer.name] = python
    return pythons


def run_json(cmd: list[str], what: str, timeout: float = 1800) -> dict[str, Any] | None:
    """Run ``cmd``, read the one JSON object its stdout ends with; None (and a line) if it failed."""
    log(f"running {what} ...")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"{what} took longer than {timeout:.0f} s; left out")
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        log(f"{what} failed (exit {done.returncode}): {last_line(done.stderr)}")
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        log(f"{what} printed no JSON: {lines[-1][:200]}")
        return None


class Schema:
    """A fresh PostgreSQL schema for one peer, dropped with everything in it on exit."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name

    def __enter__(self) -> str:
        self._sql("CREATE SCHEMA {}")
        return self.name

    def __exit__(self, *exc: object) -> None:
        self._sql("DROP SCHEMA IF EXISTS {} CASCADE")

    def _sql(self, template: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL(template).format(sql.Identifier(self.name)))


def run_peer(peer: Peer, python: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any] | None:
    cmd = [str(python), str(DRIVERS / peer.driver), "--jobs", str(args.jobs), "--concurrency", str(peer.concurrency)]
    cmd += ["--as-shipped"] if peer.as_shipped else []
    if peer.backend == "sqlite":
        return run_json(cmd + ["--path", str(tmp / f"{peer.driver}{'-shipped' if peer.as_shipped else ''}.db")], peer.key)
    schema = f"peer_{peer.driver.split('_')[0]}_{os.getpid()}"
    with Schema(args.db, schema):
        return run_json(cmd + ["--db", args.db, "--schema", schema], peer.name)


def run_queuetop(args: argparse.Namespace) -> dict[str, dict[str, Any] | None]:
    """queuetop's own bench in both shapes, on both backends; on PostgreSQL also with as many
    chunks in flight as pgqueuer fetches per dequeue (its batch), like for like."""
    bench = [sys.executable, str(HERE / "throughput.py"), "--json"]
    matched = str(PGQUEUER_BATCH)
    return {
        "jobs sqlite": run_json(bench + ["--shape", "jobs", "--jobs", str(args.jobs)], "queuetop, many jobs, SQLite"),
        "jobs postgresql": run_json(bench + ["--shape", "jobs", "--jobs", str(args.jobs), "--db", args.db],
                                    "queuetop, many jobs, PostgreSQL"),
        "jobs postgresql matched": run_json(bench + ["--shape", "jobs", "--jobs", str(args.jobs), "--db", args.db,
                                                     "--concurrency", matched],
                                            f"queuetop, many jobs, PostgreSQL, concurrency {matched}"),
        "chunks sqlite": run_json(bench + ["--shape", "chunks", "--chunks", str(args.chunks)],
                                  "queuetop, one job, SQLite"),
        "chunks postgresql": run_json(bench + ["--shape", "chunks", "--chunks", str(args.chunks), "--db", args.db],
                                      "queuetop, one job, PostgreSQL"),
    }


def machine_line(db: str) -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception as exc:  # the line still says what it could not learn
        pg = f"unknown ({type(exc).__name__})"
    return (f"Machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
            f"SQLite {sqlite3.sqlite_version}; PostgreSQL {pg}")


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    return "—" if not ours or not theirs else f"{ours / theirs:.2f}×"


def table(qt: dict[str, dict[str, Any] | None], peers: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The markdown report: many-jobs table with ratios, the single-job shape, the machine."""
    rows = ["| system | backend | submit jobs/s | drain jobs/s | submit ratio | drain ratio | how |",
            "|---|---|---|---|---|---|---|"]
    sqlite_qt, pg_qt = qt["jobs sqlite"], qt["jobs postgresql"]
    huey = peers.get("huey")
    pg_peers = [peers[p.key] for p in PEERS if p.backend == "postgresql" and p.key in peers]
    fast_submit = max(pg_peers, key=lambda r: r["submit_jobs_per_s"], default=None)
    fast_drain = max(pg_peers, key=lambda r: r["drain_jobs_per_s"], default=None)

    def qt_row(label: str, figures: dict[str, Any] | None, submit_vs: Any, drain_vs: Any) -> str:
        if figures is None:
            return f"| queuetop | {label} | failed | failed | — | — | see the lines above |"
        done = "" if figures["completed"] == figures["jobs"] else f"; only {figures['completed']} completed"
        return (f"| **queuetop** | {label} | {rate(figures['submit_many_jobs_per_s'])} | "
                f"{rate(figures['drain_jobs_per_s'])} | "
                f"{ratio(figures['submit_many_jobs_per_s'], submit_vs and submit_vs['submit_jobs_per_s'])} | "
                f"{ratio(figures['drain_jobs_per_s'], drain_vs and drain_vs['drain_jobs_per_s'])} | "
                f"Queue.submit_many (Queue.submit in a loop: {rate(figures['submit_loop_jobs_per_s'])}/s); "
                f"one engine, concurrency {figures['concurrency']}{done} |")

    def peer_row(key: str, backend: str) -> str:
        figures = peers.get(key)
        if figures is None:
            return f"| {key} | {backend} | skipped | skipped | | | see the lines above |"
        done = "" if figures["completed"] == figures["jobs"] else f"; only {figures['completed']} completed"
        py = "" if figures["python"] == platform.python_version() else f"; Python {figures['python']}"
        name, _, variant = key.partition(", ")
        return (f"| {name} {figures['version']}{', ' + variant if variant else ''} | {backend} | "
                f"{rate(figures['submit_jobs_per_s'])} | {rate(figures['drain_jobs_per_s'])} | | | {figures['submit_api']}; "
                f"{figures['concurrency']}{py}{done} |")

    rows.append(qt_row(f"SQLite {sqlite3.sqlite_version}", sqlite_qt, huey, huey))
    rows.append(peer_row("huey", "SQLite (WAL, synchronous=NORMAL)"))
    rows.append(peer_row("huey, as shipped", "SQLite (WAL, synchronous=FULL)"))
    rows.append(qt_row("PostgreSQL", pg_qt, fast_submit, fast_drain))
    rows.append(qt_row("PostgreSQL", qt["jobs postgresql matched"], fast_submit, fast_drain))
    rows += [peer_row(p.key, "PostgreSQL") for p in PEERS if p.backend == "postgresql"]
    out = [f"## {args.jobs:,} no-op one-chunk jobs, one process each, same run", "", *rows, ""]
    out.append("Ratios: queuetop SQLite against huey; queuetop PostgreSQL against the fastest PostgreSQL peer "
               f"at each (submit: {fast_submit['system'] if fast_submit else '—'}, "
               f"drain: {fast_drain['system'] if fast_drain else '—'}). The second PostgreSQL row runs as many "
               f"chunks at once as pgqueuer fetches per dequeue ({PGQUEUER_BATCH}).")
    shipped = peers.get("huey, as shipped")
    if sqlite_qt is not None and shipped is not None:
        out.append(f"Against huey as shipped (synchronous=FULL: a WAL sync at every commit, where queuetop "
                   f"syncs at checkpoints): submit "
                   f"{ratio(sqlite_qt['submit_many_jobs_per_s'], shipped['submit_jobs_per_s'])}, drain "
                   f"{ratio(sqlite_qt['drain_jobs_per_s'], shipped['drain_jobs_per_s'])}.")
    out += ["", f"## One job of {args.chunks:,} no-op chunks (queuetop only)", "",
            "| backend | submit chunks/s | drain chunks/s, 1 process | drain chunks/s, 2 processes |",
            "|---|---|---|---|"]
    for label, key in (("SQLite", "chunks sqlite"), ("PostgreSQL", "chunks postgresql")):
        figures = qt[key]
        if figures is None:
            out.append(f"| {label} | failed | failed | failed |")
        else:
            out.append(f"| {label} | {rate(figures['submit_chunks_per_s'])} | {rate(figures['drain_chunks_per_s_1p'])} "
                       f"| {rate(figures['drain_chunks_per_s_2p'])} |")
    out += ["", machine_line(args.db)]
    return "\n".join(out)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's figures over its rounds: the median of each rate, the fewest jobs completed."""
    merged = dict(runs[-1])
    for key, value in merged.items():
        values = [run[key] for run in runs if key in run]
        if key == "completed":
            merged[key] = min(values)
        elif isinstance(value, float) and all(isinstance(v, (int, float)) for v in values):
            merged[key] = statistics.median(values)
    return merged


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line on stderr and exit 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"peers.py: {message}", file=sys.stderr)
        raise SystemExit(2)


def main() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5_000, help="one-chunk no-op jobs for every system")
    parser.add_argument("--chunks", type=int, default=20_000, help="chunks of queuetop's single-job shape")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"PostgreSQL URL (default {DEFAULT_DB})")
    parser.add_argument("--venv", type=Path, help="a virtual environment to make or reuse for the peers")
    parser.add_argument("--newer-python", metavar="PATH", help="a Python 3.12+ for peers that need one")
    parser.add_argument("--runs", type=int, default=3, help="rounds of every system; figures are medians (default 3)")
    args = parser.parse_args()
    if args.jobs < 1 or args.chunks < 1 or args.runs < 1:
        parser.error("--jobs, --chunks and --runs must be at least 1")
    if not args.db.startswith("postgresql://"):
        parser.error(f"--db must be a postgresql:// URL, got {args.db!r}")

    try:
        import psycopg

        psycopg.connect(args.db, autocommit=True, connect_timeout=10).close()
    except Exception as exc:  # a bad URL or no server: say so before installing anything
        parser.error(f"cannot use {args.db}: {(str(exc).strip() or type(exc).__name__).splitlines()[0]}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="queuetop-peers-") as tmp_name:
        tmp = Path(tmp_name)
        pythons = install_peers(args.venv or tmp / "venv", args)
        # Every system once per round, rounds one after another: a slow
        # minute on a shared machine then touches each system alike, and
        # each figure is the median of its rounds.
        peer_runs: dict[str, list[dict[str, Any]]] = {}
        qt_runs: dict[str, list[dict[str, Any]]] = {}
        for round_no in range(1, args.runs + 1):
            if args.runs > 1:
                log(f"round {round_no} of {args.runs}")
            for peer in PEERS:
                if peer.name in pythons:
                    figures = run_peer(peer, pythons[peer.name], args, tmp)
                    if figures is not None:
                        peer_runs.setdefault(peer.key, []).append(figures)
            for key, figures in run_queuetop(args).items():
                qt_runs.setdefault(key, [])
                if figures is not None:
                    qt_runs[key].append(figures)
        peers = {name: median_of(runs) for name, runs in peer_runs.items()}
        qt = {key: median_of(runs) if runs else None for key, runs in qt_runs.items()}
    print(table(qt, peers, args))
    if args.runs > 1:
        print(f"\nEach figure is the median of {args.runs} rounds.")
    log(f"(whole run: {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
