"""Finding jobs: the query language, Queue.find_jobs on both backends, `queuetop jobs --where`.

The scene: jobs of four intents at two ages, three failed with an error
through the real claim and settle path, one running with a `%` and an `_`
in its params (the LIKE wildcards must be matched as text).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_counters, run_cli
from queuetop.engine.api import Queue
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.query import (DEFAULT_SORT, JobQuery, JobSort, QueryError, SortColumn, parse,
                                          parse_sort)
from queuetop.engine.model.states import JobState
from queuetop.engine.services import claims

# -- the parser ---------------------------------------------------------------------------

GOOD = [
    ("", JobQuery()),
    ("   ", JobQuery()),
    ("timeout", JobQuery(text=("timeout",))),
    ('"two words" x', JobQuery(text=("two words", "x"))),
    ('"state:failed"', JobQuery(text=("state:failed",))),  # quoted: text, not a filter
    ("state:failed", JobQuery(states=frozenset({JobState.FAILED}))),
    ("STATE:Failed,partial", JobQuery(states=frozenset({JobState.FAILED, JobState.PARTIAL}))),
    ("state:failed,partial state:partial", JobQuery(states=frozenset({JobState.PARTIAL}))),
    ("state:failed state:running", JobQuery(states=frozenset(), nothing=True)),
    ("intent:reports.*", JobQuery(intents=(("reports.*",),))),
    ("intent:a.*,b? intent:*x", JobQuery(intents=(("a.*", "b?"), ("*x",)))),
    ("queue:default", JobQuery(queues=frozenset({"default"}))),
    ("queue:slow,fast queue:slow", JobQuery(queues=frozenset({"slow"}))),
    ("queue:slow queue:fast", JobQuery(queues=frozenset(), nothing=True)),
    ("age:>1h", JobQuery(older_than=3600.0)),
    ("age:<30m age:<2h", JobQuery(younger_than=1800.0)),
    ("age:>1.5d", JobQuery(older_than=1.5 * 86400)),
    ("age:>1h age:<10m", JobQuery(older_than=3600.0, younger_than=600.0, nothing=True)),
    ("err:timeout", JobQuery(errors=("timeout",))),
    ('err:"connection refused"', JobQuery(errors=("connection refused",))),
    ("id:123", JobQuery(ids=frozenset({123}))),
    ("id:1,2,3 id:3,4", JobQuery(ids=frozenset({3}))),
    ("state:failed err:timeout acme", JobQuery(text=("acme",), states=frozenset({JobState.FAILED}),
                                               errors=("timeout",))),
]

BAD = [
    ("stat:failed", "unknown filter stat:"),
    ("http://example.com", "unknown filter http:"),
    ("state:done", "unknown state 'done'"),
    ("state:", "state: needs a value"),
    ("intent:a,,b", "empty pattern"),
    ("age:1h", "is not an age"),
    ("age:>1y", "is not an age"),
    ("age:>h", "is not an age"),
    ("id:abc", "is not a job id"),
    ("id:-1", "is not a job id"),
    ("id:1,", "is not a job id"),
    ('err:"unclosed', 'unclosed "'),
    ("x" * 1001, "longer than 1000"),
    (" ".join(["w"] * 33), "more than 32 words"),
    ("a\x00b", "NUL"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t or "empty" for t, _ in GOOD])
def test_good_queries_parse(text: str, expected: JobQuery) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "message"), BAD, ids=[t[:20] for t, _ in BAD])
def test_bad_queries_are_one_line_that_says_why(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        parse(text)
    assert "\n" not in str(caught.value)


def test_a_query_reads_back_as_its_words() -> None:
    query = parse('  state:failed   "two words"  err:"conn refused" ')
    assert str(query) == 'state:failed "two words" err:"conn refused"'
    assert parse(str(query)) == query
    assert parse("").empty and not query.empty
    assert parse("state:failed").counted and not parse("state:failed x").counted


def test_sorts_parse_and_cycle() -> None:
    assert parse_sort("intent") == JobSort(SortColumn.INTENT, False)
    assert parse_sort("intent:desc") == parse_sort("-intent") == JobSort(SortColumn.INTENT, True)
    assert parse_sort(" Updated ") == JobSort(SortColumn.UPDATED, True)
    for bad in ("bogus", "id:sideways", "-id:asc", ""):
        with pytest.raises(QueryError):
            parse_sort(bad)
    seen, sort = [], DEFAULT_SORT
    for _ in SortColumn:
        seen.append(sort.column)
        sort = sort.next_column()
    assert seen == list(SortColumn) and sort.column is SortColumn.ID
    assert parse_sort(DEFAULT_SORT.flipped().spec) == JobSort(SortColumn.ID, False)


# -- find_jobs on both backends -------------------------------------------------------------


async def _fail(queue: Queue, job_id: int, error: str, clock: FrozenClock) -> None:
    """Claim every chunk of the queue and fail the ones of ``job_id``; give the others back."""
    got, _ = await claims.claim(queue.db, "w", 1000, clock.now())
    await queue.settle([
        claims.failure(c, "w", error, permanent=True, max_retries=0, now=clock.now()) if c.job_id == job_id
        else claims.release(c, clock.now()) for c in got])


async def _scene(queue: Queue, clock: FrozenClock) -> dict[str, int]:
    ids = {}
    ids["old_report"] = (await queue.submit("reports.daily", chunks=[{"n": 1}], params={"customer": "acme"})).job_id
    clock.advance(7200)
    ids["billing"] = (await queue.submit("billing.run", chunks=[{"n": 1}, {"n": 2}],
                                         params={"note": "100%_sure"})).job_id
    ids["report"] = (await queue.submit("reports.weekly", chunks=[{"n": 1}], params={"customer": "Globex"})).job_id
    ids["notify"] = (await queue.submit("notify.send", chunks=[{"n": 1}], queue="mail")).job_id
    clock.advance(60)
    await _fail(queue, ids["report"], "ReadTimeout: api.example.com read timed out", clock)
    clock.advance(10)
    await _fail(queue, ids["notify"], "connection refused", clock)
    clock.advance(10)
    await _fail(queue, ids["old_report"], "HTTP 500 from ACME", clock)
    clock.advance(60)
    return ids


async def _found(queue: Queue, query: str, sort: str = "id:desc") -> tuple[list[int], int, int]:
    found = await queue.find_jobs(query, sort=sort)
    return [job.id for job in found.jobs], found.matched, found.total


async def test_find_jobs_filters_combine(queue: Queue, clock: FrozenClock) -> None:
    ids = await _scene(queue, clock)
    old, billing, report, notify = ids["old_report"], ids["billing"], ids["report"], ids["notify"]
    # billing's chunks went back unspent every time, so it is pending; claimed once more, it runs
    assert await _found(queue, "state:pending") == ([billing], 1, 4)
    await claims.claim(queue.db, "w", 1000, clock.now())
    assert await _found(queue, "") == ([notify, report, billing, old], 4, 4)
    assert await _found(queue, "state:failed") == ([notify, report, old], 3, 4)
    assert await _found(queue, "state:failed,running") == ([notify, report, billing, old], 4, 4)
    assert await _found(queue, "state:running") == ([billing], 1, 4)
    assert await _found(queue, "state:pending") == ([], 0, 4)
    assert await _found(queue, "intent:reports.*") == ([report, old], 2, 4)
    assert await _found(queue, "intent:REPORTS.D*,notify.?end") == ([notify, old], 2, 4)
    assert await _found(queue, "intent:reports") == ([], 0, 4)  # a glob matches the whole intent
    assert await _found(queue, "err:timeout") == ([report], 1, 4)
    assert await _found(queue, "err:acme") == ([old], 1, 4)  # any case
    assert await _found(queue, "acme") == ([old], 1, 4)  # params and error
    assert await _found(queue, "globex") == ([report], 1, 4)  # params only
    assert await _found(queue, "refused") == ([notify], 1, 4)  # error only
    assert await _found(queue, "weekly") == ([report], 1, 4)  # intent only
    assert await _found(queue, "%_") == ([billing], 1, 4)  # wildcards are text
    assert await _found(queue, "_") == ([billing], 1, 4)
    assert await _found(queue, "age:>1h") == ([old], 1, 4)
    assert await _found(queue, "age:<1h") == ([notify, report, billing], 3, 4)
    assert await _found(queue, "state:failed age:<1h err:o") == ([notify, report], 2, 4)
    assert await _found(queue, f"id:{billing},{old}") == ([billing, old], 2, 4)
    assert await _found(queue, f"id:{billing} state:failed") == ([], 0, 4)
    assert await _found(queue, "queue:default state:running") == ([billing], 1, 4)
    assert await _found(queue, "queue:default") == ([report, billing, old], 3, 4)
    assert await _found(queue, "queue:mail") == ([notify], 1, 4)
    assert await _found(queue, "queue:mail,default state:failed") == ([notify, report, old], 3, 4)
    assert await _found(queue, "queue:other") == ([], 0, 4)
    assert await _found(queue, "state:failed state:pending") == ([], 0, 4)
    assert await _found(queue, "x'); DROP TABLE jobs; --") == ([], 0, 4)
    assert await _found(queue, "") == ([notify, report, billing, old], 4, 4)


async def test_find_jobs_sorts_by_every_column_both_ways(queue: Queue, clock: FrozenClock) -> None:
    ids = await _scene(queue, clock)
    old, billing, report, notify = ids["old_report"], ids["billing"], ids["report"], ids["notify"]
    # one of billing's two chunks completes: progress 1/2; the failed ones are 0/1
    got, _ = await claims.claim(queue.db, "w", 1, clock.now())
    await queue.settle([claims.success(got[0], "w", None, clock.now())])
    cases = {
        "id:desc": [notify, report, billing, old],
        "id:asc": [old, billing, report, notify],
        "intent": [billing, notify, old, report],  # billing.run, notify.send, reports.daily, reports.weekly
        "intent:desc": [report, old, notify, billing],
        "state": [old, report, notify, billing],  # failed, then running (ties by id, the same way)
        "state:desc": [billing, notify, report, old],
        "progress": [billing, notify, report, old],  # furthest along first
        "progress:asc": [old, report, notify, billing],
        "age": [notify, report, billing, old],  # youngest first
        "age:desc": [old, billing, report, notify],
        # billing went back to pending whenever its chunks were given back: it starts last, here
        "updated:asc": [report, notify, old, billing],  # failed, failed later, failed last, started
        "updated": [billing, old, notify, report],
    }
    for sort, expected in cases.items():
        assert (await _found(queue, "", sort))[0] == expected, sort
    # pages: limit and offset walk the same order
    first = await queue.find_jobs("", sort="intent", limit=2)
    rest = await queue.find_jobs("", sort="intent", limit=2, offset=2)
    assert [j.id for j in first.jobs + rest.jobs] == cases["intent"]
    assert first.matched == rest.matched == 4
    # by progress, page by page
    for sort in ("progress", "progress:asc"):
        pages = [await queue.find_jobs("", sort=sort, limit=1, offset=n) for n in range(5)]
        assert [j.id for page in pages for j in page.jobs] == cases[sort], sort


@pytest.mark.sqlite_only  # SQLite's plan: PostgreSQL plans tiny tables as scans
async def test_a_progress_page_reads_the_progress_index(queue: Queue, db_path: Path | str) -> None:
    import sqlite3

    from queuetop.engine.store import find

    for sort in ("progress", "progress:asc"):
        page, _, params = find.find_jobs(parse(""), parse_sort(sort), now=0, limit=60,
                                         offset=0)
        with sqlite3.connect(db_path) as conn:
            plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + page, params))
        page_read = plan.split("SCAN p")[0]  # the outer query sorts the page's rows only
        assert "INDEX jobs_progress" in page_read and "TEMP B-TREE" not in page_read, plan


async def test_find_jobs_refuses_bad_queries_and_pages(queue: Queue) -> None:
    with pytest.raises(QueryError, match="unknown state"):
        await queue.find_jobs("state:nope")
    with pytest.raises(QueryError, match="cannot sort"):
        await queue.find_jobs("", sort="colour")
    with pytest.raises(Exception, match="limit"):
        await queue.find_jobs("", limit=0)


async def test_counters_follow_every_change_and_give_the_totals(queue: Queue, clock: FrozenClock) -> None:
    ids = await _scene(queue, clock)
    totals = await queue.totals()
    # billing's chunks were only ever given back unspent: the header counts it pending, not running
    assert totals.jobs == {"failed": 3, "pending": 1}
    assert (totals.chunks_total, totals.chunks_pending, totals.chunks_failed) == (5, 2, 3)
    await queue.retry(ids["report"])
    await queue.cancel(ids["billing"])
    totals = await queue.totals()
    assert totals.jobs == {"failed": 2, "pending": 1, "cancelled": 1}  # a retried job waits again
    assert (totals.chunks_pending, totals.chunks_failed, totals.chunks_cancelled) == (1, 2, 2)
    assert_counters(queue.db.path)


# -- the CLI ---------------------------------------------------------------------------------


async def test_cli_where_and_sort(db_path: Path | str, tmp_path: Path, clock: FrozenClock) -> None:
    async with await Queue.open(db_path, clock=clock) as queue:
        ids = await _scene(queue, clock)
    done = run_cli("jobs", "--db", db_path, "--where", "state:failed err:timeout", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # no engine is online and the scene has unfinished jobs: the listing ends saying so
    *lines, waiting = done.stdout.splitlines()
    assert waiting.startswith("waiting: no engine online: work is not running (")
    assert [line.split()[0] for line in lines[1:-1]] == [str(ids["report"])]
    assert lines[-1] == "1 of 4 jobs match state:failed err:timeout"

    done = run_cli("jobs", "--db", db_path, "--where", "state:failed", "--sort", "intent", "--limit", "2",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[:-1]
    assert [line.split()[1] for line in lines[1:-1]] == ["notify.send", "reports.daily"]
    assert lines[-1] == "3 of 4 jobs match state:failed (the first 2 shown)"

    done = run_cli("jobs", "--db", db_path, "--where", "intent:reports.*", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"reports.weekly"' in done.stdout and "billing" not in done.stdout

    for args, message in ((["--where", "state:nope"], "unknown state 'nope'"),
                          (["--where", "age:soon"], "is not an age"),
                          (["--sort", "colour"], "cannot sort by 'colour'")):
        done = run_cli("jobs", "--db", db_path, *args, cwd=tmp_path)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


async def test_find_jobs_can_leave_the_count_for_later(queue: Queue, clock: FrozenClock) -> None:
    ids = await _scene(queue, clock)
    first = await queue.find_jobs("o", limit=2, count=False)  # every job's intent or error has an "o"
    assert [j.id for j in first.jobs] == [ids["notify"], ids["report"]]
    assert (first.matched, first.counted, first.exact) == (2, False, False)
    counted = await queue.count_found(first)
    assert (counted.matched, counted.total, counted.counted, counted.exact) == (4, 4, True, True)
    assert counted.jobs == first.jobs and await queue.count_found(counted) is counted
    # counts that cost no query of their own come with the page: the page ends the list, or the counters
    for text, limit, matched in (("o", 10, 4), ("state:failed", 1, 3), ("refused", 2, 1)):
        found = await queue.find_jobs(text, limit=limit, count=False)
        assert (found.matched, found.counted) == (matched, True), text


async def test_a_lone_common_word_pages_as_through_all_its_newest_matches(queue: Queue, clock: FrozenClock,
                                                                          monkeypatch) -> None:
    """A page by id of a word over CAP reads only the index entries that can be on it (find.sql's
    text_newest on SQLite): the same rows as read through all the newest CAP of each index."""
    from queuetop.engine.model.query import parse_sort
    from queuetop.engine.store import find

    monkeypatch.setattr(find, "CAP", 4)
    for n in range(6):  # six jobs say "acme" in their params, three more only in an error, one in both
        await queue.submit("sync.pull", chunks=[{"n": 1}, {"n": 2}], params={"customer": f"acme-{n}"})
        await queue.submit("sync.push", chunks=[{"n": 1}, {"n": 2}], params={"customer": "globex"})
    for job_id in (2, 4, 6, 7):
        await _fail(queue, job_id, "HTTP 500 from ACME", clock)
    query, sort, now = parse("acme"), parse_sort("id:desc"), clock.now()
    for limit, offset in ((1, 0), (2, 0), (3, 1), (5, 0), (4, 4), (10, 0), (3, 9)):
        got = await queue.find_jobs("acme", limit=limit, offset=offset)
        page, _, params = find.find_jobs(query, sort, now=now, limit=limit, offset=offset)  # all CAP
        assert [j.id for j in got.jobs] == [r["id"] for r in await queue.db.fetchall(page, params)], (limit, offset)
    assert [j.id for j in (await queue.find_jobs("acme", limit=20)).jobs][:4] == [11, 9, 7, 6]
