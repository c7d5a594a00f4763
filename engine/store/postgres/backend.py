"""The PostgreSQL backend: the same :class:`~queuetop.engine.store.sqlite.backend.Database`
interface, on psycopg 3 with a connection pool.

Selected by a ``postgresql://`` URL. Each query's PostgreSQL text comes from
:mod:`queuetop.engine.store.queries`. Write transactions send a NOTIFY at
commit (a change notice at most every ``NOTICE_EVERY`` from a process, a
wake for idle workers always); one listening connection per process turns
them into a change counter (what ``PRAGMA data_version`` is on SQLite) and
wakes idle workers instead of letting them poll. The schema is
``schema.postgres.sql``, applied under an advisory lock so that several
hosts starting at once apply it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, SupportsIndex, overload

from queuetop.engine.model.exceptions import DatabaseError
from queuetop.engine.store.queries import to_psycopg

log = logging.getLogger("queuetop.engine")

CHANNEL = "queuetop_changes"  # and a suffix naming the schema: see channel_for
_MIGRATION = re.compile(r"^(\d{4})_\w+\.sql$")
_SCHEMA_LOCK = 0x51544F50  # advisory lock key: "QTOP"
# A change notice (a commit that wakes no worker) is sent at most once per this many
# seconds from a process: a busy queue commits hundreds of claims and settles a second,
# and each NOTIFY costs the server a write to its notification queue and every listening
# process a wake-up (7 % of a drain of small jobs). One held back goes out when the
# interval is over, so a listener (the TUI looks every 0.25 s) still sees the last change.
NOTICE_EVERY = 0.1
# A statement that only sets something for its transaction (SET LOCAL …), after any comment lines.
_SETTING = re.compile(r"^(?:\s*--[^\n]*\n)*\s*SET\s", re.IGNORECASE)
# Its LOCAL, dropped to make it a setting of the session (see write_once).
_LOCAL = re.compile(r"^((?:\s*--[^\n]*\n)*\s*SET\s+)LOCAL\s+", re.IGNORECASE)

try:
    import psycopg
    import psycopg_pool
except ImportError:  # the optional extra is not installed: _require_driver says so
    _HAVE_DRIVER = False
else:
    _HAVE_DRIVER = True


def _require_driver() -> None:
    if not _HAVE_DRIVER:
        raise DatabaseError("PostgreSQL support needs the postgres extra: pip install 'queuetop[postgres]'")


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like sqlite3.Row."""

    _columns: "_Columns"  # shared by every row of one result

    def __new__(cls, values: Sequence[Any], columns: "_Columns") -> "Row":
        row = super().__new__(cls, values)
        row._columns = columns
        return row

    @overload
    def __getitem__(self, key: SupportsIndex | str) -> Any: ...

    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...

    def __getitem__(self, key: SupportsIndex | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._columns.index[key])
            except KeyError:
                raise IndexError(f"no column {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._columns.names)


class _Columns:
    """A result's column names, and where each name is first found (as sqlite3.Row looks them up)."""

    __slots__ = ("names", "index")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index: dict[str, int] = {}
        for position, name in enumerate(names):
            self.index.setdefault(name, position)


async def _row(cursor: Any) -> tuple[Any, ...]:
    """The one row a statement that always answers returned."""
    row = await cursor.fetchone()
    if row is None:
        raise DatabaseError("PostgreSQL returned no row where one was certain")
    return tuple(row)


async def _one(cursor: Any) -> Any:
    """The one value a statement that always answers returned."""
    return (await _row(cursor))[0]


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    columns = _Columns(tuple(column.name for column in cursor.description or ()))
    return lambda values: Row(values, columns)


def _text(sql: str) -> str:
    """A query's PostgreSQL text: its own, or a plain statement's, converted."""
    return getattr(sql, "postgres", None) or to_psycopg(sql)


async def _roll_back(conn: Any) -> None:
    """End a failed transaction: out of the pipeline's aborted state, then ROLLBACK; psycopg
    also forgets the statements it prepared in the transaction. A connection that cannot even
    do that (the server went away, a cancel cut a reply short) is left to the pool, which drops
    one it gets back mid-transaction; the caller raises the first error."""
    try:
        await conn.rollback()
    except Exception:
        pass


def _changed_rows(cursor: Any) -> bool:
    """Whether the statement ``cursor`` ran may have changed a row: "UPDATE 0", "SELECT 0" (a
    claim that found no work is a WITH … SELECT) changed nothing; anything else may have."""
    return not (cursor.statusmessage or "").endswith(" 0")


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> Row | None:
        return await self._cursor.fetchone() if self._cursor.description else None

    async def fetchall(self) -> list[Row]:
        return await self._cursor.fetchall() if self._cursor.description else []

    async def close(self) -> None:
        await self._cursor.close()


class _Execution:
    """What ``conn.execute`` returns: awaitable, and usable with ``async with``."""

    def __init__(self, owner: "_Connection", sql: str, params: Any) -> None:
        self._run = self._execute(owner, sql, params)

    @staticmethod
    async def _execute(owner: "_Connection", sql: str, params: Any) -> _Cursor:
        text = _text(sql)
        cursor = owner.conn.cursor(row_factory=_row_factory)
        await cursor.execute(text, params or None)
        if _SETTING.match(text):
            # A setting for the transaction (the claim's plan): it answers
            # nothing and changes no row, so it goes with the next statement.
            return _Cursor(cursor)
        if owner.pipeline is not None:
            await owner.pipeline.sync()  # its answer, and any error, now: as without a pipeline
        if _changed_rows(cursor):
            owner.changed = True
        return _Cursor(cursor)

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> _Cursor:
        return await self._run

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Connection:
    """One pooled connection inside a transaction, with aiosqlite's calls."""

    statements_are_trips = True  # what claims.settle_in asks: a settle is then one statement

    def __init__(self, conn: Any, pipeline: Any) -> None:
        self.conn = conn
        self.pipeline = pipeline
        self.changed = False  # did any statement touch a row (then the commit notifies)
        # COPY cannot run in a pipeline: only a bulk transaction (none) offers it
        self.copy_rows = self._copy_rows if pipeline is None else None

    async def _copy_rows(self, sql: str, text: str) -> None:
        """Stream ``text`` (rows in COPY's text format) into ``sql`` (a ``COPY … FROM STDIN``): the
        server inserts the rows as they arrive, with no statement to plan nor array to unpack."""
        self.changed = True
        async with self.conn.cursor().copy(_text(sql)) as copy:
            await copy.write(text)

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> _Execution:
        return _Execution(self, sql, params)

    async def execute_fetchall(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[Row]:
        """Run ``sql`` and return every row (aiosqlite's call of that name)."""
        async with self.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def executemany(self, sql: str, params: Iterable[Mapping[str, Any]]) -> _Cursor:
        """Run ``sql`` once per parameter set; the cursor's rowcount is their total, as on aiosqlite."""
        self.changed = True
        cursor = self.conn.cursor()
        await cursor.executemany(_text(sql), list(params))
        if self.pipeline is not None:
            await self.pipeline.sync()
        return _Cursor(cursor)


class PostgresDatabase:
    """Async access to one queuetop schema in a PostgreSQL database."""

    dialect = "postgres"
    statements_are_trips = True
    wakes_across_processes = True
    concurrent_writes = True
    Error: type[Exception] = Exception
    IntegrityError: type[Exception] = Exception
    DataError: type[Exception] = Exception

    def __init__(self, url: str, pool: Any, channel: str = CHANNEL) -> None:
        self.path = url
        self._pool = pool
        self._channel = channel
        self._version = 0
        self._listener: asyncio.Task[None] | None = None
        self._notified: list[Callable[[], None]] = []
        self._noticed_at = -NOTICE_EVERY  # event-loop time of this process's last notice
        self._owed = False  # a held change committed and its notice not yet sent (see _notice_owed)
        self._owed_task: asyncio.Task[None] | None = None
        # settings -> a pool whose connections hold them (see write_once)
        self._setting_pools: dict[tuple[str, ...], Any] = {}
        self.Error = psycopg.Error
        self.IntegrityError = psycopg.IntegrityError
        self.DataError = psycopg.DataError

    @classmethod
    async def open(cls, url: str, *, create: bool = True) -> "PostgresDatabase":
        """Open the schema ``url`` names, creating or upgrading its tables; ``create=False`` (a
        command that only reads) refuses a schema without them instead of creating them."""
        _require_driver()
        pool = None
        try:
            await _prepare(url, create)
            pool = psycopg_pool.AsyncConnectionPool(url, min_size=1, max_size=8, open=False,
                                                    kwargs={"autocommit": True})
            await pool.open(wait=True, timeout=10)
            async with pool.connection() as conn:
                schema = await _one(await conn.execute("SELECT current_schema()"))
        except BaseException as exc:
            # An error or a cancel (Ctrl+C) must not leave the pool's tasks running: the
            # event loop's shutdown would wait for them for good.
            if pool is not None:
                await pool.close()
            if not isinstance(exc, psycopg.Error):
                raise
            if exc.sqlstate == "3F000":  # invalid_schema_name: search_path names no schema that exists
                raise DatabaseError(await _missing_schema_message(url)) from None
            raise DatabaseError(f"cannot use PostgreSQL database: {exc}".splitlines()[0]) from None
        db = cls(url, pool, channel_for(schema))
        db._listener = asyncio.create_task(db._listen(), name="pg-listen")
        return db

    async def close(self) -> None:
        if self._owed_task is not None and not self._owed_task.done():
            self._owed_task.cancel()
            await self._send_notice()  # the last change, now rather than never
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
        for pool in self._setting_pools.values():
            await pool.close()
        await self._pool.close()

    @property
    def channel(self) -> str:
        """The NOTIFY channel every process on this schema commits its notices to."""
        return self._channel

    def on_notify(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever any process makes chunks claimable."""
        self._notified.append(callback)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.path, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self._channel}")  # a fixed prefix and hex digits
                    delay = 0.5
                    await self._receive(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server went away: listen again, with back-off
                log.warning("PostgreSQL listener lost (%s); reconnecting in %.1fs", exc, delay)
                self._version += 1  # whatever happened meanwhile, readers must look again
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)

    async def _receive(self, conn: Any) -> None:
        """Hand on notifications as the socket delivers them, until the connection fails.

        Waits on the socket itself: psycopg's ``notifies()`` wakes ten times
        a second to look, which alone kept an idle engine over 1 % of a core.
        """
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        fd = conn.fileno()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                conn.pgconn.consume_input()  # raises once the server is gone
                while (note := conn.pgconn.notifies()) is not None:
                    self._version += 1
                    if note.extra == b"wake":
                        for callback in list(self._notified):
                            callback()
        finally:
            loop.remove_reader(fd)

    @asynccontextmanager
    async def transaction(self, *, wake: bool = False, bulk: bool = False) -> AsyncIterator[_Connection]:
        """One transaction; if it touched a row, every listening process is told (see NOTICE_EVERY).

        ``wake`` marks a transaction that made chunks claimable: only those
        wake idle workers, so a busy queue's settles do not stir them.

        The transaction runs in a pipeline: its BEGIN (and a setting such as
        the claim's plan) goes with its first statement, and the NOTIFY with
        its COMMIT, in one round trip each; every statement in between is
        answered before the caller goes on, as without one. A claim or a
        settle is then two round trips. BEGIN and COMMIT are sent as
        statements of the pipeline: psycopg's transaction block syncs the
        pipeline on its way in and out, and the pipeline's end syncs again,
        which made three more round trips of every transaction, and most of
        the engine's CPU per transaction.

        ``bulk`` (many rows to write): no pipeline, so that the connection's
        ``copy_rows`` may stream them with COPY, which a pipeline refuses;
        the round trips it saves are nothing beside thousands of rows.
        """
        async with self._pool.connection() as conn:
            async with (nullcontext() if bulk else conn.pipeline()) as pipeline:
                await conn.execute("BEGIN")  # in a pipeline, queued: sent with the first statement
                wrapped = _Connection(conn, pipeline)
                try:
                    yield wrapped
                except BaseException:
                    await _roll_back(conn)
                    raise
                # A transaction that touched nothing (an idle worker's claim)
                # tells nobody: every listener would re-read for nothing. One that
                # changed rows but wakes no worker may leave its notice to a later one.
                now = asyncio.get_running_loop().time()
                hold = not wake and wrapped.changed and now - self._noticed_at < NOTICE_EVERY
                if wake or (wrapped.changed and not hold):
                    await conn.execute("SELECT pg_notify(%s, %s)", (self._channel, "wake" if wake else ""))
                    self._noticed_at = now
                await conn.execute("COMMIT")
            # the pipeline's end sent the NOTIFY and the COMMIT, and raised their error if any
        if hold:  # committed: its notice is owed from here on
            self._owe_notice()

    async def write_once(self, statements: Sequence[tuple[str, Any]], *,
                         settings: Sequence[str] = ()) -> list[Row]:
        """``statements`` as one transaction that commits after the last; the last one's rows.

        One statement runs alone, in autocommit: it is its own transaction.
        Several go in one pipeline, BEGIN first and COMMIT last, and its end
        syncs once. Either way every answer comes back in one round trip (a
        transaction of :meth:`transaction` takes two: a statement is answered
        before the caller goes on). A worker's claim and its settles of
        completed chunks are such transactions.

        ``settings`` (``SET LOCAL …``: the claim's plan and durability) are
        set once, for the session, on connections of a small pool kept for
        transactions that ask for the same ones, instead of three more
        statements in every transaction. A claim is then one statement:
        the drain of small jobs (concurrency 64) went from about 11,600 to
        14,100 a second.

        Its change notice is always held (see NOTICE_EVERY): whether it
        changed a row is known only once it has committed.
        """
        if not statements:
            return []
        texts = [_text(sql) for sql, _ in statements]
        pool = await self._pool_with(tuple(settings)) if settings else self._pool
        async with pool.connection() as conn:
            cursors = []
            try:
                if len(statements) == 1:
                    cursor = conn.cursor(row_factory=_row_factory)
                    await cursor.execute(texts[0], statements[0][1] or None)
                    cursors.append(cursor)
                else:
                    async with conn.pipeline():
                        await conn.execute("BEGIN")
                        for text, (_, params) in zip(texts, statements):
                            cursor = conn.cursor(row_factory=_row_factory)
                            await cursor.execute(text, params or None)
                            cursors.append(cursor)
                        await conn.execute("COMMIT")
                    # the pipeline's end sent it all and read every answer, or raised the first error
            except BaseException:
                await _roll_back(conn)
                raise
            last = cursors[-1]
            rows: list[Row] = await last.fetchall() if last.description else []
            changed = any(_changed_rows(cursor) for cursor in cursors)
        if changed:
            self._owe_notice()
        return rows

    async def _pool_with(self, settings: tuple[str, ...]) -> Any:
        """The pool whose connections hold ``settings`` for their whole session (see write_once)."""
        pool = self._setting_pools.get(settings)
        if pool is None:
            session = [_LOCAL.sub(r"\1", _text(setting), count=1) for setting in settings]

            async def configure(conn: Any) -> None:
                for setting in session:
                    await conn.execute(setting)

            pool = psycopg_pool.AsyncConnectionPool(self.path, min_size=1, max_size=2, open=False,
                                                    kwargs={"autocommit": True}, configure=configure)
            try:
                await pool.open(wait=True, timeout=10)
            except BaseException:
                await pool.close()
                raise
            # another caller may have made one meanwhile: keep the first
            if settings in self._setting_pools:
                await pool.close()
            else:
                self._setting_pools[settings] = pool
        return self._setting_pools[settings]

    def _owe_notice(self) -> None:
        """A committed change is told by a notice sent from here on (see _notice_owed)."""
        self._owed = True
        if self._owed_task is None or self._owed_task.done():
            self._owed_task = asyncio.create_task(self._notice_owed(), name="pg-notice")

    async def _notice_owed(self) -> None:
        """Send the notice held transactions owe once NOTICE_EVERY is over since the last one, and
        again while more come to be owed meanwhile.

        Only a notice sent after a change committed tells of it: one that a
        transaction on another connection sent meanwhile may have gone out
        before the held commit did, so it does not settle the debt.
        """
        loop = asyncio.get_running_loop()
        while self._owed:
            await asyncio.sleep(max(0.0, self._noticed_at + NOTICE_EVERY - loop.time()))
            self._owed = False
            await self._send_notice()

    async def _send_notice(self) -> None:
        """A change notice on its own (the pool's connections commit each statement)."""
        try:
            async with self._pool.connection() as conn:
                await conn.execute("SELECT pg_notify(%s, '')", (self._channel,))
            self._noticed_at = asyncio.get_running_loop().time()
        except Exception as exc:  # the next change notices again; readers also re-read on reconnect
            log.debug("change notice not sent: %s", exc)

    async def fetchall(self, sql: str, params: Any = ()) -> list[Row]:
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=_row_factory)
            await cursor.execute(_text(sql), params or None)
            return await cursor.fetchall()

    async def fetchone(self, sql: str, params: Any = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Any = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def data_version(self) -> int:
        """Moves whenever any process commits (counted from NOTIFY)."""
        return self._version


def channel_for(schema: str | None) -> str:
    """The NOTIFY channel of one queuetop schema.

    Channels belong to the whole database, not to a schema: two queues in
    two schemas of one database would otherwise wake and re-read each other
    on every commit. A digest keeps the name a plain identifier of any schema.
    """
    return f"{CHANNEL}_{hashlib.sha1((schema or '').encode()).hexdigest()[:16]}"


# schema.sql and migrations/ lie beside this module, read by path as the
# SQLite backend reads its own.
_HERE = Path(__file__).parent


def _migrations() -> list[tuple[int, str]]:
    """(version, sql) for every file in migrations/, in order (none before v2: v1 is the schema)."""
    folder = _HERE / "migrations"
    if not folder.is_dir():
        return []
    found = [(int(match.group(1)), entry.read_text("utf-8")) for entry in folder.iterdir()
             if (match := _MIGRATION.match(entry.name))]
    return sorted(found)


def schema_version() -> int:
    """The version a fresh schema gets: the newest migration's number, or 1."""
    return max((version for version, _ in _migrations()), default=1)


async def _prepare(url: str, create: bool = True) -> None:
    """Create the schema on first use (unless not ``create``), bring an older one forward; refuse
    foreign or newer ones."""
    schema = (_HERE / "schema.sql").read_text("utf-8")
    target = schema_version()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            cur = await conn.execute(
                "SELECT to_regclass('queuetop_meta') IS NOT NULL, to_regclass('jobs') IS NOT NULL")
            has_meta, has_jobs = await _row(cur)
            if has_meta:
                cur = await conn.execute("SELECT value FROM queuetop_meta WHERE key = 'schema_version'")
                version = int(await _one(cur))
                if version > target:
                    raise DatabaseError(
                        f"the PostgreSQL schema was written by a newer queuetop (v{version}, this one "
                        f"knows v{target}); upgrade queuetop, nothing was changed")
                if version < target:
                    async with conn.transaction():  # all of them or none
                        for number, sql in _migrations():
                            if number > version:
                                await conn.execute(sql)
                        await conn.execute("UPDATE queuetop_meta SET value = %s WHERE key = 'schema_version'",
                                           (str(target),))
                    log.info("PostgreSQL schema upgraded from v%d to v%d", version, target)
                return
            if has_jobs:
                raise DatabaseError("the PostgreSQL schema already has a jobs table that is not queuetop's")
            if not create:
                cur = await conn.execute("SELECT current_schema(), current_database()")
                schema_name, database = await _row(cur)
                if schema_name is None:  # the search_path names no schema that exists
                    raise DatabaseError(await _missing_schema_message(url))
                raise DatabaseError(f"no queuetop tables in schema {schema_name} of PostgreSQL database {database} "
                                    f"(an engine or a submit makes them)")
            async with conn.transaction():
                await conn.execute(schema)
                await conn.execute("CREATE TABLE queuetop_meta (key text PRIMARY KEY, value text NOT NULL)")
                await conn.execute("INSERT INTO queuetop_meta VALUES ('schema_version', %s)",
                                   (str(target),))
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


async def _missing_schema_message(url: str) -> str:
    """One line naming the search_path schema(s) that do not exist in the database ``url`` opens."""
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            path = await _one(await conn.execute("SHOW search_path"))
            dbname = await _one(await conn.execute("SELECT current_database()"))
    except psycopg.Error:
        return "cannot use PostgreSQL database: its search_path names no schema that exists"
    return (f"cannot use PostgreSQL database {dbname}: no schema {path} exists (the DSN's search_path); "
            f"create it (CREATE SCHEMA {path}) or name one that exists")
