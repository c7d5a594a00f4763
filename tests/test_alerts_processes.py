"""Alerts and metrics across real ``queuetop --engine-only`` processes.

An engine killed with SIGKILL in the middle of a delivery loses nothing: the
next engine takes the delivery over when its lease runs out. Two engines
deliver each alert once. ``/metrics`` is scraped over HTTP and parsed with
prometheus_client's own parser.
"""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from conftest import Engines, query, run_cli, scalar, wait_until, write_config
from webhook_server import webhook_server

pytestmark = pytest.mark.slow

HANDLERS = '''
from queuetop import PermanentError

def ok(ctx):
    return {"n": ctx.params.get("n")}

def fail(ctx):
    raise PermanentError("no such account")
'''


def project(tmp_path: Path, url: str, *, engine: str = "", cooldown: float = 0) -> Path:
    (tmp_path / "jobs.py").write_text(HANDLERS)
    return write_config(tmp_path / "queuetop.toml", f'''
[engine]
poll_interval = 0.05
heartbeat_interval = 0.2
alert_interval = 0.05
alert_timeout = 1
alert_retry_base = 0.05
{engine}

[handlers]
"jobs.ok" = "jobs:ok"
"jobs.fail" = "jobs:fail"

[[alerts]]
on = ["job.failed"]
webhook = "{url}/hooks/T0SECRET"
cooldown = {cooldown}
''')


def submit(db: Path | str, cwd: Path, intent: str, *args: str) -> int:
    result = run_cli("submit", intent, "--db", db, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_an_engine_killed_mid_delivery_loses_nothing(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    with webhook_server() as hooks:
        config = project(tmp_path, hooks.url)
        hooks.hold_next = True  # the first POST gets no answer: the engine is killed waiting for it
        job_id = submit(db_path, tmp_path, "jobs.fail")
        first = engines.start(db_path, config=config)
        wait_until(hooks.held.is_set, 20, message=lambda: "the first delivery to arrive\n" + engines.logs())
        first.signal(signal.SIGKILL)
        first.wait(10)
        assert query(db_path, "SELECT status, job_id FROM alerts") == [("delivering", job_id)]
        hooks.release()

        engines.start(db_path, config=config)
        wait_until(lambda: scalar(db_path, "SELECT status FROM alerts") == "delivered", 30,
                   message=lambda: "the restarted engine to deliver it\n" + engines.logs())
        alert_id = scalar(db_path, "SELECT id FROM alerts")
        assert [r["headers"]["X-Queuetop-Alert"] for r in hooks.received] == [str(alert_id)] * 2
        assert hooks.bodies()[-1]["job_id"] == job_id
    rows = query(db_path, "SELECT attempt, ok, status_code, error FROM alert_deliveries ORDER BY id")
    assert [(attempt, ok, code) for attempt, ok, code, _ in rows] == [(1, 0, None), (2, 1, 200)]
    assert rows[0][3].startswith("interrupted")


def test_two_engines_deliver_each_alert_once(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    with webhook_server() as hooks:
        config = project(tmp_path, hooks.url)
        for _ in range(2):
            engines.start(db_path, config=config)
        lines = tmp_path / "jobs.ndjson"
        lines.write_text('{"intent": "jobs.fail"}\n' * 12 + '{"intent": "jobs.ok"}\n')
        made = run_cli("submit-many", lines, "--json", "--db", db_path, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        jobs = [r["job_id"] for r in json.loads(made.stdout)][:12]
        wait_until(lambda: scalar(db_path, "SELECT count(*) FROM alerts WHERE status = 'delivered'") == 12, 60,
                   message=lambda: "12 deliveries\n" + engines.logs())
        ids = [r["headers"]["X-Queuetop-Alert"] for r in hooks.received]
        assert len(ids) == len(set(ids)) == 12
        assert sorted(b["job_id"] for b in hooks.bodies()) == jobs
    assert scalar(db_path, "SELECT count(*) FROM alert_deliveries") == 12

    if not isinstance(db_path, str):
        shown = run_cli("alerts", "--db", db_path, cwd=tmp_path)
        assert shown.returncode == 0 and shown.stdout.count("delivered") == 12
        assert "T0SECRET" not in shown.stdout and "/…" in shown.stdout


# -- metrics ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float | None:
    for got, number in samples.get(name, []):
        if got == labels:
            return number
    return None


def test_metrics_scrape_cleanly_from_a_real_engine(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    port = free_port()
    with webhook_server() as hooks:
        config = project(tmp_path, hooks.url, engine="metrics_interval = 0.1")
        ok_job = submit(db_path, tmp_path, "jobs.ok", "--range", "2024-01-01..2024-01-03", "--chunk-days", "1")
        submit(db_path, tmp_path, "jobs.fail")
        engine = engines.start(db_path, "--metrics-port", str(port), config=config)

        def settled() -> dict[str, list[tuple[dict[str, str], float]]] | None:
            try:
                samples = scrape(port)
            except OSError:
                return None
            done = (value(samples, "queuetop_jobs", state="completed") == 1
                    and value(samples, "queuetop_jobs", state="failed") == 1
                    and value(samples, "queuetop_alerts_pending") == 0
                    and value(samples, "queuetop_chunks_processed_total", intent="jobs.ok", outcome="completed") == 3)
            return samples if done else None

        samples = wait_until(settled, 30, interval=0.1, message=lambda: "the metrics to settle\n" + engines.logs())
    assert scalar(db_path, "SELECT status FROM jobs WHERE id = ?", (ok_job,)) == "completed"
    assert value(samples, "queuetop_chunks", state="completed") == 3
    assert value(samples, "queuetop_chunks", state="failed") == 1
    assert value(samples, "queuetop_chunks_processed_total", intent="jobs.fail", outcome="permanent") == 1
    assert value(samples, "queuetop_chunk_duration_seconds_count", intent="jobs.ok") == 3
    assert value(samples, "queuetop_queue_wait_seconds_count") == 4
    assert value(samples, "queuetop_workers", state="online") == 1
    assert value(samples, "queuetop_events_ingested_total") == 0
    # Bounded labels only: no job ids, params, URLs or errors.
    for name, rows in samples.items():
        for labels, _ in rows:
            assert set(labels) <= {"state", "intent", "outcome", "host", "le"}, (name, labels)
            assert not any("SECRET" in v or "account" in v for v in labels.values())
    assert engine.stop() == 0


def test_metrics_flags_are_checked(tmp_path: Path) -> None:
    result = run_cli("jobs", "--metrics-port", "9464", "--db", tmp_path / "q.db", cwd=tmp_path)
    assert result.returncode == 2  # a top-level flag after a command is argparse's refusal
    for args, says in ((["--metrics-port", "0"], "must be between 1 and 65535"),
                       (["--metrics-port", "9464"], "--metrics-port and --metrics-host are for --engine-only")):
        result = run_cli(*args, "--db", tmp_path / "q.db", cwd=tmp_path)
        assert result.returncode == 2 and says in result.stderr and result.stderr.count("\n") == 1


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path, engines: Engines) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = engines.start(tmp_path / "q.db", "--metrics-port", str(port))
        assert engine.wait(20) == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in engine.log()
    assert "Traceback" not in engine.log()
