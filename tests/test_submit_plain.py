"""Bulk submit's two paths: a plain item (a dict of plain values) is checked and encoded at once
(jobs.quick_row); any other mapping goes through a Submission. Both must store the same job, byte for
byte, and refuse the same items with the same words, on both backends."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from conftest import query
from queuetop.engine.api import Queue
from queuetop.engine.config import parse
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.queues import DEFAULT_QUEUE
from queuetop.engine.services import jobs


class Level(enum.IntEnum):
    HIGH = 7


ODD = {"path": "C:\\dir\\new", "tab": "a\tb", "lines": "a\nb\r\n", "null": "\\N", "uni": "é☃𝄞", "n": [1, 2.5, None]}

# Items the plain path takes once their intents are known: every key, defaults given as None or left
# out, text COPY must escape, routed and named queues, one empty chunk given or implied.
PLAIN: list[dict[str, Any]] = [
    {"intent": "plain.a"},
    {"intent": "plain.a", "params": {}, "chunks": [{}]},
    {"intent": "plain.a", "params": ODD, "chunks": [ODD, {}, {"k": 1}], "priority": -1_000_000_000,
     "max_retries": 0, "timeout": 1, "on_finalize": "plain.b", "dedupe_key": "key\t\\1", "queue": "q-1"},
    {"intent": "plain.b", "params": None, "chunks": None, "priority": 5, "max_retries": None,
     "timeout": None, "on_finalize": None, "dedupe_key": None, "queue": None},
    {"intent": "reports.daily", "chunks": [{"n": 1}], "timeout": 31_622_400.0, "max_retries": 1000},
    {"intent": "plain.a", "queue": DEFAULT_QUEUE, "params": {1: "int key"}},
    {"intent": "plain.a", "timeout": 60}, {"intent": "plain.a", "timeout": 60.0},  # one settings' text, two types
    {"intent": "plain.a", "timeout": 60.0, "chunks": [{"a": 1}, {"b": "\\"}], "on_finalize": "plain.a"},
]

# Items only the full path takes: what they store must match the plain items they stand for.
ODDLY_TYPED = [
    ({"intent": "plain.a", "priority": Level.HIGH}, {"intent": "plain.a", "priority": 7}),
    ({"intent": "plain.a", "chunks": ({"n": 1},)}, {"intent": "plain.a", "chunks": [{"n": 1}]}),
    ({"intent": "plain.a", "date_range": "2024-01-01..2024-01-02"},
     {"intent": "plain.a", "chunks": [{"start": "2024-01-01", "end": "2024-01-01"},
                                      {"start": "2024-01-02", "end": "2024-01-02"}]}),
]

# Items every path refuses, and the start of what it says.
BAD: list[tuple[dict[str, Any], str]] = [
    ({"intent": "bad key"}, "intent 'bad key' is not a valid intent key"),
    ({"intent": 5}, "an intent key is required"),
    ({"intent": ""}, "an intent key is required"),
    ({"intent": "plain.a", "on_finalize": "no good"}, "on-finalize intent 'no good'"),
    ({"intent": "plain.a", "priority": True}, "priority must be an integer"),
    ({"intent": "plain.a", "priority": 1.5}, "priority must be an integer"),
    ({"intent": "plain.a", "priority": 2 ** 70}, "priority must be an integer"),
    ({"intent": "plain.a", "priority": None}, "priority must be an integer"),
    ({"intent": "plain.a", "timeout": math.nan}, "timeout must be a number"),
    ({"intent": "plain.a", "timeout": math.inf}, "timeout must be a number"),
    ({"intent": "plain.a", "timeout": 0}, "timeout must be a number"),
    ({"intent": "plain.a", "timeout": "9"}, "timeout must be a number"),
    ({"intent": "plain.a", "max_retries": -1}, "max retries must be an integer"),
    ({"intent": "plain.a", "max_retries": 1001}, "max retries must be an integer"),
    ({"intent": "plain.a", "dedupe_key": ""}, "a dedupe key must be a non-empty string"),
    ({"intent": "plain.a", "dedupe_key": 5}, "a dedupe key must be a non-empty string"),
    ({"intent": "plain.a", "queue": "no spaces"}, "queue 'no spaces' is not a valid queue name"),
    ({"intent": "plain.a", "queue": "q-1\n"}, "queue 'q-1\\n' is not a valid queue name"),
    ({"intent": "plain.a", "queue": 5}, "queue 5 is not a valid queue name"),
    ({"intent": "plain.a", "params": [1]}, "job params must be a JSON object"),
    ({"intent": "plain.a", "params": {"x": math.nan}}, "params must be JSON"),
    ({"intent": "plain.a", "params": {"x": object()}}, "params must be JSON"),
    ({"intent": "plain.a", "chunks": []}, "a job needs at least one chunk"),
    ({"intent": "plain.a", "chunks": [1]}, "chunk 0 must be a JSON object"),
    ({"intent": "plain.a", "chunks": "ab"}, "chunks must be a list of objects"),
    ({"intent": "plain.a", "chunks": [{"x": {1, 2}}]}, "params must be JSON"),
    ({"intent": "plain.a", "chunk_days": 2}, "chunk_days (--chunk-days) needs a date_range"),
]

JOB_COLUMNS = ("intent, params, priority, max_retries, timeout, dedupe_key, on_finalize, parent_job_id, "
               "schedule_id, chunks_total, queue, status, created_at, length(nonce)")


def stored(db: Path | str, job_ids: list[int]) -> list[tuple[Any, ...]]:
    """Each job's columns and its chunks' (but ids), as stored: text as it is, not decoded."""
    found = []
    for job_id in job_ids:
        (job,) = query(db, f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        chunks = query(db, "SELECT chunk_index, params, priority, queue, status, run_after, attempt FROM chunks "
                           "WHERE job_id = ? ORDER BY chunk_index", (job_id,))
        found.append((job, chunks))
    return found


@pytest.fixture
async def routed(db_path: Path | str, clock: FrozenClock) -> Any:
    config = parse({"queues": {"reports": {"intents": ["reports.*"]}}})
    async with await Queue.open(db_path, config, clock=clock) as queue:
        yield queue


async def test_plain_items_are_stored_as_the_full_path_stores_them(routed: Queue, db_path: Path | str) -> None:
    # without their dedupe keys, so that each path makes its own jobs; the keys are compared below
    items = [{k: v for k, v in item.items() if k != "dedupe_key"} for item in PLAIN]
    plain = await routed.submit_many(items * 2)  # the second time round every intent is known
    for item in items:
        assert jobs.quick_row(item, routed.queue_routes.route, 3, 60.0) is not None, item  # the path is taken
    full = await routed.submit_many([MappingProxyType(item) for item in items * 2])
    assert all(r.created for r in plain + full)
    assert stored(db_path, [r.job_id for r in plain]) == stored(db_path, [r.job_id for r in full])
    odd = await routed.submit_many([item for item, _ in ODDLY_TYPED])
    same = await routed.submit_many([item for _, item in ODDLY_TYPED])
    assert stored(db_path, [r.job_id for r in odd]) == stored(db_path, [r.job_id for r in same])
    keyed = await routed.submit_many([PLAIN[2], MappingProxyType(PLAIN[2])])
    assert [(r.job_id, r.created) for r in keyed] == [(keyed[0].job_id, True), (keyed[0].job_id, False)]
    assert query(db_path, "SELECT dedupe_key FROM jobs WHERE id = ?", (keyed[0].job_id,)) == [("key\t\\1",)]


@pytest.mark.parametrize(("item", "says"), BAD, ids=[says for _, says in BAD])
async def test_a_bad_item_says_the_same_on_either_path(queue: Queue, item: dict[str, Any], says: str) -> None:
    await queue.submit_many([{"intent": "plain.a", "queue": "q-1", "on_finalize": "plain.b"}] * 2)  # all known
    assert jobs.quick_row(item, lambda intent: DEFAULT_QUEUE, 3, 60.0) is None
    before = await queue.count_jobs()
    said = []
    for form in (item, MappingProxyType(item)):
        with pytest.raises(UsageError) as caught:
            await queue.submit_many([{"intent": "plain.a"}] * 3 + [form] + [{"intent": "plain.a"}] * 3)
        said.append(str(caught.value))
    assert said[0] == said[1] and said[0].startswith(f"item 4: {says}"), said
    assert await queue.count_jobs() == before  # nothing of the call was stored


def test_copy_text_of_a_plain_row_is_the_full_formats() -> None:
    """quick_row builds a row's COPY fields itself; the general functions make the same text."""
    jobs._GOOD_KEYS.update({"plain.a", "plain.b", "reports.daily"})
    jobs._GOOD_QUEUES.add("q-1")
    for item in PLAIN * 2:  # the second time round, the text of each one's settings is known
        row = jobs.quick_row(item, lambda intent: DEFAULT_QUEUE, 3, 60.0)
        assert row is not None, item
        assert type(row["timeout"]) is type(item.get("timeout") or 60.0)
        bare = {k: v for k, v in row.items() if k not in ("copy", "chunk_copy")}
        assert row["copy"] == jobs.job_copy(bare) and row["chunk_copy"] == jobs.chunk_copy(bare)
        row["id"] = bare["id"] = 12
        lines = [jobs.copied_jobs([r], 1.5).split("\t") for r in (row, bare)]
        assert lines[0][:-1] == lines[1][:-1] and len(lines[0][-1]) == len(lines[1][-1]) == 33  # nonce and \n
        assert jobs.copied_chunks([row], 1.5) == jobs.copied_chunks([bare], 1.5)

