"""Named queues in one process: config, routing, submit, schedules, the held claim, pause, the queues view.

The real-process tests (two engines, limits, rates, SIGKILL) are in
test_queues_processes.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conftest import async_wait_until, fast_config, run_cli, scalar
from queuetop.engine.api import Queue
from queuetop.engine.config import parse
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import ConfigError, UsageError
from queuetop.engine.model.queues import QueueRoutes, Rate, is_queue_name, parse_rate


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


# -- the claim ---------------------------------------------------------------------------

from queuetop.engine.model.queues import QueueSpec  # noqa: E402
from queuetop.engine.services import claims, queues  # noqa: E402


async def ordinary(queue: Queue, worker: str, limit: int = 10) -> list[str]:
    """What the ordinary claim takes: each claimed chunk's queue."""
    batch, _ = await claims.claim(queue.db, worker, limit, queue.clock.now())
    return [(await queue.job(c.job_id)).queue for c in batch]


async def held(queue: Queue, worker: str, free: int, names: list[str], here: dict[str, int] | None = None
               ) -> queues.HeldClaims:
    return await queues.claim_held(queue.db, worker, free, names, here or {}, queue.clock.now())


async def test_the_ordinary_claim_passes_over_held_queues(queue: Queue) -> None:
    for name in ("limited", "paused", "open"):
        await queue.submit("x", chunks=[{}] * 3, queue=name)
    await queues.configure(queue.db, queue.clock, [QueueSpec("limited", limit=2)])
    await queues.set_paused(queue.db, queue.clock, "paused", True, "test")
    assert sorted(await ordinary(queue, "w1")) == ["open"] * 3
    assert await ordinary(queue, "w1") == []
    got = await held(queue, "w2", 10, ["limited", "paused"])
    assert sorted(got.queue_of.values()) == ["limited", "limited"] and got.paused == {"paused"}
    assert {(await queue.job(c.job_id)).queue for c in got.claims} == {"limited"}
    assert got.specs.keys() == {c.job_id for c in got.claims}


async def test_a_global_limit_holds_across_workers_and_settle_gives_the_slot_back(queue: Queue) -> None:
    await queue.submit("x", chunks=[{}] * 6, queue="api")
    await queues.configure(queue.db, queue.clock, [QueueSpec("api", limit=2)])
    first = await held(queue, "w1", 1, ["api"])
    second = await held(queue, "w2", 8, ["api"])
    assert (len(first.claims), len(second.claims)) == (1, 1)
    full = await held(queue, "w3", 8, ["api"])
    assert full.claims == [] and full.empty == {"api"}
    await queue.settle([claims.success(first.claims[0], "w1", None, queue.clock.now())])
    again = await held(queue, "w3", 8, ["api"])
    assert len(again.claims) == 1  # settle gave its slot back
    await queue.settle([claims.release(again.claims[0], queue.clock.now())])
    assert len((await held(queue, "w3", 8, ["api"])).claims) == 1  # and so did release, unspent


async def test_a_local_limit_caps_one_process(queue: Queue) -> None:
    await queue.submit("x", chunks=[{}] * 6, queue="files")
    await queues.configure(queue.db, queue.clock, [QueueSpec("files", local_limit=2)])
    assert len((await held(queue, "w1", 8, ["files"])).claims) == 2
    assert len((await held(queue, "w1", 8, ["files"], {"files": 1})).claims) == 1
    assert (await held(queue, "w1", 8, ["files"], {"files": 2})).claims == []


async def test_a_rate_spreads_starts_and_says_when_the_next_may_start(queue: Queue, clock: FrozenClock) -> None:
    job = (await queue.submit("x", chunks=[{}] * 6, queue="slow")).job_id
    await queues.configure(queue.db, queue.clock, [QueueSpec("slow", rate=Rate(4, 1.0))])
    assert len((await held(queue, "w1", 8, ["slow"])).claims) == 1  # one token: one start
    dry = await held(queue, "w2", 8, ["slow"])
    assert dry.claims == [] and dry.next_token_at == {"slow": pytest.approx(clock.now() + 0.25)}
    (info,) = [q for q in await queues.list_queues(queue.db, clock.now()) if q.name == "slow"]
    assert info.next_start_at == pytest.approx(clock.now() + 0.25) and str(info.rate) == "4/s"
    clock.advance(0.1)
    assert (await held(queue, "w2", 8, ["slow"])).claims == []
    clock.advance(0.15)
    assert len((await held(queue, "w2", 8, ["slow"])).claims) == 1
    # nothing over the rate spent an attempt
    assert sorted(c.attempt for c in await queue.chunks(job)) == [0, 0, 0, 0, 1, 1]


async def test_a_paused_default_queue_leaves_the_others_running(queue: Queue) -> None:
    await queue.submit("x", chunks=[{}] * 2)
    await queue.submit("x", chunks=[{}] * 2, queue="other")
    await queues.set_paused(queue.db, queue.clock, "default", True, "test")
    assert await ordinary(queue, "w") == ["other", "other"]
    assert (await held(queue, "w", 8, ["default"])).paused == {"default"}
    await queues.set_paused(queue.db, queue.clock, "default", False)
    assert await ordinary(queue, "w") == ["default", "default"]


async def test_a_held_default_queue_is_limited_too(queue: Queue) -> None:
    await queue.submit("x", chunks=[{}] * 5)
    await queues.configure(queue.db, queue.clock, [QueueSpec("default", limit=3)])
    assert await ordinary(queue, "w") == []
    assert len((await held(queue, "w", 8, ["default"])).claims) == 3
    assert (await held(queue, "w", 8, ["default"])).claims == []


async def test_the_config_owns_limits_and_the_operator_owns_pauses(queue: Queue, db_path: Path | str) -> None:
    await queues.configure(queue.db, queue.clock, [QueueSpec("a", limit=2), QueueSpec("b", rate=Rate(1, 60.0))])
    await queues.set_paused(queue.db, queue.clock, "b", True, "ops")
    await queues.configure(queue.db, queue.clock, [QueueSpec("a", limit=3)])
    rows = {q.name: q for q in await queues.list_queues(queue.db, queue.clock.now())}
    assert (rows["a"].limit, rows["b"].rate, rows["b"].paused, rows["b"].paused_by) == (3, None, True, "ops")
    assert [h.name for h in await queues.held_queues(queue.db)] == ["a", "b"]
    await queues.set_paused(queue.db, queue.clock, "b", False)
    assert [h.name for h in await queues.held_queues(queue.db)] == ["a"]
    assert scalar(db_path, "SELECT count(*) FROM queues") == 2


async def test_in_process_workers_keep_a_limit(db_path: Path | str) -> None:
    """Two workers of one engine, concurrency 4 each, on a queue of limit 1: never two at once."""
    from queuetop.engine.services.runner import Runner

    config = fast_config(concurrency=4)
    config = type(config)(engine=config.engine, queues=(QueueSpec("one", limit=1),),
                          handlers={"demo.sleep": "queuetop.engine.handlers.demo:sleep"})
    async with await Queue.open(db_path, config) as queue:
        job = (await queue.submit("demo.sleep", chunks=[{"seconds": 0.02}] * 6, queue="one")).job_id
        other = (await queue.submit("demo.sleep", chunks=[{"seconds": 0.02}] * 6)).job_id
        stop = asyncio.Event()
        runner = Runner(queue, workers=2, schedules=False)
        task = asyncio.create_task(runner.run(stop))
        try:
            await async_wait_until(lambda: _ended(queue, job, other), timeout=30)
        finally:
            stop.set()
            await task
        spans = sorted((c.claimed_at, c.finished_at) for c in await queue.chunks(job))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans


async def _ended(queue: Queue, *job_ids: int) -> bool:
    states = [(await queue.job(j)).status for j in job_ids]
    return all(state.finished for state in states)


# -- seeing and pausing queues -------------------------------------------------------------


async def test_queues_show_counts_limits_rates_and_pauses(queue: Queue, clock: FrozenClock) -> None:
    await queues.configure(queue.db, clock, [QueueSpec("api", limit=2, local_limit=1, rate=Rate(10, 1.0))])
    await queue.submit("x", chunks=[{}] * 4, queue="api")
    ok, bad = [(await queue.submit("y")).job_id for _ in range(2)]
    await queue.submit("x", chunks=[{}] * 3)
    first = await held(queue, "w", 8, ["api"])  # one start: the bucket holds one token
    assert len(first.claims) == 1
    batch, _ = await claims.claim(queue.db, "w", 3, clock.now())  # ok, bad and one chunk of the last
    assert {c.job_id for c in batch} >= {ok, bad}
    await queue.settle([claims.success(c, "w", None, clock.now()) for c in batch if c.job_id == ok]
                       + [claims.failure(c, "w", "no", permanent=True, max_retries=0, now=clock.now())
                          for c in batch if c.job_id == bad])
    result = await queue.pause(by="ops", queue="mail", new=True)  # a queue that has no jobs yet gets a row
    assert result.status == "paused" and "queue mail paused" in result.message
    found = {info.name: info for info in await queue.queues()}
    assert list(found) == ["api", "default", "mail"]
    api, default, mail = found["api"], found["default"], found["mail"]
    assert (api.pending, api.running, api.completed, api.failed) == (3, 1, 0, 0)
    assert (api.limit, api.local_limit, str(api.rate), api.paused) == (2, 1, "10/s", False)
    assert api.next_start_at == pytest.approx(clock.now() + 0.1)
    assert (default.pending, default.running, default.completed, default.failed) == (2, 1, 1, 1)
    assert (default.limit, default.rate, default.next_start_at) == (None, None, None)
    assert (mail.paused, mail.paused_by, mail.paused_at, mail.pending) == (True, "ops", clock.now(), 0)
    assert api.held and mail.held and not default.held
    assert api.as_dict()["rate"] == "10/s"
    with pytest.raises(Exception, match="already paused"):
        await queue.pause(queue="mail")
    await queue.resume(queue="mail")
    assert not [q for q in await queue.queues() if q.name == "mail"][0].paused
    assert not await queue.is_paused()  # a queue's pause is not the whole database's


def test_cli_queues_pause_and_resume(db_path: Path | str, tmp_path: Path) -> None:
    for args in (("a", "--queue", "reports"), ("b",)):
        assert run_cli("submit", *args, "--db", db_path, cwd=tmp_path).returncode == 0
    paused = run_cli("pause", "--queue", "reports", "--db", db_path, cwd=tmp_path)
    assert paused.returncode == 0 and "queue reports paused" in paused.stdout
    again = run_cli("pause", "--queue", "reports", "--db", db_path, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip() == "queuetop: error: queue reports is already paused"
    listed = run_cli("queues", "--json", "--db", db_path, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert (rows["reports"]["paused"], rows["reports"]["paused_by"], rows["reports"]["pending"]) == (True, "cli", 1)
    assert (rows["default"]["paused"], rows["default"]["pending"]) == (False, 1)
    text = run_cli("queues", "--db", db_path, cwd=tmp_path).stdout.splitlines()
    assert text[0].split()[:4] == ["QUEUE", "STATE", "PENDING", "RUNNING"]
    assert text[2].split()[:3] == ["reports", "paused", "1"]
    refused = run_cli("--read-only", "pause", "--queue", "reports", "--db", db_path, cwd=tmp_path)
    assert refused.returncode == 2 and "--read-only" in refused.stderr
    assert run_cli("--read-only", "queues", "--db", db_path, cwd=tmp_path).returncode == 0
    whole = run_cli("pause", "--db", db_path, cwd=tmp_path)  # without --queue: the whole database
    assert whole.returncode == 0 and scalar(db_path, "SELECT paused FROM queue_state") == 1
    resumed = run_cli("resume", "--queue", "reports", "--db", db_path, cwd=tmp_path)
    assert resumed.returncode == 0 and scalar(db_path, "SELECT paused FROM queues WHERE name = 'reports'") == 0
    assert scalar(db_path, "SELECT paused FROM queue_state") == 1


def test_a_queue_name_ends_at_its_last_character() -> None:
    """A line break after a name was taken as its end ($ matches before a final newline)."""
    assert is_queue_name("q-1") and not is_queue_name("q-1\n") and not is_queue_name("q-1\n\n")
