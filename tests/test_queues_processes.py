"""Named queues across real `queuetop --engine-only` processes sharing one database.

Limits and rates are checked from what the database recorded (each chunk's
claim and finish times), never from timings: the intervals a chunk was seen
running lie inside the time it held its slot, so they can overlap no more
than the slots allowed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from conftest import Engines, assert_counters, query, run_cli, scalar, wait_until, write_config
from test_processes import submit, workers_online

pytestmark = pytest.mark.slow

LIMITED = """
[engine]
concurrency = 8
poll_interval = 0.05

[queues.limited]
limit = 2
"""


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most of these intervals that overlap at any moment (one that ends as another starts does not)."""
    edges = sorted([(end, -1) for _, end in spans] + [(start, 1) for start, _ in spans])
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def spans(db: Path | str, where: str, params: tuple = ()) -> list[tuple[float, float]]:
    return [(row[0], row[1]) for row in query(
        db, f"SELECT claimed_at, finished_at FROM chunks WHERE status = 'completed' AND {where}", params)]


def all_done(db: Path | str) -> bool:
    return scalar(db, "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')") == 0


def test_a_limit_holds_across_two_engines_and_other_queues_run_at_full_speed(
        tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "limited.toml", LIMITED)
    for _ in range(2):
        engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 2), timeout=20, message=lambda: "two engines\n" + engines.logs())
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps([{"seconds": 0.3}] * 12))
    limited = submit(db, tmp_path, "demo.sleep", "--chunks", str(chunks), "--queue", "limited")
    chunks.write_text(json.dumps([{"seconds": 0.3}] * 40))
    other = submit(db, tmp_path, "demo.sleep", "--chunks", str(chunks))
    wait_until(lambda: all_done(db), timeout=60, message=lambda: "both jobs to end\n" + engines.logs())
    for engine in engines.started:
        assert engine.stop() == 0, engine.log()

    assert query(db, "SELECT id, status FROM jobs ORDER BY id") == [(limited, "completed"), (other, "completed")]
    held = spans(db, "job_id = ?", (limited,))
    assert len(held) == 12 and most_at_once(held) == 2  # never three, and the limit was used
    free = spans(db, "job_id = ?", (other,))
    # the other queue was not held to 2: it ran many at once, while the limited one ran
    assert most_at_once(free) > 2
    limited_window = (min(s for s, _ in held), max(e for _, e in held))
    assert any(s < limited_window[1] and e > limited_window[0] for s, e in free)
    assert scalar(db, "SELECT count(*) FROM chunk_attempts") == 0
    assert scalar(db, "SELECT max(attempt) FROM chunks") == 1  # waiting for a slot spent no attempt
    assert_counters(db)


def test_a_rate_holds_across_two_engines(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "rated.toml", '[engine]\nconcurrency = 8\npoll_interval = 0.05\n\n'
                                                   '[queues.rated]\nrate = "10/s"\n')
    for _ in range(2):
        engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 2), timeout=20, message=lambda: "two engines\n" + engines.logs())
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps([{"n": n} for n in range(35)]))
    job = submit(db, tmp_path, "demo.noop", "--chunks", str(chunks), "--queue", "rated")
    wait_until(lambda: all_done(db), timeout=60, message=lambda: "the job to end\n" + engines.logs())
    for engine in engines.started:
        assert engine.stop() == 0, engine.log()

    starts = sorted(row[0] for row in query(db, "SELECT claimed_at FROM chunks WHERE job_id = ?", (job,)))
    assert len(starts) == 35
    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert busiest <= 10, f"{busiest} starts in one second"
    assert query(db, "SELECT status, max(attempt) FROM chunks GROUP BY status") == [("completed", 1)]
    assert scalar(db, "SELECT count(DISTINCT worker_id) FROM chunks") >= 1
    assert_counters(db)


KILL = """
[engine]
concurrency = 8
heartbeat_interval = 0.2
stale_after = 1.5
poll_interval = 0.05

[maintenance]
mark-stale-workers-offline = "* * * * * *"

[queues.limited]
limit = 2
"""


def test_sigkill_of_an_engine_holding_limited_slots_gives_them_back_at_the_rescue(
        tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "kill.toml", KILL)
    victim = engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the first engine\n" + engines.logs())
    chunks = tmp_path / "chunks.json"
    chunks.write_text(json.dumps([{"seconds": 1.0}] * 4))
    job = submit(db, tmp_path, "demo.sleep", "--chunks", str(chunks), "--queue", "limited")
    victim_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (victim.pid,))
    wait_until(lambda: scalar(db, "SELECT count(*) FROM chunks WHERE status = 'processing'") == 2, timeout=10,
               message=lambda: "the victim to fill both slots\n" + engines.logs())
    victim.signal(signal.SIGKILL)
    assert victim.wait(5) == -signal.SIGKILL
    held = {row[0] for row in query(db, "SELECT id FROM chunks WHERE status = 'processing' AND worker_id = ?",
                                    (victim_id,))}
    assert len(held) == 2

    rescuer = engines.start(db, config=config)
    wait_until(lambda: all_done(db), timeout=40, message=lambda: "the job to end\n" + engines.logs())
    assert rescuer.stop() == 0, rescuer.log()

    rescuer_id = scalar(db, "SELECT id FROM workers WHERE pid = ?", (rescuer.pid,))
    rows = query(db, "SELECT id, status, attempt, worker_id, claimed_at FROM chunks WHERE job_id = ?", (job,))
    assert {(status, worker) for _, status, _, worker, _ in rows} == {("completed", rescuer_id)}
    assert sorted((chunk, attempt) for chunk, _, attempt, _, _ in rows if chunk in held) == sorted(
        (chunk, 2) for chunk in held)
    lost = query(db, "SELECT chunk_id, outcome, ended_at FROM chunk_attempts")
    assert {(chunk, outcome) for chunk, outcome, _ in lost} == {(chunk, "lost") for chunk in held}
    # the dead engine's slots stayed taken until the rescue gave them back: nothing of the queue
    # started before it, and the limit held from then on
    rescued_at = min(ended for _, _, ended in lost)
    assert min(claimed for *_, claimed in rows) >= rescued_at
    assert most_at_once(spans(db, "job_id = ?", (job,))) == 2
    assert_counters(db)


def test_pausing_one_queue_leaves_the_others_running(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    db = db_path
    config = write_config(tmp_path / "pause.toml", "[engine]\nconcurrency = 4\npoll_interval = 0.05\n")
    paused = run_cli("pause", "--queue", "reports", "--new", "--db", db, cwd=tmp_path)
    assert paused.returncode == 0, paused.stderr
    engines.start(db, config=config)
    wait_until(lambda: workers_online(db, 1), timeout=20, message=lambda: "the engine\n" + engines.logs())
    held = submit(db, tmp_path, "demo.noop", "--queue", "reports")
    others = [submit(db, tmp_path, "demo.noop", *args) for args in ((), ("--queue", "mail"))]
    wait_until(lambda: scalar(db, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 2, timeout=20,
               message=lambda: "the other queues' jobs to run\n" + engines.logs())
    assert query(db, "SELECT status FROM jobs WHERE id IN (?, ?)", tuple(others)) == [("completed",)] * 2
    assert query(db, "SELECT status, attempt FROM chunks WHERE job_id = ?", (held,)) == [("pending", 0)]
    listed = {row["name"]: row for row in json.loads(
        run_cli("queues", "--json", "--db", db, cwd=tmp_path).stdout)}
    assert (listed["reports"]["paused"], listed["reports"]["pending"]) == (True, 1)
    assert (listed["mail"]["completed"], listed["default"]["completed"]) == (1, 1)

    resumed = run_cli("resume", "--queue", "reports", "--db", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    wait_until(lambda: scalar(db, "SELECT status FROM jobs WHERE id = ?", (held,)) == "completed", timeout=20,
               message=lambda: "the resumed queue's job to run\n" + engines.logs())
    for engine in engines.started:
        assert engine.stop() == 0, engine.log()
    assert_counters(db)
