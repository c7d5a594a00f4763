"""The event tailer: follows NDJSON files into the events and sessions tables.

For each configured file or glob match it keeps an open file descriptor and
a saved offset: the end of the last complete line consumed. A poll reads only
the bytes after that offset, in fixed-size blocks, parses the complete lines,
and commits each batch (events, the session and thread deltas, bad-line
counts, the file's new offset) in one ``BEGIN IMMEDIATE`` transaction. A
trailing line without its newline is left for the next poll.

The file behind a path can change:

- it shrinks below the offset (truncated): read again from the start;
- its first bytes no longer hash as recorded (rewritten in place): the same;
- the path names another file (rotation by rename, delete and recreate):
  what is left of the old file is drained through the descriptor still open
  on it, then the new file is read from the start;
- it disappears: drained, then marked missing until a file appears there.

Re-reads store nothing twice (events are unique by hash), so they are safe.
Identity (device, inode, head hash) and offset are saved with every batch,
so a restart resumes where the last commit left off without re-reading.

Lines longer than ``max_line_bytes`` are skipped without being held in
memory: once a partial line passes the limit the tailer counts it and
discards bytes up to its newline, remembering across polls (and restarts)
that it is inside such a line. Memory is bounded by the block size plus
``max_line_bytes`` per file, whatever the file's size.

A backlog of ``bulk_min_bytes`` or more (a cold start on a big file) is
ingested by ``bulk_workers`` child processes instead: each parses a
line-aligned chunk and commits it on its own connection, in file order, with
the same statements and compare-and-set, so that parsing one chunk overlaps
committing another on a second core. The parent's event loop stays free.

Change notices come from watchfiles (inotify) on the files' directories,
with a slow periodic stat as the safety net for anything a watcher misses
(network filesystems, a directory that did not exist yet). Several processes
may tail the same file into one database: each batch's offset update is a
compare-and-set, so one of them wins and the other re-reads from the saved
offset.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import logging
import os
import stat as stat_module
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queuetop.engine.events import bulk
from queuetop.engine.events.enrich import EnrichRules
from queuetop.engine.events.follow import (BATCH_LINES, BLOCK_BYTES, GLOB_CHARS, HEAD_BYTES, Batch, Reader,
                                           TrackedFile, head_hash, is_pattern)
from queuetop.engine.events.ingest import SQL, Committed, StaleOffset, commit_steps
from queuetop.engine.events.parse import DEFAULT_MAX_LINE_BYTES
from queuetop.engine.events.steps import run_async
from queuetop.engine.model.clock import Clock
from queuetop.engine.store.protocol import Backend

log = logging.getLogger("queuetop.engine")

INLINE_BYTES = 256 << 10      # smaller backlogs are parsed on the event loop (no thread hop)
BULK_MIN_BYTES = 32 << 20     # larger backlogs are ingested by worker processes ...
BULK_CHUNK_BYTES = 2 << 20    # ... in line-aligned chunks growing to this size (one transaction each)
BULK_WORKERS = 2              # one per core of a small machine: parse and commit overlap


@dataclass(frozen=True)
class EventBatch:
    """One committed batch of new events, as published to subscribers.

    The new events are ids ``first_id..last_id`` (``count`` of them, no gaps);
    ``session_ids`` are the sessions whose summaries the batch changed. A
    batch may have no new events (only bad lines or duplicates), in which
    case ``count`` is 0 and the ids are ``None``.
    """

    first_id: int | None
    last_id: int | None
    count: int
    session_ids: tuple[str, ...]
    path: str
    bad_lines: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["session_ids"] = list(self.session_ids)
        return out


class Tailer:
    """Follows event files into the database; see the module docstring.

    ``paths`` are files or glob patterns (``~`` expanded, relative to the
    working directory). A path that does not exist yet is picked up when it
    appears. ``rules`` default to the built-ins. (Session status is not the
    tailer's business: readers classify sessions with their queue's
    thresholds, see :meth:`queuetop.engine.api.Queue.sessions`.)
    The other keywords are tuning that tests use to make small files behave
    like big ones: ``batch_lines`` and ``block_bytes`` for the in-process
    reader, ``bulk_workers`` (0 turns bulk ingest off), ``bulk_min_bytes``
    and ``bulk_chunk_bytes`` for bulk ingest.
    """

    def __init__(self, db: Backend, clock: Clock, paths: list[str], *, rules: EnrichRules | None = None,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 stat_interval: float = 2.0, batch_lines: int = BATCH_LINES,
                 block_bytes: int = BLOCK_BYTES, bulk_workers: int = BULK_WORKERS,
                 bulk_min_bytes: int = BULK_MIN_BYTES, bulk_chunk_bytes: int = BULK_CHUNK_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.db = db
        self.clock = clock
        self.sources = [os.path.abspath(os.path.expanduser(p)) for p in paths]
        self.rules = rules if rules is not None else EnrichRules.default()
        self.max_line_bytes = max_line_bytes
        self.stat_interval = stat_interval
        self.batch_lines = batch_lines
        self.block_bytes = block_bytes
        self.bulk_workers = bulk_workers
        self.bulk_min_bytes = bulk_min_bytes
        self.bulk_chunk_bytes = bulk_chunk_bytes
        self._stop: asyncio.Event | None = None
        # Clear while the WAL checkpoint after a bulk ingest runs (tests and the benchmark wait on it).
        self.checkpointed = threading.Event()
        self.checkpointed.set()
        self._files: dict[str, TrackedFile] = {}
        self._subscribers: list[Callable[[EventBatch], None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # Counters for tests, the benchmark and --stats: what this process did.
        self.bytes_read = 0
        self.lines_parsed = 0
        self.events_stored = 0
        self.batches = 0

    # -- subscribers ---------------------------------------------------------------

    def subscribe(self, callback: Callable[[EventBatch], None]) -> Callable[[], None]:
        """Call ``callback`` (on the event loop) after each committed batch; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _publish(self, batch: EventBatch) -> None:
        for callback in list(self._subscribers):
            try:
                callback(batch)
            except Exception:  # a broken subscriber must not stop the tailer
                log.exception("event subscriber failed")

    # -- polling -------------------------------------------------------------------

    def _paths(self) -> list[str]:
        """Every path to look at: literal sources, glob matches, and files followed before."""
        found: dict[str, None] = {}
        for source in self.sources:
            if is_pattern(source):
                for match in sorted(glob.glob(source, recursive="**" in source)):
                    found[match] = None
            else:
                found[source] = None
        for path in self._files:
            found[path] = None  # a followed file that moved away still has a tail to drain
        return list(found)

    async def poll_once(self) -> int:
        """Read every source once, to its current end; returns how many new events were stored."""
        async with self._lock:
            total = 0
            for path in self._paths():
                total += await self._poll_path(path)
            return total

    async def _file(self, path: str) -> TrackedFile:
        known = self._files.get(path)
        if known is None:
            async with self.db.transaction() as conn:
                async with conn.execute(SQL["file_by_path"], {"path": path, "now": self.clock.now()}) as cur:
                    row = await cur.fetchone()
            known = self._files[path] = TrackedFile.from_row(path, row)
        return known

    async def _poll_path(self, path: str) -> int:
        st: os.stat_result | None
        try:
            st = os.stat(path)
            if not stat_module.S_ISREG(st.st_mode):
                st = None
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError as exc:
            log.warning("event file %s: %s", path, exc)
            return 0
        if st is None and path not in self._files:
            return 0  # a configured file that has not appeared yet: nothing to record
        f = await self._file(path)
        stored = 0
        if f.fd is not None:
            held = os.fstat(f.fd)
            if st is None or (st.st_dev, st.st_ino) != (held.st_dev, held.st_ino):
                # The path names another file now, or none: finish the one we hold.
                stored += await self._read(f, final=True)
                f.close()
        if st is None:
            if f.state != "missing":
                async with self.db.transaction() as conn:
                    await conn.execute(SQL["mark_file_missing"], {"id": f.id, "now": self.clock.now()})
                f.state = "missing"
            return stored
        reset = None
        if f.fd is None:
            try:
                f.fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                log.warning("event file %s: %s", path, exc)
                return stored
            opened = os.fstat(f.fd)
            if f.state == "missing" or (f.device is not None and (f.device, f.inode) != (opened.st_dev, opened.st_ino)):
                # A file that came back after being gone is another file, even
                # when the filesystem hands it the old inode number.
                reset = "replaced"
        size = os.fstat(f.fd).st_size
        if reset is None and size < f.offset:
            reset = "shrunk"
        if reset is None and f.head_len and (size < f.head_len or head_hash(f.fd, f.head_len) != f.head_hash):
            reset = "replaced"
        if reset is not None:
            log.info("event file %s was %s: reading it again from the start", path, reset)
        elif size == f.offset and f.state == "present":
            return stored
        stored += await self._read(f, reset=reset)
        return stored

    async def _read(self, f: TrackedFile, *, final: bool = False, reset: str | None = None) -> int:
        """Read ``f`` from its offset (or from 0 after a reset) to its end, committing batches."""
        assert f.fd is not None
        start = 0 if reset else f.offset
        size = os.fstat(f.fd).st_size
        stored = 0
        try:
            # Bulk ingest needs a database file the worker processes can open
            # (SQLite); _bulk stores nothing and returns 0 on any other store.
            if (not final and self.bulk_workers > 0
                    and size - start >= self.bulk_min_bytes
                    and not (f.skipping and not reset)):
                batches = self.batches
                stored += await self._bulk(f, start, reset)
                if self.batches != batches:
                    start, reset = f.offset, None  # the rest (the last chunk, a partial line) goes the usual way
            reader = Reader(f.fd, start, False if reset else f.skipping, file_id=f.id, rules=self.rules,
                             max_line=self.max_line_bytes, clock=self.clock, block=self.block_bytes)
            # A large backlog is parsed on a worker thread so that the event
            # loop (the TUI) stays responsive. Never while a batch commits,
            # though: executemany takes the GIL back for every row, and a
            # thread parsing beside it makes each of those waits a switch
            # interval long.
            threaded = size - start > INLINE_BYTES

            def read_next() -> Batch | None:
                return reader.next_batch(self.batch_lines, final=final)

            first = True
            while not self._stopping():
                batch = await asyncio.to_thread(read_next) if threaded else read_next()
                if batch is None:
                    if not (first and (reset or f.state != "present")):
                        break
                    # Nothing to read, but the new identity (or the reappearance) must be saved.
                    batch = Batch(start, start, reader.skipping)
                stored += await self._commit(f, batch, reset if first else None)
                first = False
        except StaleOffset:
            log.info("event file %s was advanced by another process: reloading its state", f.path)
            f.close()
            self._files.pop(f.path, None)
        return stored

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _identity(self, f: TrackedFile) -> dict[str, Any]:
        """The file's identity as it is now: what a batch saves with its offset."""
        assert f.fd is not None
        opened = os.fstat(f.fd)
        head_len = min(opened.st_size, HEAD_BYTES)
        return {"device": opened.st_dev, "inode": opened.st_ino, "size_seen": opened.st_size,
                "head_len": head_len, "head_hash": head_hash(f.fd, head_len) if head_len else None}

    async def _commit(self, f: TrackedFile, batch: Batch, reset: str | None) -> int:
        """Store one batch and the file's progress in one transaction; publish it."""
        now = self.clock.now()
        identity = self._identity(f)
        generation = f.generation + (1 if reset else 0)
        steps = commit_steps(f.id, batch, expect=(f.offset, f.generation), generation=generation,
                              identity=identity, reset=reset, now=now)
        async with self.db.transaction() as conn:
            # Event ids must grow in commit order (readers page on them). SQLite's
            # one writer gives that; PostgreSQL takes an advisory lock here, and
            # SQLite's text of this query does nothing.
            await conn.execute(SQL["lock_events"])
            done = await run_async(conn, steps)
        self._committed(f, done, generation, identity)
        return done.inserted

    def _committed(self, f: TrackedFile, done: "Committed", generation: int, identity: dict[str, Any]) -> None:
        """After a commit: the file's new state, the counters, the subscribers."""
        f.offset, f.skipping, f.generation = done.end, done.skipping, generation
        f.device, f.inode = identity["device"], identity["inode"]
        f.head_len, f.head_hash = identity["head_len"], identity["head_hash"]
        f.state = "present"
        self.bytes_read += done.nbytes
        self.lines_parsed += done.lines
        self.events_stored += done.inserted
        self.batches += 1
        if done.inserted or done.bad or done.duplicates:
            self._publish(EventBatch(done.first_id, done.last_id, done.inserted, done.session_ids, f.path,
                                     done.bad, done.duplicates))

    # -- bulk ingest ---------------------------------------------------------------

    async def _bulk(self, f: TrackedFile, start: int, reset: str | None) -> int:
        """Ingest a large backlog with worker processes; returns how many events were stored.

        Parsing and committing one batch takes about as long as each other,
        and both are Python that holds the GIL (executemany binds every row
        under it), so threads cannot overlap them: processes can. The
        backlog is cut into line-aligned chunks; each worker parses a chunk,
        then commits it on its own connection when told to, in file order,
        with the same statements and compare-and-set as a normal batch. While
        one commits, the other parses and binds its rows into a staging table,
        so that the commit itself is one INSERT ... SELECT. If anything goes
        wrong the workers are stopped and the normal path carries on from the
        last committed chunk. Workers do not checkpoint the WAL; one
        checkpoint runs in a thread afterwards (see :func:`~queuetop.engine.events.bulk.checkpoint`).
        """
        assert f.fd is not None
        db_path = getattr(self.db, "path", None)
        if db_path is None or not os.path.isfile(db_path):
            return 0  # not a SQLite file (PostgreSQL): the normal path only
        chunks = bulk.chunk_ranges(f.fd, start, os.fstat(f.fd).st_size, self.bulk_chunk_bytes, self.max_line_bytes)
        if len(chunks) < 2:
            return 0
        identity = self._identity(f)
        generation = f.generation + (1 if reset else 0)
        workers: list[tuple[Any, Any]] = []
        stored = 0
        try:
            for _ in range(min(self.bulk_workers, len(chunks))):
                workers.append(bulk.start_worker((str(db_path), f.path, identity["device"], identity["inode"], f.id,
                                              self.rules, self.max_line_bytes)))
            owner: dict[int, Any] = {}
            upcoming = iter(range(len(chunks)))
            for _, pipe in workers:
                index = next(upcoming, None)
                if index is not None:
                    pipe.send(("parse", index, *chunks[index], self.clock.now()))
                    owner[index] = pipe
            for index in range(len(chunks)):
                if self._stopping():
                    break
                pipe = owner.pop(index)
                first = index == 0
                pipe.send(("commit", (f.offset, f.generation), generation, identity,
                           reset if first else None, self.clock.now()))
                reply = await asyncio.to_thread(pipe.recv)
                if reply[0] != "done":
                    log.warning("bulk ingest of %s stopped (%s); carrying on in-process", f.path, reply[1])
                    break
                self._committed(f, reply[1], generation, identity)
                stored += reply[1].inserted
                following = next(upcoming, None)
                if following is not None:
                    pipe.send(("parse", following, *chunks[following], self.clock.now()))
                    owner[following] = pipe
        except (OSError, EOFError) as exc:
            log.warning("bulk ingest of %s failed (%s); carrying on in-process", f.path, exc)
        finally:
            await asyncio.to_thread(bulk.stop_workers, workers)
            if self.checkpointed.is_set():
                self.checkpointed.clear()
                threading.Thread(target=bulk.checkpoint, args=(str(db_path), self.checkpointed),
                                 name="queuetop-checkpoint", daemon=True).start()
        return stored

    # -- watching ------------------------------------------------------------------

    def _watch_dirs(self) -> tuple[tuple[str, ...], bool]:
        """Existing directories to watch, and whether any pattern needs recursion."""
        dirs: set[str] = set()
        recursive = False
        for source in self.sources:
            if is_pattern(source):
                parts = source.split(os.sep)
                fixed = []
                for part in parts:
                    if any(c in GLOB_CHARS for c in part):
                        break
                    fixed.append(part)
                directory = os.sep.join(fixed) or os.sep
                if len(fixed) < len(parts) - 1:
                    recursive = True  # the pattern spans directories
            else:
                directory = os.path.dirname(source)
            if os.path.isdir(directory):
                dirs.add(directory)
        for path in self._files:
            directory = os.path.dirname(path)
            if os.path.isdir(directory):
                dirs.add(directory)
        return tuple(sorted(dirs)), recursive

    def _interesting(self, path: str) -> bool:
        """Whether a changed path is (or may become) one of ours: not, say, the database's WAL."""
        if path in self._files:
            return True
        for source in self.sources:
            if path == source or (is_pattern(source) and fnmatch.fnmatch(path, source)):
                return True
        return False

    async def _watch(self, dirs: tuple[str, ...], recursive: bool, halt: asyncio.Event) -> None:
        from watchfiles import awatch

        def accept(change: Any, path: str) -> bool:
            return self._interesting(path)

        # Low debounce/step: a change is reported ~10 ms after it settles
        # (the defaults wait up to 1.6 s). `halt` is our own event: awatch
        # sets the event it is given when cancelled, and that must not be
        # the caller's stop.
        async for _changes in awatch(*dirs, watch_filter=accept, debounce=10, step=10, stop_event=halt,
                                     recursive=recursive, rust_timeout=1000):
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the sources until ``stop`` is set, then return cleanly.

        Reads everything new at once, then whenever the watcher reports a
        change, and at least every ``stat_interval`` seconds. Errors (a
        locked or failing database, an unreadable file) are logged and
        retried with back-off; they never end the tailer.
        """
        halt = asyncio.Event()
        watcher: asyncio.Task[None] | None = None
        watching: tuple[tuple[str, ...], bool] | None = None
        failures = 0
        self._stop = stop  # a long catch-up checks it between batches
        try:
            while not stop.is_set():
                wanted = self._watch_dirs()
                if watcher is not None and (wanted != watching or watcher.done()):
                    halt.set()
                    await asyncio.gather(watcher, return_exceptions=True)
                    if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
                        log.warning("event watcher stopped: %r; restarting it", watcher.exception())
                    watcher = None
                if watcher is None and wanted[0]:
                    halt = asyncio.Event()
                    watcher = asyncio.create_task(self._watch(*wanted, halt), name="event-watcher")
                    watching = wanted
                self._wake.clear()
                pause = self.stat_interval
                try:
                    await self.poll_once()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    pause = min(self.stat_interval * 2 ** min(failures, 5), 60.0)
                    log.warning("event tailer: %s; retrying in %.1fs", exc, pause)
                    self._wake.clear()  # back off even if the files keep changing
                await _first_of(stop, self._wake, pause)
        finally:
            halt.set()
            if watcher is not None:
                await asyncio.gather(watcher, return_exceptions=True)
            self._stop = None
            self.close()

    def close(self) -> None:
        """Close every file descriptor this tailer holds (``run`` does this when it ends)."""
        for f in self._files.values():
            f.close()
        self._files.clear()


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Wait until either event is set, or ``timeout`` seconds."""
    if stop.is_set() or wake.is_set():
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
