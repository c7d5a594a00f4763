"""bench/throughput.py's many-jobs shape, small: its JSON has the figures and every job completed.

Speed is not asserted here (it lives in the bench's printed figures); this
only keeps the bench runnable, on both backends, with a real engine process.
bench/peers.py installs other queues from the network and is never run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PG_DSN

BENCH = Path(__file__).resolve().parent.parent / "bench"
FIGURES = ("submit_many_jobs_per_s", "submit_loop_jobs_per_s", "drain_jobs_per_s", "drain_seconds",
           "latency_p50_ms", "latency_p99_ms", "concurrency")


def test_jobs_shape_prints_figures_and_completes_every_job(backend: str) -> None:
    db = ["--db", PG_DSN] if backend == "postgres" else []
    done = subprocess.run([sys.executable, str(BENCH / "throughput.py"), "--shape", "jobs", "--jobs", "200", "--json",
                           *db], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["shape"] == "jobs"
    assert figures["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert figures["jobs"] == 200
    for name in FIGURES:
        assert isinstance(figures[name], (int, float)) and figures[name] > 0, name
    assert figures["statuses"] == {"completed": 200}
    assert figures["completed"] == 200


@pytest.mark.parametrize("script, argv, complaint", [
    ("throughput.py", ["--jobs", "0"], "--jobs must be at least 1"),
    ("throughput.py", ["--db", "/tmp/x.db"], "--db must be a postgresql:// URL"),
    ("throughput.py", ["--shape", "rows"], "invalid choice"),
    ("throughput.py", ["--shape", "jobs", "--db", "postgresql://nobody@127.0.0.1:1/none"], "cannot use"),
    ("peers.py", ["--jobs", "0"], "--jobs, --chunks and --runs must be at least 1"),
    ("peers.py", ["--runs", "0"], "--jobs, --chunks and --runs must be at least 1"),
    ("peers.py", ["--db", "postgresql://nobody@127.0.0.1:1/none"], "cannot use"),
])
def test_bad_arguments_are_one_line_and_exit_2(script: str, argv: list[str], complaint: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script), *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and complaint in done.stderr, done.stderr
