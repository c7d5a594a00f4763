"""Typed statements of a commit: plain data, run by whoever holds the transaction.

Committing a batch of events is written once, as a generator of these steps
(:func:`queuetop.engine.events.ingest.commit_steps`), and run by
:func:`run_async` on an engine connection (SQLite or PostgreSQL) or by
:func:`run_sync` on a plain sqlite3 connection (the bulk-ingest processes).
Each step says what its result is, so the generator is sent exactly that.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One statement and its parameters."""

    sql: str
    params: Any


@dataclass(frozen=True)
class FetchValue(Step):
    """Run it; the result is the first column of its first row."""


@dataclass(frozen=True)
class FetchRows(Step):
    """Run it; the result is every row, as tuples."""


@dataclass(frozen=True)
class Execute(Step):
    """Run it once; the result is its row count."""


@dataclass(frozen=True)
class ExecuteMany(Step):
    """Run it once per parameter set in ``params``; the result is the total row count."""


Steps = Generator[Step, Any, T]


async def run_async(conn: Any, steps: Steps[T]) -> T:
    """Run commit steps on a transaction's connection (aiosqlite or PostgreSQL)."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as finished:
            return finished.value
        if isinstance(step, ExecuteMany):
            cursor = await conn.executemany(step.sql, step.params)
            reply = cursor.rowcount
            await cursor.close()
            continue
        async with conn.execute(step.sql, step.params) as cursor:
            if isinstance(step, Execute):
                reply = cursor.rowcount
            elif isinstance(step, FetchValue):
                reply = (await cursor.fetchone())[0]
            else:
                reply = [tuple(row) for row in await cursor.fetchall()]


def run_sync(conn: sqlite3.Connection, steps: Steps[T]) -> T:
    """Run commit steps on a sqlite3 connection (inside the caller's transaction)."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as finished:
            return finished.value
        if isinstance(step, ExecuteMany):
            reply = conn.executemany(step.sql, step.params).rowcount
        elif isinstance(step, Execute):
            reply = conn.execute(step.sql, step.params).rowcount
        elif isinstance(step, FetchValue):
            reply = conn.execute(step.sql, step.params).fetchone()[0]
        else:
            reply = [tuple(row) for row in conn.execute(step.sql, step.params).fetchall()]
