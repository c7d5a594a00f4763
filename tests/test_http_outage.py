"""A host outage the circuit breaker handles costs no chunk its retries.

A real ``queuetop --engine-only`` process runs the ``http`` intent against a
real server on 127.0.0.1 that answers 503 for a while and then recovers (the
shape of a 20 s outage, shortened: the cooldowns are scaled down with it).
Every chunk must end ``completed``: the failures that opened the circuit
spend an attempt each, but failed half-open probes, requests that fail on a
circuit already open and requests refused while it is open do not, so no
chunk runs out of retries however long the outage lasts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import Engines, assert_counters, query, scalar, wait_until, write_config

from test_http import Answer, ScriptedServer, server  # noqa: F401
from test_processes import submit, workers_online

pytestmark = pytest.mark.slow

CHUNKS = 60
THRESHOLD = 5
CONCURRENCY = 4
MAX_RETRIES = 3
# The outage outlasts several probes: with these cooldowns (0.3, 0.6, 1.2,
# 1.2, ...) three seconds of 503s fail the probe at least three times. Each
# failed probe used to spend its chunk's attempt (and four spend a chunk's
# whole budget: the job ended partial).
MIN_OUTAGE = 3.0
MIN_FAILED_PROBES = 3


def config(tmp_path: Path, server: ScriptedServer) -> Path:
    return write_config(tmp_path / "queuetop.toml", f"""
[engine]
concurrency = {CONCURRENCY}
poll_interval = 0.05
heartbeat_interval = 0.5
retry_base = 0.05
retry_cap = 0.2
log_flush_interval = 0.2
grace_period = 2

[http]
trust_env = false

[http.intents."collect.ads"]
url = "{server.url('/collect')}"
timeout = 2
failure_threshold = {THRESHOLD}
cooldown = 0.3
max_cooldown = 1.2
""")


def circuit(db: Path | str) -> tuple[str, int]:
    """The host's circuit state and how often it opened; ("closed", 0) before any failure."""
    found = query(db, "SELECT state, opens FROM circuits")
    return (found[0][0], found[0][1]) if found else ("closed", 0)


def test_outage_then_recovery_completes_every_chunk(tmp_path: Path, db_path: Path | str, engines: Engines,
                                                    server: ScriptedServer) -> None:
    db = db_path
    server.script("/collect", Answer(503, "service unavailable"))
    cfg = config(tmp_path, server)
    chunks_file = tmp_path / "chunks.json"
    chunks_file.write_text(json.dumps([{"n": n} for n in range(CHUNKS)]))
    engine = engines.start(db, config=cfg)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the worker\n" + engines.logs())
    job = submit(db, tmp_path, "collect.ads", "--chunks", str(chunks_file), "--max-retries", str(MAX_RETRIES))
    outage_started = time.monotonic()

    # The outage: the circuit opens, then its probes fail again and again.
    wait_until(lambda: circuit(db)[1] >= 1 + MIN_FAILED_PROBES
               and time.monotonic() - outage_started >= MIN_OUTAGE, timeout=30,
               message=lambda: f"the probes to fail: {circuit(db)}\n{engines.logs()}")
    during = server.count()
    assert scalar(db, "SELECT count(*) FROM chunks WHERE status = 'failed'") == 0
    # Requests stay bounded: the run that opened the circuit (and what was in
    # flight then), then one probe per opening, not CHUNKS * (MAX_RETRIES + 1).
    opens = circuit(db)[1]
    assert during <= THRESHOLD + CONCURRENCY + opens, (during, opens)

    # The host recovers: the next probe closes the circuit and everything runs.
    server.script("/collect", Answer(200, "ok"))
    wait_until(lambda: scalar(db, "SELECT status FROM jobs WHERE id = ?", (job,)) in ("completed", "partial", "failed"),
               timeout=30, message=lambda: f"the job to end: {query(db, 'SELECT status, count(*) FROM chunks GROUP BY status')}"
                                           f"\n{engines.logs()}")
    assert engine.stop() == 0, engine.log()

    assert query(db, "SELECT status, chunks_completed, chunks_failed FROM jobs WHERE id = ?", (job,)) == [
        ("completed", CHUNKS, 0)]
    assert circuit(db)[0] == "closed"
    # Only the failures counted while the circuit was closed spent an attempt:
    # each of those chunks spent at most one, whatever the number of probes.
    spent = query(db, "SELECT attempt, count(*) FROM chunks GROUP BY attempt ORDER BY attempt")
    assert dict(spent).keys() <= {1, 2}, spent
    assert dict(spent).get(2, 0) <= THRESHOLD, spent
    recorded = query(db, "SELECT chunk_id, count(*) FROM chunk_attempts GROUP BY chunk_id")
    assert all(count == 1 for _, count in recorded), recorded
    assert server.count() <= during + CHUNKS + 1  # after recovery: one request per chunk, plus the probe
    assert_counters(db)
