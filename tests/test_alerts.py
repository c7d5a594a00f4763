"""Alerts in one process: raised in the transaction of their cause, delivered to a real webhook.

Every test runs on SQLite and PostgreSQL, with a frozen clock so that
back-off and cooldowns are exact; the webhook is a real HTTP server on
127.0.0.1 (tests/webhook_server.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import fast_config, query, run_cli, scalar, write_config
from queuetop.engine.api import Queue
from queuetop.engine.services.scheduler import Scheduler
from queuetop.engine.config import Config, parse, parse_alert
from queuetop.engine.handlers.circuits import Admission, Breaker, BreakerSettings
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ConfigError
from queuetop.engine.services import claims
from queuetop.engine.services.alert_delivery import AlertDelivery
from webhook_server import webhook_server

INTENT = "reports.collect"


def alerting(*rules: dict[str, Any], **engine: Any) -> Config:
    """Fast engine settings and these ``[[alerts]]`` tables."""
    cfg = fast_config(alert_retry_base=10.0, alert_retry_cap=100.0, **engine)
    return replace(cfg, alerts=tuple(parse_alert(rule, n, "test") for n, rule in enumerate(rules, 1)))


@pytest.fixture
async def opened(db_path: Path | str, clock: FrozenClock, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """``open(config)`` makes a queue on the frozen clock; all are closed afterwards."""
    made: list[Queue] = []

    async def open_queue(config: Config) -> Queue:
        queue = await Queue.open(db_path, config, clock=clock)
        made.append(queue)
        return queue

    yield open_queue
    for queue in made:
        await queue.close()


async def end_job(queue: Queue, *, chunks: int = 1, completed: int = 0, intent: str = INTENT) -> int:
    """Submit a job, claim its chunks and settle them through the engine: ``completed`` succeed, the rest fail."""
    made = await queue.submit(intent, chunks=[{"n": n} for n in range(chunks)])
    now = queue.clock.now()
    batch, _ = await claims.claim(queue.db, "w-test", chunks, now)
    await queue.settle([
        claims.success(c, "w-test", None, now) if n < completed
        else claims.failure(c, "w-test", "boom", permanent=True, max_retries=0, now=now)
        for n, c in enumerate(batch)])
    return made.job_id


def alert_rows(db_path: Path | str) -> list[tuple[Any, ...]]:
    return query(db_path, "SELECT id, kind, subject, status, repeats, job_id, intent FROM alerts ORDER BY id")


async def test_a_failed_job_reaches_the_webhook_once_with_its_ids(opened: Any, db_path: Path | str) -> None:
    with webhook_server() as hooks:
        queue = await opened(alerting({"on": ["job.failed", "job.partial"], "webhook": hooks.url + "/hook"}))
        failed = await end_job(queue)
        partial = await end_job(queue, chunks=2, completed=1)
        done = await end_job(queue, chunks=1, completed=1)
        # Written with the job's end, before anything delivered them.
        assert [(r[1], r[3], r[5]) for r in alert_rows(db_path)] == [
            ("job.failed", "pending", failed), ("job.partial", "pending", partial)]
        assert done not in [r[5] for r in alert_rows(db_path)]

        delivery = AlertDelivery(queue)
        assert await delivery.tick() == 2
        assert await delivery.tick() == 0  # nothing is sent twice
        bodies = hooks.bodies()
        assert [b["kind"] for b in bodies] == ["job.failed", "job.partial"]
        first = bodies[0]
        assert first["job_id"] == failed and first["intent"] == INTENT and first["at"] == queue.clock.now()
        assert {"summary", "schedule", "host", "worker_id"} <= set(first) and "ended failed" in first["summary"]
        assert hooks.received[0]["path"] == "/hook"
        assert hooks.received[0]["headers"]["X-Queuetop-Alert"] == str(alert_rows(db_path)[0][0])
    assert [r[3] for r in alert_rows(db_path)] == ["delivered", "delivered"]
    assert query(db_path, "SELECT target, ok, status_code FROM alert_deliveries ORDER BY id") == [
        ("webhook", 1, 200), ("webhook", 1, 200)]


async def test_a_failing_webhook_is_retried_with_doubling_back_off_then_delivered_once(
        opened: Any, db_path: Path | str, clock: FrozenClock) -> None:
    with webhook_server([500, 503, 200]) as hooks:
        queue = await opened(alerting({"on": ["job.failed"], "webhook": hooks.url}))
        await end_job(queue)
        delivery = AlertDelivery(queue)
        assert await delivery.tick() == 0 and len(hooks.received) == 1   # 500
        clock.advance(9.9)
        assert await delivery.tick() == 0 and len(hooks.received) == 1   # not due before 10 s
        clock.advance(0.1)
        assert await delivery.tick() == 0 and len(hooks.received) == 2   # 503
        clock.advance(19.9)
        assert await delivery.tick() == 0 and len(hooks.received) == 2   # twice as long now: 20 s
        clock.advance(0.1)
        assert await delivery.tick() == 1 and len(hooks.received) == 3   # 200
        clock.advance(1000)
        assert await delivery.tick() == 0 and len(hooks.received) == 3
    assert query(db_path, "SELECT attempt, ok, status_code, error FROM alert_deliveries ORDER BY id") == [
        (1, 0, 500, f"{hooks.url} answered HTTP 500"), (2, 0, 503, f"{hooks.url} answered HTTP 503"),
        (3, 1, 200, None)]
    assert query(db_path, "SELECT status, attempts, last_error FROM alerts") == [("delivered", 3, None)]


async def test_attempts_run_out_and_the_alert_stays_failed(opened: Any, db_path: Path | str,
                                                           clock: FrozenClock) -> None:
    with webhook_server([500]) as hooks:
        queue = await opened(alerting({"on": ["job.failed"], "webhook": hooks.url}, alert_attempts=2))
        await end_job(queue)
        delivery = AlertDelivery(queue)
        for _ in range(4):
            await delivery.tick()
            clock.advance(1000)
        assert len(hooks.received) == 2
    assert query(db_path, "SELECT status, attempts FROM alerts") == [("failed", 2)]


async def test_submit_makes_one_job_with_the_alert_as_params(opened: Any, db_path: Path | str) -> None:
    queue = await opened(alerting({"on": ["job.failed"], "submit": "alerts.page"}))
    job_id = await end_job(queue)
    delivery = AlertDelivery(queue)
    assert await delivery.tick() == 1
    assert await delivery.tick() == 0
    paged = [j for j in await queue.jobs() if j.intent == "alerts.page"]
    assert len(paged) == 1
    assert paged[0].params["kind"] == "job.failed" and paged[0].params["job_id"] == job_id
    assert query(db_path, "SELECT submitted_job_id FROM alerts") == [(paged[0].id,)]
    assert query(db_path, "SELECT target, ok FROM alert_deliveries") == [("submit", 1)]


async def test_the_cooldown_collapses_repeats_of_one_kind_and_subject(opened: Any, db_path: Path | str,
                                                                      clock: FrozenClock) -> None:
    queue = await opened(alerting({"on": ["job.failed"], "submit": "alerts.page", "cooldown": 300}))
    await end_job(queue)
    await end_job(queue)
    await end_job(queue, intent="other.intent")  # another subject
    clock.advance(301)
    await end_job(queue)
    assert [(kind, subject, repeats) for _, kind, subject, _, repeats, _, _ in alert_rows(db_path)] == [
        ("job.failed", INTENT, 1), ("job.failed", "other.intent", 0), ("job.failed", INTENT, 0)]


async def test_the_intent_glob_picks_the_rule(opened: Any, db_path: Path | str) -> None:
    queue = await opened(alerting({"on": ["job.failed"], "submit": "a.page", "intent": "reports.*", "cooldown": 0}))
    await end_job(queue)
    await end_job(queue, intent="billing.run")
    assert [r[6] for r in alert_rows(db_path)] == [INTENT]


async def test_a_schedule_run_that_errors_raises_schedule_failed(opened: Any, db_path: Path | str) -> None:
    queue = await opened(alerting({"on": ["schedule.failed"], "submit": "alerts.page"}))
    await queue.add_schedule("nightly", "0 2 * * *", "no.such.intent")
    run = await queue.run_schedule_now("nightly")
    assert run.status == "error"
    assert query(db_path, "SELECT kind, subject, schedule, intent FROM alerts") == [
        ("schedule.failed", "nightly", "nightly", "no.such.intent")]


async def test_a_scheduled_job_that_fails_raises_schedule_failed(opened: Any, db_path: Path | str) -> None:
    queue = await opened(alerting({"on": ["schedule.failed", "job.failed"], "submit": "p.x"}))
    queue.registry.add(INTENT, lambda ctx: None)
    await queue.add_schedule("nightly", "0 2 * * *", INTENT)
    run = await queue.run_schedule_now("nightly")
    now = queue.clock.now()
    batch, _ = await claims.claim(queue.db, "w-test", 1, now)
    await queue.settle([claims.failure(batch[0], "w-test", "boom", permanent=True, max_retries=0, now=now)])
    assert query(db_path, "SELECT kind, schedule, job_id FROM alerts ORDER BY kind") == [
        ("job.failed", None, run.job_id), ("schedule.failed", "nightly", run.job_id)]


async def test_a_stale_worker_raises_worker_stale_in_its_rescue(opened: Any, db_path: Path | str,
                                                                clock: FrozenClock) -> None:
    from queuetop.engine.services.worker import Worker

    queue = await opened(alerting({"on": ["worker.stale"], "submit": "alerts.page"}, stale_after=60))
    worker = Worker(queue)
    await worker.register()
    clock.advance(61)
    summary = await queue.run_maintenance("mark-stale-workers-offline")
    assert "1 worker(s) marked offline" in summary
    [(kind, subject, worker_id, text)] = query(db_path, "SELECT kind, subject, worker_id, summary FROM alerts")
    host = scalar(db_path, "SELECT host FROM workers WHERE id = ?", (worker.id,))
    assert (kind, subject, worker_id) == ("worker.stale", host, worker.id) and "went silent" in text


async def test_a_circuit_opening_raises_circuit_open(opened: Any, db_path: Path | str) -> None:
    queue = await opened(alerting({"on": ["circuit.open"], "submit": "alerts.page"}))
    breaker = Breaker(queue.db, queue.clock, opened_hooks=queue.circuit_opened_hooks)
    settings = BreakerSettings(failure_threshold=2)
    for _ in range(3):  # the third lands on an open circuit: no second alert
        await breaker.failed(Admission("api.example.com"), settings, "HTTP 503", intents=[])
    assert query(db_path, "SELECT kind, subject, host FROM alerts") == [("circuit.open", "api.example.com",
                                                                          "api.example.com")]


async def test_a_missed_schedule_raises_an_alert_when_the_scheduler_finds_it(opened: Any, db_path: Path | str,
                                                                              clock: FrozenClock) -> None:
    queue = await opened(alerting({"on": ["schedule.missed"], "submit": "alerts.page"}))
    await queue.add_schedule("hourly", "0 * * * *", INTENT)
    clock.set(clock.now() + 3 * 3600 + 600)  # due at 01:00, 02:00 and 03:00; found at 03:10
    await Scheduler(queue).tick()
    assert query(db_path, "SELECT kind, schedule, intent, summary FROM alerts") == [
        ("schedule.missed", "hourly", INTENT, "schedule hourly missed 3 run(s) while nothing ran it")]


async def test_a_backlog_older_than_its_threshold_raises_once_per_cooldown(opened: Any, db_path: Path | str,
                                                                           clock: FrozenClock) -> None:
    queue = await opened(alerting({"on": ["backlog"], "backlog_seconds": 600, "submit": "alerts.page"},
                                  backlog_check_interval=1))
    await queue.submit(INTENT, chunks=[{"n": 1}, {"n": 2}])
    delivery = AlertDelivery(queue)
    await delivery.tick()
    assert alert_rows(db_path) == []  # not old enough yet
    clock.advance(601)
    await delivery.tick()
    clock.advance(2)
    await delivery.tick()
    [(kind, subject, summary)] = query(db_path, "SELECT kind, subject, summary FROM alerts WHERE kind = 'backlog'")
    assert (kind, subject) == ("backlog", INTENT) and "2 pending chunk(s)" in summary


async def test_no_rules_no_rows_and_no_hook(opened: Any, db_path: Path | str) -> None:
    queue = await opened(fast_config())
    assert queue.alert_rules.job_ended not in queue.job_ended_hooks
    await end_job(queue)
    assert alert_rows(db_path) == []


# -- redaction -------------------------------------------------------------------------

SECRET_URL = "http://user:pw0rd@127.0.0.1:1/services/T0SECRET/B0SECRET?token=tok3n"


async def test_webhook_urls_are_redacted_everywhere_they_show(opened: Any, db_path: Path | str,
                                                              tmp_path: Path) -> None:
    queue = await opened(alerting({"on": ["job.failed"], "webhook": SECRET_URL}))
    await end_job(queue)
    await AlertDelivery(queue).tick()  # port 1 refuses: the error is recorded
    [alert] = await queue.alerts()
    assert alert.webhook == "http://127.0.0.1:1/…"
    assert alert.deliveries[0].ok is False and alert.deliveries[0].error
    shown = json.dumps(alert.as_dict())
    if not isinstance(db_path, str):  # the CLI on the same file
        for args in (["alerts"], ["alerts", "--json"]):
            result = run_cli(*args, "--db", db_path, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            shown += result.stdout
    for secret in ("T0SECRET", "tok3n", "pw0rd", "services"):
        assert secret not in shown
    assert secret not in str(scalar(db_path, "SELECT error FROM alert_deliveries"))


# -- config ----------------------------------------------------------------------------

@pytest.mark.parametrize("entry, says", [
    ({"on": ["job.exploded"], "submit": "x.y"}, "on: unknown kind 'job.exploded'"),
    ({"on": [], "submit": "x.y"}, "on must be a non-empty list"),
    ({"on": ["job.failed"]}, "needs a webhook"),
    ({"on": ["job.failed"], "webhook": "ftp://x/y"}, "webhook must be an http:// or https:// URL"),
    ({"on": ["job.failed"], "webhook": 7}, "webhook must be an http:// or https:// URL"),
    ({"on": ["job.failed"], "submit": "x.y", "cooldown": -1}, "cooldown must be a number ≥ 0, got -1"),
    ({"on": ["backlog"], "submit": "x.y"}, "needs backlog_seconds = N"),
    ({"on": ["backlog"], "submit": "x.y", "backlog_seconds": 0}, "backlog_seconds must be a number > 0, got 0"),
    ({"on": ["job.failed"], "submit": "x.y", "backlog_seconds": 5}, "backlog_seconds is only for"),
    ({"on": ["job.failed"], "submit": "x.y", "intnet": "a"}, "unknown key(s): intnet"),
    ({"on": ["job.failed"], "submit": ""}, "submit must be a non-empty string"),
])
def test_bad_alert_tables_are_named_by_key(entry: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"alerts": [entry]})
    assert "[[alerts]] #1" in str(caught.value) and says in str(caught.value)


def test_a_bad_alert_table_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "queuetop.toml", '[[alerts]]\non = ["job.failed"]\ncooldown = "5m"\n'
                                                      'webhook = "https://hooks.example.com/x"\n')
    result = run_cli("alerts", "--db", tmp_path / "q.db", "--config", config, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cooldown must be a number ≥ 0, got '5m'" in result.stderr


def test_the_readme_alerts_example_is_a_valid_config() -> None:
    import tomllib

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split("## Alerts", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    config = parse(tomllib.loads(block))
    assert [rule.on for rule in config.alerts][1] == ("backlog",)
    assert config.alerts[0].intent == "reports.*" and config.alerts[1].submit == "ops.page"


async def test_no_cooldown_never_collapses_even_when_clocks_arrive_out_of_order(
        opened: Any, db_path: Path | str, clock: FrozenClock) -> None:
    # Two engines read their clocks before waiting for the write lock: the
    # later transaction may carry the earlier time.
    queue = await opened(alerting({"on": ["job.failed"], "submit": "alerts.page", "cooldown": 0}))
    await end_job(queue)
    clock.advance(-0.5)
    await end_job(queue)
    assert [(r[1], r[4]) for r in alert_rows(db_path)] == [("job.failed", 0), ("job.failed", 0)]
