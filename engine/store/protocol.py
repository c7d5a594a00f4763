"""The Backend protocol: what every store (SQLite, PostgreSQL) offers its callers.

Services and the API talk to a :class:`Backend` only. Each backend runs the
same named queries (:mod:`queuetop.engine.store.queries`): the shared text,
or a backend's own where its dialect truly differs. Which backend is in use
never shows in a caller: differences live behind these methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

Params = Mapping[str, Any] | Sequence[Any]


class Row(Protocol):
    """A result row, readable by position and by column name."""

    def __getitem__(self, key: Any) -> Any: ...

    def keys(self) -> Any: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """The result of one statement inside a transaction."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...


class Execution(Protocol):
    """What :meth:`Connection.execute` returns: await it, or use it with ``async with``."""

    def __await__(self) -> Any: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(self, *exc: Any) -> Any: ...


class Connection(Protocol):
    """The connection a transaction hands out: statements run inside that transaction."""

    #: Whether each statement is a round trip to a server (PostgreSQL): set-based work then goes as one
    #: statement, and a statement alone commits in its own trip. Without it (SQLite) statements are calls
    #: on the connection's thread, and a transaction's steps go there together (``run_steps``).
    statements_are_trips: bool

    def execute(self, sql: str, parameters: Params = ..., /) -> Any: ...

    async def execute_fetchall(self, sql: str, parameters: Params = ..., /) -> Iterable[Any]:
        """Run ``sql`` and return all its rows at once: on SQLite one trip to the connection's
        thread instead of three (execute, fetch, close), which the hot path counts."""
        ...

    async def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...


@runtime_checkable
class Backend(Protocol):
    """One open queuetop database.

    ``transaction`` is the only way to write: one transaction, serialised
    against every other writer (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL row
    locks). Reads (``fetchall``, ``fetchone``, ``scalar``) see committed data.
    ``data_version`` changes whenever any connection of any process commits:
    the cheap poll the TUI uses to notice other processes. ``write_once`` is
    a transaction whose statements are all known before the first is sent
    (nothing is decided between them): PostgreSQL sends them with their
    BEGIN and COMMIT and has them answered in one round trip; its
    ``settings`` (PostgreSQL's ``SET LOCAL …``, which SQLite has none of)
    hold for the transaction.
    """

    #: ``"sqlite"`` or ``"postgres"``: for messages and tests, never for branching in callers.
    dialect: str
    #: Whether each statement is a round trip to a server (PostgreSQL): set-based work then goes as one
    #: statement, and a statement alone commits in its own trip. Without it (SQLite) statements are calls
    #: on the connection's thread, and a transaction's steps go there together (``run_steps``).
    statements_are_trips: bool
    #: Whether a transaction opened with ``wake=True`` in any process wakes
    #: this one's idle workers (PostgreSQL's NOTIFY). Without it, idle
    #: workers must poll to see other processes' submits.
    wakes_across_processes: bool
    #: Whether write transactions on separate connections run at once
    #: (PostgreSQL) rather than one after another (SQLite's single writer).
    concurrent_writes: bool
    #: Where the database is: a file path or a URL (passwords are never logged from it).
    path: Any
    #: The driver's base error and integrity error: what callers catch, on any backend.
    Error: type[Exception]
    IntegrityError: type[Exception]
    #: A value the database refuses (text it cannot hold, a number out of range):
    #: the data's fault, not the database's, so retrying the same write never helps.
    DataError: type[Exception]

    def transaction(self, *, wake: bool = False, bulk: bool = False) -> AbstractAsyncContextManager[Any]: ...

    async def write_once(self, statements: Sequence[tuple[str, Params | None]], *,
                         settings: Sequence[str] = ()) -> list[Any]: ...

    async def fetchall(self, sql: str, params: Params = ...) -> list[Any]: ...

    async def fetchone(self, sql: str, params: Params = ...) -> Any: ...

    async def scalar(self, sql: str, params: Params = ...) -> Any: ...

    async def data_version(self) -> int: ...

    def on_notify(self, callback: Callable[[], None]) -> None: ...

    async def close(self) -> None: ...


__all__ = ["AsyncIterator", "Backend", "Connection", "Cursor", "Execution", "Params", "Row"]
