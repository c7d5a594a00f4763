"""Named queues in one process: config, routing, submit, schedules, the held claim, pause, the queues view.

The real-process tests (two engines, limits, rates, SIGKILL) are in
test_queues_processes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import fast_config, run_cli, scalar
from queuetop.engine.api import Queue
from queuetop.engine.config import parse
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ConfigError, UsageError
from queuetop.engine.model.queues import QueueRoutes, Rate, parse_rate


@pytest.mark.parametrize(("text", "rate"), [
    ("10/s", Rate(10, 1.0)), ("600/min", Rate(600, 60.0)), ("100/h", Rate(100, 3600.0)),
    (" 5 / 10s ", Rate(5, 10.0)), ("1/hour", Rate(1, 3600.0)),
])
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10", "10/d", "0/s", "-1/s", "1.5/s", "ten/s", 10, None, "10/0s"])
def test_bad_rates_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize(("table", "message"), [
    ({"r": {"limit": 0}}, r"\[queues.r\] limit must be an integer"),
    ({"r": {"limit": 2.5}}, r"\[queues.r\] limit must be an integer"),
    ({"r": {"local_limit": True}}, r"\[queues.r\] local_limit must be an integer"),
    ({"r": {"rate": "fast"}}, r"\[queues.r\] rate: a rate is COUNT/PERIOD"),
    ({"r": {"intents": "reports.*"}}, r"\[queues.r\] intents must be a list"),
    ({"r": {"limt": 1}}, r"\[queues.r\]: unknown key\(s\): limt"),
    ({"bad name": {}}, r"not a valid queue name"),
    ({"r": 3}, r"\[queues.r\] must be a table"),
])
def test_queue_settings_are_type_checked_with_the_key_named(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"queues": table})


def test_intent_patterns_route_jobs_first_match_wins() -> None:
    config = parse({"queues": {"reports": {"intents": ["reports.*"], "limit": 2},
                               "slow": {"intents": ["reports.slow", "api.*"], "rate": "10/s"}}})
    assert config.queues is not None and [q.name for q in config.queues] == ["reports", "slow"]
    routes = QueueRoutes(config.queues)
    assert [routes.route(i) for i in ("reports.daily", "reports.slow", "api.call", "other")] == [
        "reports", "reports", "slow", "default"]
    assert parse({}).queues is None  # no [queues]: the database's settings are left alone


async def test_submit_names_a_queue_or_is_routed(db_path: Path | str, clock: FrozenClock) -> None:
    config = parse({"queues": {"reports": {"intents": ["reports.*"]}}})
    async with await Queue.open(db_path, config, clock=clock) as queue:
        routed = await queue.submit("reports.daily", chunks=[{"n": 1}, {"n": 2}])
        named = await queue.submit("reports.daily", queue="urgent")
        plain = await queue.submit("other")
        many = await queue.submit_many([{"intent": "x", "queue": "bulk"}, {"intent": "reports.weekly"},
                                        {"intent": "y"}])
        got = {r.job_id: (await queue.job(r.job_id)).queue for r in (routed, named, plain, *many)}
        assert list(got.values()) == ["reports", "urgent", "default", "bulk", "reports", "default"]
        for job_id, name in got.items():  # every chunk is in its job's queue
            assert {c.queue for c in await queue.chunks(job_id)} == {name}
        with pytest.raises(UsageError, match="not a valid queue name"):
            await queue.submit("x", queue="no spaces")
        with pytest.raises(UsageError, match="item 2: queue '' is not a valid queue name"):
            await queue.submit_many([{"intent": "x"}, {"intent": "x", "queue": ""}])


async def test_a_schedule_submits_into_its_queue(db_path: Path | str, clock: FrozenClock) -> None:
    config = parse({"queues": {"reports": {"intents": ["reports.*"]}}, "handlers": {
        "reports.daily": "queuetop.engine.handlers.demo:noop", "plain": "queuetop.engine.handlers.demo:noop"}})
    async with await Queue.open(db_path, config, clock=clock) as queue:
        await queue.add_schedule("named", "0 2 * * *", "plain", queue="nightly")
        await queue.add_schedule("routed", "0 2 * * *", "reports.daily")
        assert [(s.name, s.queue) for s in await queue.schedules() if s.kind.value == "job"] == [
            ("named", "nightly"), ("routed", None)]
        runs = [await queue.run_schedule_now(name) for name in ("named", "routed")]
        assert [(await queue.job(run.job_id)).queue for run in runs if run.job_id] == ["nightly", "reports"]
        with pytest.raises(UsageError, match="not a valid queue name"):
            await queue.add_schedule("bad", "0 2 * * *", "plain", queue="a b")


def test_schedule_queue_in_the_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="schedule 'n': queue 'a b' is not a valid queue name"):
        parse({"schedules": [{"name": "n", "cron": "0 2 * * *", "intent": "x", "queue": "a b"}]})
    spec = parse({"schedules": [{"name": "n", "cron": "0 2 * * *", "intent": "x", "queue": "nightly"}]})
    assert spec.schedules[0].queue == "nightly"


def test_cli_submit_queue_and_bad_names(db_path: Path | str, tmp_path: Path) -> None:
    made = run_cli("submit", "x.y", "--queue", "reports", "--db", db_path, "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    job_id = json.loads(made.stdout)["job_id"]
    assert scalar(db_path, f"SELECT queue FROM jobs WHERE id = {job_id}") == "reports"
    bad = run_cli("submit", "x.y", "--queue", "a b", "--db", db_path, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a valid queue name" in bad.stderr
    lines = tmp_path / "jobs.ndjson"
    lines.write_text('{"intent": "a", "queue": "bulk"}\n{"intent": "b", "queue": 7}\n')
    bad_line = run_cli("submit-many", lines, "--db", db_path, cwd=tmp_path)
    assert bad_line.returncode == 2 and "line 2: queue 7 is not a valid queue name" in bad_line.stderr
    config = tmp_path / "queuetop.toml"
    config.write_text("[queues.reports]\nlimit = 0\n")
    refused = run_cli("submit", "x.y", "--db", db_path, "--config", config, cwd=tmp_path)
    assert refused.returncode == 2 and "[queues.reports] limit must be an integer" in refused.stderr
    assert "Traceback" not in refused.stderr
