"""Committing a batch of parsed events: one transaction, the same statements everywhere.

A batch's transaction inserts its events (each stored once: a hash of type,
agent, ts and data is unique), folds them into the work sessions and threads
they touch, counts bad lines, and moves the file's saved offset with a
compare-and-set. :func:`commit_steps` writes that once as typed steps
(:mod:`queuetop.engine.events.steps`); the tailer runs them on its engine
connection and bulk-ingest processes on their own sqlite3 connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queuetop.engine.events.follow import Batch
from queuetop.engine.events.parse import BadReason
from queuetop.engine.events.sessions import SessionDeltas
from queuetop.engine.events.steps import Execute, ExecuteMany, FetchRows, FetchValue, Steps
from queuetop.engine.store import queries

SQL = queries.load("events")


class StaleOffset(Exception):
    """Another process moved this file's offset on: drop the batch and reload."""


@dataclass(frozen=True)
class Committed:
    """What a committed batch did (sent back by bulk workers, so plain and picklable)."""

    first_id: int | None
    last_id: int | None
    inserted: int
    duplicates: int
    bad: int
    lines: int
    nbytes: int
    end: int
    skipping: bool
    session_ids: tuple[str, ...]


def commit_steps(file_id: int, batch: Batch, *, expect: tuple[int, int], generation: int,
                  identity: dict[str, Any], reset: str | None, now: float,
                  deltas: SessionDeltas | None = None) -> Steps[Committed]:
    """The statements of one batch's transaction, as a generator that is sent each result.

    Free of any connection, so the tailer runs it on aiosqlite and bulk
    workers on sqlite3. The caller holds the transaction. ``deltas`` may be
    folded in advance from all the batch's rows (a bulk worker does that
    while it waits for its turn to commit); it is used only if every row
    turns out to be new.
    """
    rows = batch.rows
    if deltas is None or not rows:
        deltas = SessionDeltas()
    folded = bool(deltas.sessions)
    first_id = last_id = None
    inserted = 0
    if rows:
        before = yield FetchValue(SQL["max_event_id"], {})
        if batch.staged:
            inserted = yield Execute(SQL["insert_staged_events"], {"file_id": file_id, "now": now})
        else:
            inserted = yield ExecuteMany(SQL["insert_event"], rows)
        if inserted:
            after = yield FetchValue(SQL["max_event_id"], {})
            if inserted == len(rows) and after == before + inserted:
                # Every row was new, so ids were handed out in order without gaps.
                if not folded:
                    deltas.add_rows(rows)
            else:
                # Some were already stored: find which rows made it, in id order.
                deltas = SessionDeltas()
                by_hash = {row["hash"]: row for row in rows}
                new = yield FetchRows(SQL["inserted_since"], {"after_id": before})
                deltas.add_rows(by_hash[digest] for _, digest in new)
            first_id, last_id = before + 1, after
            for statement in deltas.statements(now):
                yield statement
    last_bad = batch.bad[-1] if batch.bad else None
    if batch.bad:
        counts: dict[BadReason, list[int]] = {}
        for reason, offset in batch.bad:
            entry = counts.setdefault(reason, [0, offset])
            entry[0] += 1
            entry[1] = offset
        yield ExecuteMany(SQL["count_bad_line"], [
            {"file_id": file_id, "reason": reason.value, "count": n, "last_offset": offset, "now": now}
            for reason, (n, offset) in counts.items()])
    changed = yield Execute(SQL["update_file"], {
        "id": file_id, "expect_offset": expect[0], "expect_generation": expect[1],
        "read_offset": batch.end, "skipping": int(batch.skipping), "generation": generation, **identity,
        "lines": batch.lines, "bytes": batch.nbytes, "stored": inserted, "duplicates": len(rows) - inserted,
        "bad": len(batch.bad), "last_bad_offset": last_bad[1] if last_bad else None,
        "last_bad_reason": last_bad[0].value if last_bad else None, "reset_reason": reset, "now": now})
    if changed != 1:
        raise StaleOffset(file_id)
    return Committed(first_id, last_id, inserted, len(rows) - inserted, len(batch.bad), batch.lines, batch.nbytes,
                 batch.end, batch.skipping, deltas.session_ids)
