"""Opening queuetop's SQLite database: pragmas, schema, migrations, access.

The file is created readable by its owner only. Fresh databases get
``schema.sql`` whole; older ones are brought forward by the numbered files in
``migrations/``. ``PRAGMA application_id`` marks the file as queuetop's and
``PRAGMA user_version`` holds the schema version: a file that is someone
else's, or that a newer queuetop wrote, is refused and never modified.

Runtime access goes through :class:`Database`: one aiosqlite connection for
writes, serialised by an asyncio lock so that one coroutine's ``BEGIN
IMMEDIATE`` transaction never interleaves with another's, and one for reads,
which WAL lets run beside a writer.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from queuetop.engine.model.exceptions import DatabaseError

APPLICATION_ID = 0x51544F50  # "QTOP"
BUSY_TIMEOUT_MS = 10_000
_MIGRATION = re.compile(r"^(\d{4})_\w+\.sql$")

Params = Mapping[str, Any] | Sequence[Any]


# schema.sql and migrations/ lie beside this module (package data in a wheel,
# the repository's files in an editable install); they are read by path, as
# importlib.resources would cost every CLI call more to import than this.
_HERE = Path(__file__).parent


def _migrations() -> list[tuple[int, str]]:
    """(version, sql) for every file in migrations/, in order."""
    found = []
    folder = _HERE / "migrations"
    if not folder.is_dir():  # no migration shipped yet
        return []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    return sorted(found)


def schema_sql() -> str:
    """The current schema, from schema.sql (wheel copy or the repository file)."""
    return (_HERE / "schema.sql").read_text("utf-8")


def schema_version() -> int:
    """The version a fresh database gets: the newest migration's number, or 1."""
    versions = [version for version, _ in _migrations()]
    return max(versions, default=1)


# Per-connection settings every queuetop connection runs with.
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
)


def configure(conn: sqlite3.Connection) -> None:
    """Apply :data:`PRAGMAS` to a plain sqlite3 connection."""
    for pragma in PRAGMAS:
        conn.execute(pragma)


def _create_private(path: Path) -> None:
    """Create an empty file that only its owner can read and write."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # an existing file is used as it is (prepare has refused a folder)
    except OSError as exc:
        raise DatabaseError(f"cannot create database {path}: {exc.strerror or exc}") from None
    os.close(fd)


def prepare(path: str | os.PathLike[str], create: bool = True) -> None:
    """Make ``path`` a current queuetop database, creating it if needed.

    ``create=False`` (a command that only reads) refuses a file without
    queuetop's tables, an empty one included, and writes nothing to it.

    Raises :class:`DatabaseError` for a file that is not queuetop's or that a
    newer queuetop wrote; such a file is left exactly as it was.

    Several processes may start on one new file together. Switching it to
    WAL can fail with "database is locked" without SQLite's busy handler
    being consulted, so that step is retried until ``BUSY_TIMEOUT_MS``.
    """
    path = Path(path)
    if path.is_dir():  # for a read command too: SQLite would only say "unable to open database file"
        raise DatabaseError(f"cannot use {path} as a database: it is a folder")
    if create:
        _create_private(path)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return _prepare(path, create)
        except _Busy:
            if time.monotonic() > deadline:
                raise DatabaseError(f"{path}: database is locked (another process holds it)") from None
            time.sleep(0.05)  # another process is creating or converting the file


class _Busy(Exception):
    """The file was locked by another process at a step SQLite does not wait for."""


def wal_files_can_be_made(path: Path) -> bool:
    """Whether a reader can open ``path`` in WAL mode: its folder is writable, or both side files exist."""
    return os.access(path.parent, os.W_OK) or all(Path(f"{path}{side}").exists() for side in ("-wal", "-shm"))


def _prepare(path: Path, create: bool) -> None:
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from None
    try:
        configure(conn)
        current = _check(conn, path)  # before anything writes, WAL switch included
        if current == 0 and not create:  # a read command must not make a database of the file
            what = "is empty" if path.stat().st_size == 0 else "has no tables"
            raise DatabaseError(f"no database at {path} (the file {what})")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise DatabaseError(f"{path}: cannot switch to WAL mode (got {mode})")
        if current == schema_version():
            return  # nothing to do: opening a current database writes nothing
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _check(conn, path)  # again, now that we hold the write lock
            target = schema_version()
            if version == 0:
                for statement in _statements(schema_sql()):
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            else:
                for number, sql in _migrations():
                    if number > version:
                        for statement in _statements(sql):
                            conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise _Busy() from None
        if (("unable to open" in str(exc) or "readonly database" in str(exc)) and path.exists()
                and not wal_files_can_be_made(path)):
            raise DatabaseError(f"cannot open {path}: SQLite cannot make {path.name}-wal and {path.name}-shm beside "
                                f"it (a WAL database needs them, even to read): is {path.parent} read-only?") from None
        raise DatabaseError(f"{path} is not a usable queuetop database: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path} is not a usable queuetop database: {exc}") from None
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version (0 for empty); refuse foreign or newer files."""
    # One statement, one snapshot: read apart, another process's commit could
    # land between them and make a new queuetop file look like someone else's.
    app_id, version, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_master)"
    ).fetchone()
    if app_id == 0 and tables == 0 and version == 0:
        return 0
    if app_id != APPLICATION_ID:
        raise DatabaseError(f"{path} is not a queuetop database (it has other tables)")
    if version > schema_version():
        raise DatabaseError(
            f"{path} was written by a newer queuetop (schema v{version}, this one "
            f"knows v{schema_version()}); upgrade queuetop, the file was left untouched"
        )
    return version


def _statements(script: str) -> Iterable[str]:
    """Split a script into statements (sqlite3.complete_statement aware)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement.strip(";").strip():
                yield statement
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise DatabaseError("schema script ends in an incomplete statement")


class Database:
    """Async access to one queuetop database file."""

    dialect = "sqlite"
    statements_are_trips = False
    wakes_across_processes = False
    concurrent_writes = False
    # What callers catch, whichever backend they run on.
    Error: type[Exception] = sqlite3.Error
    IntegrityError: type[Exception] = sqlite3.IntegrityError
    DataError: type[Exception] = sqlite3.DataError

    def __init__(self, path: Path):
        self.path = path
        # Each connection (and its thread) opens on first use: `queuetop
        # jobs` never writes and `queuetop submit` never reads apart from
        # its transaction, and a connection costs a CLI call a thread and
        # several hops to it.
        self._writer: _Connection | None = None
        self._reader: _Connection | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the writer
        self._connecting = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> "Database":
        """Prepare the file (schema, migrations); its connections open when first used.
        ``create=False`` (a command that only reads) refuses a file without queuetop's tables."""
        path = Path(path)
        await asyncio.to_thread(prepare, path, create)
        return cls(path)

    async def _connection(self, name: str) -> _Connection:
        """The ``_writer`` or ``_reader`` connection, opened now if it is not yet."""
        conn = getattr(self, name)
        if conn is None:
            async with self._connecting:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                conn = getattr(self, name)
                if conn is None:
                    conn = await _connect(self.path)
                    setattr(self, name, conn)
        return conn

    async def close(self) -> None:
        async with self._connecting:
            self._closed = True
        async with self._lock:
            if self._writer is not None:
                await self._writer.close()
        if self._reader is not None:
            await self._reader.close()

    @asynccontextmanager
    async def transaction(self, *, wake: bool = False, bulk: bool = False) -> AsyncIterator[_Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the writer connection.

        IMMEDIATE takes SQLite's write lock at the start, so two processes
        can never both read a chunk as pending and then both claim it.
        ``wake`` (the transaction makes chunks claimable) matters only on
        PostgreSQL, where it wakes idle workers elsewhere; on SQLite other
        processes' workers poll. ``bulk`` (many rows to write) matters
        only on PostgreSQL too, where it lets them be streamed with COPY.

        The ``BEGIN IMMEDIATE`` goes to the connection's thread with the
        transaction's first statement, in one trip (see :class:`_Connection`); a
        transaction that ran :meth:`_Connection.run_steps` with ``commit=True``
        has committed there too.
        """
        async with self._lock:
            writer = await self._connection("_writer")
            writer.begin_pending = True
            writer.committed = False
            try:
                yield writer
            except BaseException:
                writer.begin_pending = False
                await writer.rollback_if_open()
                raise
            else:
                if writer.begin_pending:  # nothing was run: nothing to commit
                    writer.begin_pending = False
                elif not writer.committed:
                    await writer.execute("COMMIT")

    async def write_once(self, statements: Sequence[tuple[str, Params | None]], *,
                         settings: Sequence[str] = ()) -> list[sqlite3.Row]:
        """``statements`` as one transaction that commits after the last; the last one's rows.
        One trip to the writer's thread: begin, the statements, commit. ``settings`` are
        PostgreSQL's (``SET LOCAL …``): SQLite has none of them, and a caller gives none."""
        if settings:
            raise ValueError("SQLite has no SET settings")
        if not statements:
            return []

        def steps() -> Steps:
            rows: list[sqlite3.Row] = []
            for sql, params in statements:
                rows = yield sql, params or (), True
            return rows

        async with self.transaction() as conn:
            result: list[sqlite3.Row] = await conn.run_steps(steps(), commit=True)
        return result

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query, on the reader connection."""
        reader = await self._connection("_reader")
        async with reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        reader = await self._connection("_reader")
        async with reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def data_version(self) -> int:
        """Changes when another connection (any process) commits: cheap to poll."""
        return await self.scalar("PRAGMA data_version")

    def on_notify(self, callback: Callable[[], None]) -> None:
        """Nothing to subscribe to on SQLite: other processes are polled."""


#: What :meth:`_Connection.run_steps` runs: a generator that yields ``(sql, params, fetch)``
#: and is sent each statement's rows (``fetch``) or None, and returns its result.
Steps = Generator[tuple[str, Params, bool], Any, Any]


class _Connection(aiosqlite.Connection):
    """A queuetop connection: on the writer, a transaction's ``BEGIN IMMEDIATE`` rides with its first statement.

    Each call into aiosqlite is a trip to the connection's thread and back
    (a queue put, a wake-up of the event loop through its self-pipe); on a
    drain of small jobs those trips, not SQLite, were most of a claim's and a
    settle's time. Every call goes through ``_execute``, so the BEGIN that
    :meth:`Database.transaction` leaves pending is run there, on the thread,
    before the first statement of the transaction. :meth:`run_steps` runs
    several statements that depend on each other in one trip.
    """

    statements_are_trips = False
    begin_pending = False
    committed = False

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.begin_pending:
            raw = self._conn

            def begin_first() -> Any:
                raw.execute("BEGIN IMMEDIATE")
                return fn(*args, **kwargs)

            self.begin_pending = False
            return await super()._execute(begin_first)
        return await super()._execute(fn, *args, **kwargs)

    async def rollback_if_open(self) -> None:
        """Roll back, on the thread, after whatever is still on its way there, if a transaction is open."""
        raw = self._conn

        def rollback() -> None:
            if raw.in_transaction:
                raw.execute("ROLLBACK")

        await self._execute(rollback)

    async def run_steps(self, steps: Steps, *, commit: bool | Callable[[Any], bool] = False) -> Any:
        """Run ``steps`` (see :data:`Steps`) on the connection's thread in one trip; its result.

        ``commit``: commit the transaction there too, after the last step
        (nothing may run in it afterwards); a function of the steps' result
        decides there, once they have returned it.
        """
        raw = self._conn

        def run() -> tuple[Any, bool]:
            try:
                sql, params, fetch = next(steps)
                while True:
                    cursor = raw.execute(sql, params)
                    sql, params, fetch = steps.send(cursor.fetchall() if fetch else None)
            except StopIteration as stop:
                done = commit(stop.value) if callable(commit) else commit
                if done:
                    raw.execute("COMMIT")
                return stop.value, done

        result, self.committed = await self._execute(run)
        return result


async def _connect(path: Path) -> _Connection:
    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None)

    conn = _Connection(connector, 64)
    await conn
    conn.row_factory = sqlite3.Row
    await conn.executescript(";\n".join(PRAGMAS))  # one trip to the connection's thread, not one each
    return conn
