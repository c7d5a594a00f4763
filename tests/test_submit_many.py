"""Bulk submit: Queue.submit_many, the sync client and `queuetop submit-many`, on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import assert_counters, query, queuetop_command, run_cli, scalar, subprocess_env
from queuetop.engine.api import Queue
from queuetop.engine.model.exceptions import UsageError


async def test_submit_many_makes_the_jobs_in_order_with_their_chunks(queue: Queue) -> None:
    items = [{"intent": "mail.send", "params": {"to": n}} for n in range(4500)]  # three batches
    items.insert(10, {"intent": "reports.collect", "date_range": "2024-01-01..2024-01-10", "chunk_days": 5,
                      "priority": 3, "max_retries": 1, "timeout": 60})
    results = await queue.submit_many(items, batch_size=2000)
    assert len(results) == 4501 and all(r.created for r in results)
    assert [r.job_id for r in results] == sorted(r.job_id for r in results)  # ids in the items' order
    job = await queue.job(results[10].job_id)
    assert (job.intent, job.chunks_total, job.priority, job.max_retries, job.timeout) == (
        "reports.collect", 2, 3, 1, 60)
    assert (await queue.job(results[11].job_id)).params == {"to": 10}
    assert await queue.count_jobs() == 4501


async def test_dedupe_keys_match_within_a_call_and_across_calls(queue: Queue) -> None:
    (first,) = await queue.submit_many([{"intent": "x", "dedupe_key": "acct-1"}])
    results = await queue.submit_many([{"intent": "x", "dedupe_key": "acct-1"},
                                       {"intent": "x", "dedupe_key": "acct-2"},
                                       {"intent": "x", "dedupe_key": "acct-2"}], batch_size=1)
    assert [(r.job_id, r.created) for r in results] == [
        (first.job_id, False), (results[1].job_id, True), (results[1].job_id, False)]
    assert await queue.count_jobs() == 2


@pytest.mark.parametrize(("item", "message"), [
    ({"params": {}}, "item 2: an intent is required"),
    ({"intent": "x", "chunk": []}, "item 2: unknown key(s) chunk"),
    ({"intent": "x", "timeout": float("nan")}, "item 2: timeout must be a number > 0"),
    ({"intent": "x", "date_range": "2024-02-01..2024-01-01"}, "item 2: malformed range"),
    ({"intent": "x", "chunks": "abc"}, "item 2: chunks must be a list"),
    ({"intent": "bad key"}, "item 2: intent 'bad key' is not a valid intent key"),
    (["x"], "item 2: expected an object"),
])
async def test_a_bad_item_is_named_and_nothing_is_written(queue: Queue, item: object, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        await queue.submit_many([{"intent": "fine"}, item, {"intent": "fine"}])  # type: ignore[list-item]
    assert str(raised.value).startswith(message), str(raised.value)
    assert await queue.count_jobs() == 0


def test_submit_many_from_the_command_line(tmp_path: Path, db_path: Path | str) -> None:
    lines = [json.dumps({"intent": "mail.send", "params": {"to": n}}) for n in range(50)]
    lines.insert(3, "")  # blank lines are skipped
    lines.append(json.dumps({"intent": "mail.send", "dedupe_key": "k"}))
    lines.append(json.dumps({"intent": "mail.send", "dedupe_key": "k"}))
    (tmp_path / "jobs.ndjson").write_text("\n".join(lines) + "\n")
    done = run_cli("submit-many", "jobs.ndjson", "--db", db_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "51 job(s) made, 1 matched an unfinished job by dedupe key"
    piped = subprocess.run([*queuetop_command(), "submit-many", "-", "--json", "--db", str(db_path)], cwd=tmp_path,
                           env=subprocess_env(), input='{"intent": "a"}\n{"intent": "b"}\n', capture_output=True,
                           text=True, timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert [r["created"] for r in json.loads(piped.stdout)] == [True, True]
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 53
    assert_counters(db_path)


@pytest.mark.parametrize(("text", "message"), [
    ('{"intent": "a"}\n{"intent": "b",\n', "jobs.ndjson line 2: invalid JSON"),
    ('{"intent": "a"}\n\n{"intent": "b", "priority": 1.5}\n', "jobs.ndjson line 3: priority must be an integer"),
    ('{"intent": "a"}\n{"intnt": "b"}\n', "jobs.ndjson line 2: unknown key(s) intnt"),
])
def test_a_bad_line_names_its_number_and_nothing_is_inserted(tmp_path: Path, db_path: Path | str, text: str,
                                                              message: str) -> None:
    assert run_cli("submit", "seed", "--db", db_path, cwd=tmp_path).returncode == 0
    (tmp_path / "jobs.ndjson").write_text(text)
    bad = run_cli("submit-many", "jobs.ndjson", "--db", db_path, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [bad.stderr.strip()] and bad.stderr.startswith(f"queuetop: error: {message}")
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 1


def test_the_sync_client_submits_many(tmp_path: Path) -> None:
    import queuetop

    with queuetop.connect(tmp_path / "q.db") as client:
        made = client.submit_many({"intent": "mail.send", "params": {"to": n}} for n in range(10))
        assert [r.created for r in made] == [True] * 10
        assert len(client.jobs(limit=100)) == 10


async def test_a_chunk_needs_its_job_and_goes_with_it(queue: Queue, db_path: Path | str) -> None:
    """PostgreSQL checks a chunk's job once per statement (migration 0012), not by a foreign key:
    a chunk of no job is still refused, and deleting a job still deletes its chunks."""
    made = await queue.submit_many([{"intent": "x"}, {"intent": "x", "chunks": [{"n": 1}, {"n": 2}]}])
    missing = made[-1].job_id + 100
    for job_ids in ([missing], [made[0].job_id, missing]):
        with pytest.raises(queue.db.IntegrityError):
            async with queue.db.transaction() as conn:
                for job_id in job_ids:  # PostgreSQL: the second statement's check finds the orphan
                    await conn.execute("INSERT INTO chunks (job_id, chunk_index, params, run_after) "
                                       "VALUES (:job_id, 7, '{}', 0)", {"job_id": job_id})
    with pytest.raises(queue.db.IntegrityError):
        async with queue.db.transaction() as conn:
            await conn.execute("UPDATE chunks SET job_id = :job_id WHERE job_id = :old",
                               {"job_id": missing, "old": made[0].job_id})
    assert scalar(db_path, "SELECT count(*) FROM chunks WHERE chunk_index = 7") == 0
    async with queue.db.transaction() as conn:
        await conn.execute("DELETE FROM jobs WHERE id = :job_id", {"job_id": made[1].job_id})
    assert scalar(db_path, "SELECT count(*) FROM chunks WHERE job_id = ?", (made[1].job_id,)) == 0
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 1
    # the deletion went through the counters as the rows did: the fixture checks them at the end


@pytest.mark.postgres_only
def test_a_chunk_for_a_stored_job_holds_it_against_a_delete(db_path: str) -> None:
    """A chunk inserted for a job another transaction made locks that job until commit, as the
    foreign key did: a concurrent delete waits, then takes the new chunk with it; no chunk is left
    without its job."""
    import psycopg

    async def make() -> int:
        async with await Queue.open(db_path) as queue:
            return (await queue.submit("x")).job_id

    import asyncio

    job_id = asyncio.run(make())
    with psycopg.connect(db_path) as adder, psycopg.connect(db_path) as deleter:
        adder.execute("INSERT INTO chunks (job_id, chunk_index, params, run_after) VALUES (%s, 1, '{}', 0)",
                      (job_id,))
        deleter.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM jobs WHERE id = %s", (job_id,))
        deleter.rollback()
        adder.commit()
        deleter.execute("DELETE FROM jobs WHERE id = %s", (job_id,))
        deleter.commit()
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 0


@pytest.mark.postgres_only
async def test_text_search_finds_intents_by_index_at_scale(queue: Queue) -> None:
    """PostgreSQL finds a word of an intent through job_intents and jobs_intent, and one of the params
    through their trigram index (of jobs with params only), never by reading every job."""
    from queuetop.engine.model.query import parse, parse_sort
    from queuetop.engine.store import find
    from queuetop.engine.store.queries import Query

    await queue.submit_many([{"intent": "demo.noop"}] * 3000 + [{"intent": "mail.send", "params": {"to": "zed"}}]
                            + [{"intent": "reports.weekly"}] * 5)
    async with queue.db.transaction() as conn:
        await conn.execute("ANALYZE jobs")
    assert sorted(row[0] for row in await queue.db.fetchall("SELECT intent FROM job_intents")) == [
        "demo.noop", "mail.send", "reports.weekly"]
    for word, matched in (("weekly", 5), ("mail", 1), ("zed", 1), ("intent:reports.*", 5)):
        found = await queue.find_jobs(word)
        assert (found.matched, found.exact) == (matched, True), word
        page, _, params = find.find_jobs(parse(word), parse_sort("id:desc"), now=queue.clock.now(), limit=50,
                                         offset=0)
        explain = Query("")
        explain.postgres = "EXPLAIN (FORMAT JSON) " + (page.postgres or "")
        plan = (await queue.db.fetchone(explain, params))[0][0]["Plan"]
        assert "jobs" in _relations(plan, "Index Scan", "Bitmap Index Scan", "Index Only Scan", "Bitmap Heap Scan")
        assert "jobs" not in _relations(plan, "Seq Scan"), (word, plan)


def _relations(plan: dict[str, Any], *kinds: str) -> list[str]:
    """The tables (and indexes) read by nodes of these kinds anywhere in a plan."""
    found = [plan.get("Relation Name") or plan.get("Index Name", "")] if plan["Node Type"] in kinds else []
    for child in plan.get("Plans", ()):
        found += _relations(child, *kinds)
    return found


@pytest.mark.postgres_only
async def test_batches_written_at_once_commit_in_order_and_stop_at_a_failure(queue: Queue, db_path: str) -> None:
    """PostgreSQL writes two batches at once (no dedupe keys); each commits after the one before it, so
    when one fails, what is stored is exactly the batches before it, and on_batch was told of those."""
    import psycopg

    with psycopg.connect(db_path, autocommit=True) as conn:  # a job the database refuses, after the checks
        conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF EXISTS (SELECT 1 FROM new_rows WHERE intent = 'refused') THEN RAISE 'refused'; END IF; "
                     "RETURN NULL; END $$")
        conn.execute("CREATE TRIGGER refuse AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows "
                     "FOR EACH STATEMENT EXECUTE FUNCTION refuse()")
    items: list[dict[str, object]] = [{"intent": "ok", "params": {"n": n}} for n in range(50)]
    items[35] = {"intent": "refused"}
    told: list[list[int]] = []
    with pytest.raises(queue.db.Error, match="refused"):
        await queue.submit_many(items, batch_size=10, on_batch=lambda made: told.append([r.job_id for r in made]))
    assert [len(batch) for batch in told] == [10, 10, 10]
    ids = [job_id for batch in told for job_id in batch]
    assert ids == sorted(ids)
    assert [row[0] for row in query(db_path, "SELECT id FROM jobs ORDER BY id")] == ids
    assert scalar(db_path, "SELECT count(*) FROM chunks") == 30
    made = await queue.submit_many(items[:35] + items[36:], batch_size=10)  # and it goes on working
    assert len(made) == 49 and min(r.job_id for r in made) > max(ids)


async def test_a_bad_item_late_in_a_long_call_leaves_nothing(queue: Queue) -> None:
    """Batches may be written while later items are still being checked (PostgreSQL): none commits
    before every item has passed, keyed and keyless batches alike."""
    items: list[dict[str, object]] = [{"intent": "fine", "params": {"n": n}} for n in range(950)]
    items[420]["dedupe_key"] = "k-420"
    items.append({"intent": "fine", "timeout": -1})
    told: list[object] = []
    with pytest.raises(UsageError, match="item 951: timeout"):
        await queue.submit_many(items, batch_size=100, on_batch=told.append)
    assert told == [] and await queue.count_jobs() == 0
    made = await queue.submit_many(items[:-1], batch_size=100)
    assert len({r.job_id for r in made}) == 950 and await queue.count_jobs() == 950


_SUBMITTER = """
import asyncio, json, sys
from queuetop.engine.api import Queue

async def main(db, start):
    items = [{"intent": "x", "dedupe_key": f"k{n}"} if n % 3 == 0 else {"intent": "x"}
             for n in range(start, start + 3000)]
    async with await Queue.open(db) as queue:
        made = await queue.submit_many(items, batch_size=250)
    print(json.dumps({str(n): [r.job_id, r.created] for n, r in zip(range(start, start + 3000), made)}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_two_processes_submitting_one_dedupe_key_make_one_job(db_path: Path | str) -> None:
    """Two processes whose bulk submits share half their dedupe keys: each key names one job, and both
    calls return its id for it; every other item is its own job."""
    async def prepare() -> None:
        async with await Queue.open(db_path):
            pass

    import asyncio

    asyncio.run(prepare())  # the schema, made once
    children = [subprocess.Popen([sys.executable, "-c", _SUBMITTER, str(db_path), str(start)],
                                 stdout=subprocess.PIPE, env=subprocess_env()) for start in (0, 1500)]
    outs = [json.loads(child.communicate(timeout=120)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    first, second = outs
    for n in range(1500, 3000):  # both submitted these
        if n % 3 == 0:
            assert first[str(n)][0] == second[str(n)][0] and first[str(n)][1] != second[str(n)][1], n
        else:
            assert first[str(n)][0] != second[str(n)][0]
    keyed = scalar(db_path, "SELECT count(*) FROM jobs WHERE dedupe_key IS NOT NULL")
    assert keyed == len({n for n in range(4500) if n % 3 == 0})
    assert scalar(db_path, "SELECT count(*) FROM jobs") == keyed + 2 * 2000
    assert_counters(db_path)


async def test_params_and_chunks_come_back_byte_for_byte(queue: Queue) -> None:
    """PostgreSQL streams jobs and chunks as COPY text: backslashes, tabs, line breaks, quotes, \\N and
    text beyond ASCII in params, chunks and keys come back as given."""
    odd = {"path": "C:\\dir\\new", "tab": "a\tb", "lines": "a\nb\r\n", "quote": "\"'", "null": "\\N", "uni": "é☃𝄞",
           "nested": {"list": [1, 2.5, None, True]}}
    items = [{"intent": "odd", "params": odd, "chunks": [odd, {"n": n}], "priority": -3, "timeout": 7,
              "on_finalize": "then.this", "queue": "q-1"} for n in range(5)]
    made = await queue.submit_many(items, batch_size=2)
    for n, result in enumerate(made):
        job = await queue.job(result.job_id)
        assert (job.params, job.priority, job.timeout, job.on_finalize, job.queue) == (odd, -3, 7.0, "then.this", "q-1")
        assert [c.params for c in await queue.chunks(result.job_id)] == [odd, {"n": n}]


async def test_a_keyed_batch_then_keyless_ones_with_its_new_intent(queue: Queue) -> None:
    """A batch with dedupe keys, written while later items are still checked, then keyless batches of
    the same new intent: neither waits on the other's intent (on PostgreSQL it could wait for good)."""
    import asyncio

    # a batch long enough for the keyed one to insert its jobs while the next is checked, and more after
    items = [{"intent": "brand.new", "dedupe_key": f"k{n}"} for n in range(2000)]
    items += [{"intent": "brand.new"} for _ in range(4500)]
    made = await asyncio.wait_for(queue.submit_many(items, batch_size=2000), 60)
    assert len({r.job_id for r in made}) == 6500
    assert [job.id for job in (await queue.find_jobs("intent:brand.*", limit=1)).jobs] == [made[-1].job_id]


async def test_a_jobs_parent_and_schedule_must_exist_and_are_cleared_with_them(queue: Queue,
                                                                              db_path: Path | str) -> None:
    """PostgreSQL checks a job's parent and schedule once per statement (migration 0014), not by foreign
    keys: a link to no row is still refused, on insert and on update, and deleting the parent or the
    schedule still sets its jobs' link to NULL."""
    schedule = await queue.add_schedule("nightly", "0 3 * * *", "x")
    parent, other = await queue.submit_many([{"intent": "x"}, {"intent": "x"}])
    missing = other.job_id + 100
    # jobs without chunks, ended: what the counter invariant allows
    insert = ("INSERT INTO jobs (intent, status, chunks_total, created_at, parent_job_id, schedule_id) "
              "VALUES ('x', 'completed', 0, 0, :parent, :schedule)")
    for links in ([(missing, None)], [(None, schedule.id + 100)], [(parent.job_id, schedule.id), (missing, None)],
                  [(None, schedule.id), (None, schedule.id + 100)]):
        with pytest.raises(queue.db.IntegrityError):
            async with queue.db.transaction() as conn:
                for job_parent, job_schedule in links:  # PostgreSQL: the later statement's check finds it
                    await conn.execute(insert, {"parent": job_parent, "schedule": job_schedule})
    for column, value in (("parent_job_id", missing), ("schedule_id", schedule.id + 100)):
        with pytest.raises(queue.db.IntegrityError):
            async with queue.db.transaction() as conn:
                await conn.execute(f"UPDATE jobs SET {column} = :value WHERE id = :id",
                                   {"value": value, "id": other.job_id})
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 2
    async with queue.db.transaction() as conn:
        # many rows in one statement, each link existing (one made by this same statement)
        await conn.execute("INSERT INTO jobs (intent, status, chunks_total, created_at, parent_job_id, schedule_id) "
                           "VALUES ('x', 'completed', 0, 0, :parent, :schedule), ('x', 'completed', 0, 0, :parent, "
                           "NULL), ('x', 'completed', 0, 0, NULL, :schedule)",
                           {"parent": parent.job_id, "schedule": schedule.id})
        await conn.execute("UPDATE jobs SET parent_job_id = :parent, schedule_id = :schedule WHERE id = :id",
                           {"parent": parent.job_id, "schedule": schedule.id, "id": other.job_id})
    links = "SELECT count(*) FROM jobs WHERE parent_job_id = ? OR schedule_id = ?"
    assert scalar(db_path, links, (parent.job_id, schedule.id)) == 4
    async with queue.db.transaction() as conn:
        await conn.execute("DELETE FROM jobs WHERE id = :id", {"id": parent.job_id})
    assert scalar(db_path, "SELECT count(*) FROM jobs WHERE parent_job_id IS NOT NULL") == 0
    assert scalar(db_path, "SELECT count(*) FROM jobs WHERE schedule_id = ?", (schedule.id,)) == 3
    await queue.remove_schedule("nightly")
    assert scalar(db_path, "SELECT count(*) FROM jobs WHERE schedule_id IS NOT NULL") == 0
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 4


@pytest.mark.postgres_only
def test_a_job_for_a_stored_parent_holds_it_against_a_delete(db_path: str) -> None:
    """A job inserted with a parent and a schedule another transaction made locks them until commit,
    as the foreign keys did: a concurrent delete waits, then clears the new job's link; and a job
    whose parent is being deleted waits for that delete, then is refused."""
    import asyncio

    import psycopg

    async def make() -> tuple[int, int, int]:
        async with await Queue.open(db_path) as queue:
            schedule = await queue.add_schedule("nightly", "0 3 * * *", "x")
            first, second = await queue.submit_many([{"intent": "x"}, {"intent": "x"}])
            return first.job_id, second.job_id, schedule.id

    parent, doomed, schedule = asyncio.run(make())
    insert = ("INSERT INTO jobs (intent, status, chunks_total, created_at, parent_job_id, schedule_id) "
              "VALUES ('x', 'completed', 0, 0, %s, %s) RETURNING id")
    with psycopg.connect(db_path) as adder, psycopg.connect(db_path) as deleter:
        (child,) = adder.execute(insert, (parent, schedule)).fetchone()
        deleter.execute("SET lock_timeout = '200ms'")
        for delete in ("DELETE FROM jobs WHERE id = %s", "DELETE FROM schedules WHERE id = %s"):
            with pytest.raises(psycopg.errors.LockNotAvailable):
                deleter.execute(delete, (parent if "jobs" in delete else schedule,))
            deleter.rollback()
            deleter.execute("SET lock_timeout = '200ms'")
        adder.commit()
        deleter.execute("DELETE FROM jobs WHERE id = %s", (parent,))
        deleter.execute("DELETE FROM schedules WHERE id = %s", (schedule,))
        deleter.commit()
        assert query(db_path, "SELECT parent_job_id, schedule_id FROM jobs WHERE id = ?", (child,)) == [
            (None, None)]
        deleter.execute("DELETE FROM jobs WHERE id = %s", (doomed,))  # not committed yet
        adder.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            adder.execute(insert, (doomed, None))
        adder.rollback()
        deleter.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f"parent job {doomed} does not exist"):
            adder.execute(insert, (doomed, None))
        adder.rollback()
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 1


async def test_a_cancel_that_lands_after_a_batch_committed_still_reports_that_batch(
        db_path: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C while a batch's commit is on its way: the database keeps the batch, so the caller
    must be told of it (``on_batch``), or ``submit-many`` says those lines were not submitted and
    a second run submits them twice. What ``on_batch`` was told is exactly what committed."""
    import asyncio

    from queuetop.engine.services import bulk

    committed = asyncio.Event()
    answer = asyncio.Event()
    real = bulk.insert_batch

    async def slow_answer(*args: Any, **kwargs: Any) -> Any:
        made = await real(*args, **kwargs)  # committed
        committed.set()
        await answer.wait()  # the caller has not heard back yet
        return made

    monkeypatch.setattr(bulk, "insert_batch", slow_answer)
    queue = await Queue.open(db_path)
    told: list[Any] = []
    try:
        submitting = asyncio.create_task(
            queue.submit_many([{"intent": "demo.noop"} for _ in range(6)], batch_size=2, on_batch=told.extend))
        await asyncio.wait_for(committed.wait(), 30)
        submitting.cancel()
        answer.set()
        with pytest.raises(asyncio.CancelledError):
            await submitting
        stored = scalar(db_path, "SELECT count(*) FROM jobs")
        assert stored > 0 and len(told) == stored, (len(told), stored)
        assert sorted(r.job_id for r in told) == [row[0] for row in query(db_path, "SELECT id FROM jobs ORDER BY id")]
    finally:
        answer.set()
        await queue.close()
    assert_counters(db_path)


def test_ctrl_c_while_a_big_file_is_read_and_checked_stops_at_once_with_nothing_submitted(
        tmp_path: Path, db_path: Path | str) -> None:
    """SIGINT lands while the lines are parsed or checked (a first Ctrl+C cancels the command's task,
    which used to be seen only at the first batch's write, so 2,000 jobs committed first)."""
    import signal
    import time

    lines = "".join(json.dumps({"intent": "mail.send", "params": {"to": n}}) + "\n" for n in range(200_000))
    (tmp_path / "big.ndjson").write_text(lines)
    proc = subprocess.Popen([*queuetop_command(), "submit-many", "big.ndjson", "--db", str(db_path)], cwd=tmp_path,
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _has_jobs_table(db_path):  # opened: from here it reads and checks the file for seconds
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 0


def _has_jobs_table(db_path: Path | str) -> bool:
    if isinstance(db_path, Path) and not db_path.exists():
        return False  # a connection would make the file the command is about to make
    try:
        return scalar(db_path, "SELECT count(*) FROM jobs") is not None
    except Exception:  # not created yet (or the file is still being made)
        return False
