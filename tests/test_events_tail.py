"""The event tailer against real files: pieces, truncation, rotation, restarts, bad lines.

Every scenario ends with the same check: the events stored are exactly the
valid lines written (none missing, none twice), and the sessions' summaries
equal a rebuild from the events table.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing, nullcontext
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import session_oracle
from conftest import async_wait_until, is_postgres, postgres_schema, query
from queuetop.engine.events import sessions
from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.store import open_store as open_database
from queuetop.engine.store.sqlite.backend import Database
from queuetop.engine.events.demo import demo_events
from queuetop.engine.events.parse import BadLine, Event, file_stats, parse_line
from queuetop.engine.events.tail import EventBatch, Tailer

# -- helpers ----------------------------------------------------------------------------


def demo_lines(count: int, seed: int = 1, **kwargs) -> list[bytes]:
    """``count`` realistic event lines (Korean text included), newline-terminated."""
    return [orjson.dumps(e) + b"\n" for e in itertools.islice(demo_events(seed, **kwargs), count)]


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)
        out.flush()


def stored_hashes(db_path: Path | str) -> list[str]:
    return [bytes(row[0]).hex() for row in query(db_path, "SELECT hash FROM events ORDER BY id")]


def execute(db_path: Path | str, sql: str) -> None:
    """One write outside the engine (a test's sabotage), committed, on either backend."""
    if is_postgres(db_path):
        import psycopg

        with psycopg.connect(str(db_path), autocommit=True) as conn:
            conn.execute(sql)
        return
    with closing(sqlite3.connect(db_path)) as conn:
        conn.executescript(sql)


def fail_sessions_insert(db_path: Path | str, session_id: str) -> None:
    """Make inserting the session ``session_id`` fail with 'disk on fire'."""
    if is_postgres(db_path):
        execute(db_path, f"""CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
                             BEGIN IF NEW.id = '{session_id}' THEN RAISE EXCEPTION 'disk on fire'; END IF;
                             RETURN NEW; END $$;
                             CREATE TRIGGER fail_once BEFORE INSERT ON sessions
                             FOR EACH ROW EXECUTE FUNCTION fail_once();""")
    else:
        execute(db_path, f"""CREATE TRIGGER fail_once BEFORE INSERT ON sessions WHEN NEW.id = '{session_id}'
                             BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;""")


def stop_failing(db_path: Path | str) -> None:
    execute(db_path, "DROP TRIGGER fail_once ON sessions" if is_postgres(db_path) else "DROP TRIGGER fail_once")


def valid_hashes(lines: Iterable[bytes]) -> set[str]:
    found = set()
    for line in lines:
        if not line.strip():
            continue
        parsed = parse_line(line)
        if isinstance(parsed, Event):
            found.add(parsed.hash)
    return found


async def assert_exactly(db: Database, lines: Iterable[bytes]) -> None:
    """Stored events == the valid lines written; none twice; sessions == a rebuild."""
    stored = stored_hashes(db.path)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    expected = valid_hashes(lines)
    missing, extra = expected - set(stored), set(stored) - expected
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} unexpected"
    assert await session_oracle.stored_session_summaries(db) == await session_oracle.rebuild_sessions_from_events(db)


async def stats_for(db: Database, path: Path):
    return next(s for s in await file_stats(db) if s.path == str(path))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_767_225_600 + 3600)


def tailer(db: Database, clock: FrozenClock, *paths: Path | str, **kwargs) -> Tailer:
    return Tailer(db, clock, [str(p) for p in paths], **kwargs)


# -- appends -------------------------------------------------------------------------------


async def test_appends_in_small_random_pieces_split_lines_and_utf8(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    lines = demo_lines(300)
    blob = b"".join(lines)
    assert any(b > 0x7F for b in blob), "the demo text must include multibyte UTF-8"
    rng = random.Random(7)
    t = tailer(db, clock, path)
    published: list[EventBatch] = []
    t.subscribe(published.append)
    position = splits_inside_utf8 = 0
    while position < len(blob):
        size = rng.randint(1, 120)
        piece = blob[position:position + size]
        position += len(piece)
        if position < len(blob) and 0x80 <= blob[position] < 0xC0:
            splits_inside_utf8 += 1  # the next byte continues a multibyte character
        append(path, piece)
        await t.poll_once()
    t.close()
    assert splits_inside_utf8 > 10
    await assert_exactly(db, lines)
    assert sum(b.count for b in published) == 300
    stats = await stats_for(db, path)
    assert (stats.bad_lines, stats.lines_read, stats.read_offset) == (0, 300, len(blob))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12))
async def test_any_split_points_give_the_same_events(tmp_path_factory: pytest.TempPathFactory, backend: str,
                                                     cuts: list[int]) -> None:
    directory = tmp_path_factory.mktemp("split")
    lines = demo_lines(8, seed=3)
    blob = b"".join(lines)
    points = sorted({min(c, len(blob)) for c in cuts} | {len(blob)})
    # A fresh database per example (db_path would be one for all of them).
    with postgres_schema() if backend == "postgres" else nullcontext(directory / "q.db") as target:
        database = await open_database(target)
        try:
            t = tailer(database, FrozenClock(), directory / "e.ndjson")
            start = 0
            for point in points:
                append(directory / "e.ndjson", blob[start:point])
                start = point
                await t.poll_once()
            t.close()
            await assert_exactly(database, lines)
        finally:
            await database.close()


async def test_a_trailing_line_waits_for_its_newline(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    first, second = demo_lines(2)
    append(path, first + second[:-1])  # the second line has no newline yet
    t = tailer(db, clock, path)
    assert await t.poll_once() == 1
    assert (await stats_for(db, path)).read_offset == len(first)
    append(path, b"\n")
    assert await t.poll_once() == 1
    t.close()
    await assert_exactly(db, [first, second])


async def test_the_same_event_twice_is_stored_once(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    lines = demo_lines(5)
    append(path, b"".join(lines) + lines[2])
    t = tailer(db, clock, path)
    assert await t.poll_once() == 5
    t.close()
    await assert_exactly(db, lines)
    stats = await stats_for(db, path)
    assert (stats.events_stored, stats.duplicates, stats.lines_read) == (5, 1, 6)


# -- the file changes under us ----------------------------------------------------------------


async def test_truncation_reads_again_from_the_start(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    before, after = demo_lines(40), demo_lines(5, seed=9)
    append(path, b"".join(before))
    t = tailer(db, clock, path)
    assert await t.poll_once() == 40
    with open(path, "wb") as out:  # truncate, then a shorter content
        out.write(b"".join(after))
    assert await t.poll_once() == 5
    t.close()
    await assert_exactly(db, before + after)
    stats = await stats_for(db, path)
    assert (stats.generation, stats.last_reset_reason) == (1, "shrunk")
    assert stats.read_offset == len(b"".join(after))


async def test_a_file_rewritten_longer_in_place_is_caught_by_its_head(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    before, after = demo_lines(5), demo_lines(60, seed=11)
    append(path, b"".join(before))
    t = tailer(db, clock, path)
    await t.poll_once()
    inode = os.stat(path).st_ino
    with open(path, "r+b") as out:  # same inode, truncated and refilled past the old offset
        out.truncate(0)
        out.write(b"".join(after))
    assert os.stat(path).st_ino == inode
    assert await t.poll_once() == 60
    t.close()
    await assert_exactly(db, before + after)
    assert (await stats_for(db, path)).last_reset_reason == "replaced"


async def test_rotation_by_rename_and_recreate_loses_nothing(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    old, old_tail, new = demo_lines(30), demo_lines(7, seed=21), demo_lines(12, seed=22)
    append(path, b"".join(old))
    t = tailer(db, clock, path)
    assert await t.poll_once() == 30
    append(path, b"".join(old_tail))          # written, not read yet ...
    os.rename(path, tmp_path / "e.ndjson.1")  # ... when the file is rotated away
    append(path, b"".join(new))
    assert await t.poll_once() == 7 + 12      # the old file's tail, then the new file
    t.close()
    await assert_exactly(db, old + old_tail + new)
    stats = await stats_for(db, path)
    assert (stats.generation, stats.last_reset_reason, stats.read_offset) == (1, "replaced", len(b"".join(new)))


async def test_a_glob_that_also_matches_the_rotated_file_stores_nothing_twice(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    old, new = demo_lines(20), demo_lines(10, seed=5)
    append(path, b"".join(old))
    t = tailer(db, clock, tmp_path / "e.ndjson*")
    await t.poll_once()
    os.rename(path, tmp_path / "e.ndjson.1")
    append(path, b"".join(new))
    await t.poll_once()
    t.close()
    await assert_exactly(db, old + new)
    rotated = await stats_for(db, tmp_path / "e.ndjson.1")
    assert (rotated.events_stored, rotated.duplicates) == (0, 20)


async def test_a_file_deleted_and_recreated(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    first, unread, second = demo_lines(10), demo_lines(3, seed=31), demo_lines(4, seed=32)
    append(path, b"".join(first))
    t = tailer(db, clock, path)
    await t.poll_once()
    append(path, b"".join(unread))
    path.unlink()
    assert await t.poll_once() == 3  # drained through the descriptor still open on it
    assert (await stats_for(db, path)).state == "missing"
    assert await t.poll_once() == 0
    append(path, b"".join(second))
    assert await t.poll_once() == 4
    t.close()
    await assert_exactly(db, first + unread + second)
    stats = await stats_for(db, path)
    assert (stats.state, stats.missing_since, stats.last_reset_reason) == ("present", None, "replaced")


async def test_a_file_that_does_not_exist_yet_is_picked_up(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "later" / "e.ndjson"
    t = tailer(db, clock, path)
    assert await t.poll_once() == 0
    assert await file_stats(db) == []  # nothing recorded for a file never seen
    path.parent.mkdir()
    lines = demo_lines(6)
    append(path, b"".join(lines))
    assert await t.poll_once() == 6
    t.close()
    await assert_exactly(db, lines)


# -- restarts and several files ------------------------------------------------------------------


async def test_restart_resumes_from_the_saved_offset_without_reparsing(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    lines = demo_lines(500)
    blob = b"".join(lines)
    half = blob.index(b"\n", len(blob) // 2) + 40  # mid-line: a held-back partial line
    append(path, blob[:half])
    first = tailer(db, clock, path)
    await first.poll_once()
    stored_before = len(stored_hashes(db.path))
    first.close()

    second = tailer(db, clock, path)  # a new process, in effect: only the database carries over
    assert await second.poll_once() == 0
    assert second.lines_parsed == 0
    assert second.bytes_read <= 40  # the partial line is read again; nothing before it
    append(path, blob[half:])
    assert await second.poll_once() == 500 - stored_before
    assert second.lines_parsed == 500 - stored_before
    assert second.bytes_read <= len(blob) - half + 40
    second.close()
    await assert_exactly(db, lines)


async def test_a_file_replaced_while_stopped_is_read_from_the_start(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    old, new = demo_lines(20), demo_lines(25, seed=41)
    append(path, b"".join(old))
    t = tailer(db, clock, path)
    await t.poll_once()
    t.close()
    path.unlink()
    append(path, b"".join(new))
    t = tailer(db, clock, path)
    assert await t.poll_once() == 25
    t.close()
    await assert_exactly(db, old + new)


async def test_two_files_at_once(db: Database, clock, tmp_path: Path) -> None:
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    lines_a, lines_b = demo_lines(50, seed=51), demo_lines(70, seed=52)
    t = tailer(db, clock, tmp_path / "*.ndjson")
    rng = random.Random(3)
    queue_a, queue_b = list(lines_a), list(lines_b)
    while queue_a or queue_b:
        for path, queue in ((a, queue_a), (b, queue_b)):
            take = rng.randint(0, 9)
            if queue and take:
                append(path, b"".join(queue[:take]))
                del queue[:take]
        await t.poll_once()
    t.close()
    await assert_exactly(db, lines_a + lines_b)
    assert [(s.path, s.events_stored) for s in await file_stats(db)] == [(str(a), 50), (str(b), 70)]


async def test_two_tailers_on_one_file_never_double_count(db_path: Path | str, tmp_path: Path, clock) -> None:
    """Two engine processes following the same file: the offset is a compare-and-set."""
    path = tmp_path / "e.ndjson"
    lines = demo_lines(400)
    one, two = await open_database(db_path), await open_database(db_path)
    try:
        t1, t2 = tailer(one, clock, path, batch_lines=7), tailer(two, clock, path, batch_lines=5)
        for start in range(0, 400, 37):
            append(path, b"".join(lines[start:start + 37]))
            await asyncio.gather(t1.poll_once(), t2.poll_once())
        await t1.poll_once()
        await t2.poll_once()
        t1.close()
        t2.close()
        await assert_exactly(one, lines)
        stats = await stats_for(one, path)
        assert stats.events_stored == 400
    finally:
        await one.close()
        await two.close()


async def test_a_failed_commit_stores_nothing_and_the_next_poll_stores_everything_once(
        db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    lines = demo_lines(120)
    append(path, b"".join(lines))
    # Make the session update of the batch fail after its events were inserted.
    victim = orjson.loads(lines[60])["data"]["workSessionId"]
    fail_sessions_insert(db.path, victim)
    t = tailer(db, clock, path)
    with pytest.raises(db.Error, match="disk on fire"):
        await t.poll_once()
    assert stored_hashes(db.path) == []  # events, sessions and offset: all or nothing
    assert (await stats_for(db, path)).read_offset == 0
    stop_failing(db.path)
    assert await t.poll_once() == 120
    t.close()
    await assert_exactly(db, lines)


# -- bad lines -------------------------------------------------------------------------------


BAD_LINES = {
    "invalid_json": [b'{"type": "a2a.send", "ts": 1}x\n', b"{not json\n"],
    "invalid_utf8": [b'{"type": "a2a.send", "ts": 1767225600000, "data": {"message": "\xff\xfe"}}\n'],
    "not_object": [b"[1, 2, 3]\n", b'"just a string"\n', b"42\n", b"null\n"],
    "missing_type": [b'{"ts": 1767225600000}\n', b'{"type": "", "ts": 1767225600000}\n',
                     b'{"type": 7, "ts": 1767225600000}\n'],
    "missing_ts": [b'{"type": "a2a.send"}\n', b'{"type": "a2a.send", "ts": "yesterday"}\n',
                   b'{"type": "a2a.send", "ts": true}\n'],
    "too_long": [b'{"type": "a2a.send", "ts": 1767225600000, "data": {"message": "' + b"x" * 5000 + b'"}}\n'],
}


async def test_every_kind_of_bad_line_is_counted_and_its_neighbours_kept(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    good = demo_lines(40)
    bad = [(reason, line) for reason, group in BAD_LINES.items() for line in group]
    random.Random(5).shuffle(bad)
    written: list[bytes] = []
    for index, line in enumerate(good):
        written.append(line)
        if index % 2 == 0 and bad:
            written.append(bad.pop()[1])
        if index % 7 == 0:
            written.append(b"\n   \n")  # blank lines: neither events nor errors
    written.extend(line for _, line in bad)
    append(path, b"".join(written))
    # Small blocks, so that the long line spans many reads and is skipped, never held.
    t = tailer(db, clock, path, max_line_bytes=1024, block_bytes=256)
    assert await t.poll_once() == 40
    t.close()
    await assert_exactly(db, good)
    stats = await stats_for(db, path)
    assert stats.bad_by_reason == {reason: len(group) for reason, group in BAD_LINES.items()}
    assert stats.bad_lines == sum(len(group) for group in BAD_LINES.values())
    last_bad = max(i for i, line in enumerate(written) if line.strip() and not isinstance(parse_line(line, max_line_bytes=1024), Event))
    assert stats.last_bad_offset == sum(len(line) for line in written[:last_bad])
    assert stats.last_bad_reason == parse_line(written[last_bad], max_line_bytes=1024).reason.value  # type: ignore[union-attr]


async def test_an_over_long_line_is_skipped_across_polls_and_restarts(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    before, after = demo_lines(3), demo_lines(4, seed=61)
    append(path, b"".join(before) + b'{"type": "a2a.send", "data": "' + b"y" * 3000)
    t = tailer(db, clock, path, max_line_bytes=1000, block_bytes=512)
    assert await t.poll_once() == 3
    stats = await stats_for(db, path)
    assert stats.bad_by_reason == {"too_long": 1}  # counted once, before its newline arrived
    assert stats.read_offset == os.path.getsize(path)  # its bytes were consumed, not kept
    t.close()
    append(path, b"z" * 5000)  # more of the same line, while no tailer runs
    t = tailer(db, clock, path, max_line_bytes=1000, block_bytes=512)
    assert await t.poll_once() == 0
    append(path, b'"}\n' + b"".join(after))
    assert await t.poll_once() == 4
    t.close()
    await assert_exactly(db, before + after)
    assert (await stats_for(db, path)).bad_by_reason == {"too_long": 1}


def test_parse_line_names_each_reason() -> None:
    for reason, group in BAD_LINES.items():
        for line in group:
            parsed = parse_line(line, max_line_bytes=1024)
            assert isinstance(parsed, BadLine) and parsed.reason.value == reason, line[:60]


# -- the watcher -------------------------------------------------------------------------------


async def test_run_follows_appends_through_the_watcher_and_stops_cleanly(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "later.ndjson"  # does not exist when the tailer starts
    lines = demo_lines(30)
    # A long stat interval: only the watcher can make these arrive in time.
    t = tailer(db, clock, path, stat_interval=60.0)
    seen: list[EventBatch] = []
    t.subscribe(seen.append)
    stop = asyncio.Event()
    task = asyncio.create_task(t.run(stop))
    try:
        await asyncio.sleep(0.2)  # let the watcher start on the directory
        started = time.monotonic()
        for line in lines:
            append(path, line)
            await asyncio.sleep(0.005)
        await async_wait_until(lambda: sum(b.count for b in seen) == 30, timeout=10,
                               message=lambda: f"{sum(b.count for b in seen)} of 30 events published")
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert task.exception() is None
    await assert_exactly(db, lines)
    assert [b.first_id for b in seen] == sorted(b.first_id for b in seen)
    assert seen[0].first_id == 1 and seen[-1].last_id == 30


async def test_unsubscribe_and_a_broken_subscriber(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    t = tailer(db, clock, path)
    got: list[EventBatch] = []

    def broken(batch: EventBatch) -> None:
        raise RuntimeError("subscriber bug")

    t.subscribe(broken)
    unsubscribe = t.subscribe(got.append)
    append(path, b"".join(demo_lines(3)))
    assert await t.poll_once() == 3  # the broken subscriber did not stop the batch
    unsubscribe()
    append(path, b"".join(demo_lines(2, seed=9)))
    await t.poll_once()
    t.close()
    assert [(b.first_id, b.last_id, b.count) for b in got] == [(1, 3, 3)]
    assert got[0].as_dict()["session_ids"] == list(got[0].session_ids)


# -- bulk ingest by worker processes -------------------------------------------------------------


def bulk_tailer(db: Database, clock: FrozenClock, path: Path, **kwargs) -> Tailer:
    """Bulk mode from 64 KiB of backlog, in 24 KiB chunks: many chunks from a small file."""
    return tailer(db, clock, path, bulk_min_bytes=64 << 10, bulk_chunk_bytes=24 << 10, **kwargs)


# The bulk workers are sqlite3 connections (their checkpoint, the WAL file):
# PostgreSQL never takes this path.
@pytest.mark.sqlite_only
async def test_bulk_ingest_stores_what_one_process_stores(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    lines = demo_lines(2500)
    bad = [line for group in BAD_LINES.values() for line in group if len(line) < 1000]
    written = list(lines)
    for index, line in enumerate(bad):
        written.insert(100 + index * 211, line)
    partial = demo_lines(1, seed=99)[0]
    append(path, b"".join(written) + partial[:50])
    t = bulk_tailer(db, clock, path)
    published: list[EventBatch] = []
    t.subscribe(published.append)
    assert await t.poll_once() == 2500
    assert t.batches > 20 and sum(b.count for b in published) == 2500
    assert [b.first_id for b in published if b.count] == sorted(b.first_id for b in published if b.count)
    await assert_exactly(db, lines)
    stats = await stats_for(db, path)
    assert stats.read_offset == len(b"".join(written))  # the partial line is held back
    assert stats.bad_lines == len(bad) and stats.lines_read == len(written)
    assert t.checkpointed.wait(10)  # the WAL the workers left is copied back and truncated
    assert Path(f"{db.path}-wal").stat().st_size < 1 << 20
    append(path, partial[50:])
    assert await t.poll_once() == 1
    t.close()
    await assert_exactly(db, lines + [partial])
    single = await Database.open(tmp_path / "single.db")
    try:
        await tailer(single, clock, path, bulk_workers=0).poll_once()
        assert await session_oracle.stored_session_summaries(single) == await session_oracle.stored_session_summaries(db)
    finally:
        await single.close()


@pytest.mark.sqlite_only  # bulk workers: SQLite only, as above
async def test_a_failing_bulk_chunk_rolls_back_alone(db: Database, clock, tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    lines = demo_lines(2000)
    append(path, b"".join(lines))
    victim = orjson.loads(lines[1500])["data"].get("workSessionId") or "none"
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute(f"""CREATE TRIGGER fail_once BEFORE INSERT ON sessions WHEN NEW.id = '{victim}'
                         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END""")
        conn.commit()
    t = bulk_tailer(db, clock, path)
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        await t.poll_once()  # the worker fails, then the in-process path fails the same way
    stored = stored_hashes(db.path)
    assert 0 < len(stored) < 1500 and len(stored) == len(set(stored))
    offset = (await stats_for(db, path)).read_offset
    assert valid_hashes(lines) >= set(stored) and b"".join(lines)[offset - 1:offset] == b"\n"
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute("DROP TRIGGER fail_once")
        conn.commit()
    assert await t.poll_once() == 2000 - len(stored)
    t.close()
    await assert_exactly(db, lines)
