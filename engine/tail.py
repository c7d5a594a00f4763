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
import hashlib
import logging
import os
import stat as stat_module
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import queries
from .clock import Clock
from .db import Database
from .enrich import EnrichRules
from .events import DEFAULT_MAX_LINE_BYTES, BadReason, parse_lines
from .sessions import SessionDeltas, SessionThresholds

log = logging.getLogger("queuetop.engine")

SQL = queries.load("events")

BLOCK_BYTES = 1 << 20         # one read; memory per file is this plus max_line_bytes
BATCH_LINES = 10_000          # lines per transaction (soft: whole blocks are parsed)
BATCH_BYTES = 8 << 20         # and at most this many bytes read per transaction
HEAD_BYTES = 1024             # a file's identity includes a hash of its first bytes
INLINE_BYTES = 256 << 10      # smaller backlogs are parsed on the event loop (no thread hop)
_GLOB_CHARS = frozenset("*?[")


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


@dataclass
class _File:
    """What the tailer knows of one path: the saved state plus the open descriptor."""

    path: str
    id: int
    offset: int
    generation: int
    skipping: bool
    device: int | None
    inode: int | None
    head_len: int
    head_hash: bytes | None
    state: str
    fd: int | None = None

    @classmethod
    def from_row(cls, path: str, row: Any) -> "_File":
        return cls(path, row["id"], row["read_offset"], row["generation"], bool(row["skipping"]),
                   row["device"], row["inode"], row["head_len"], row["head_hash"], row["state"])

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None


@dataclass
class _Batch:
    """Lines read and parsed from one file, not yet committed."""

    start: int
    end: int
    skipping: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[BadReason, int]] = field(default_factory=list)
    lines: int = 0
    nbytes: int = 0


class _Reader:
    """Reads a file descriptor from an offset in blocks and parses complete lines.

    Synchronous and self-contained, so a large backlog can be read and parsed
    on a worker thread while the previous batch commits.
    """

    def __init__(self, fd: int, offset: int, skipping: bool, *, file_id: int, rules: EnrichRules,
                 max_line: int, clock: Clock, block: int = BLOCK_BYTES) -> None:
        self.fd = fd
        self.pos = offset          # next byte to read
        self.line_start = offset   # start of the carried partial line: the offset once committed
        self.carry = b""
        self.skipping = skipping
        self.file_id = file_id
        self.rules = rules
        self.max_line = max_line
        self.clock = clock
        self.block = block

    def next_batch(self, max_lines: int = BATCH_LINES, max_bytes: int = BATCH_BYTES, *,
                   final: bool = False) -> _Batch | None:
        """The next batch, or ``None`` when nothing new is there.

        ``final``: the file will not grow again (rotated away or deleted), so
        a last line without a newline is parsed rather than held back.
        """
        batch = _Batch(self.line_start, self.line_start, self.skipping)
        now = self.clock.now()
        eof = False
        while batch.lines < max_lines and batch.nbytes < max_bytes:
            block = os.pread(self.fd, self.block, self.pos)
            if not block:
                eof = True
                break
            self.pos += len(block)
            batch.nbytes += len(block)
            if self.skipping:
                newline = block.find(b"\n")
                if newline < 0:
                    self.line_start = self.pos  # all of it belongs to the over-long line
                    continue
                self.skipping = False
                block = block[newline + 1:]
                self.line_start = self.pos - len(block)
            buf = self.carry + block if self.carry else block
            base = self.line_start
            last = buf.rfind(b"\n")
            if last >= 0:
                lines = buf[:last].split(b"\n")
                batch.lines += parse_lines(lines, base, rules=self.rules, max_line_bytes=self.max_line,
                                           file_id=self.file_id, now=now, rows=batch.rows, bad=batch.bad)
                self.carry = buf[last + 1:]
                self.line_start = base + last + 1
            else:
                self.carry = buf
            if len(self.carry) > self.max_line:
                # Over the limit before its newline: count it now, keep none of it.
                batch.bad.append((BadReason.TOO_LONG, self.line_start))
                batch.lines += 1
                self.skipping = True
                self.carry = b""
                self.line_start = self.pos
        if eof and final and self.carry:
            batch.lines += parse_lines([self.carry], self.line_start, rules=self.rules,
                                       max_line_bytes=self.max_line, file_id=self.file_id, now=now,
                                       rows=batch.rows, bad=batch.bad)
            self.carry = b""
            self.line_start = self.pos
        started_skipping = batch.skipping
        batch.end = self.line_start
        batch.skipping = self.skipping
        if (not batch.rows and not batch.bad and batch.end == batch.start
                and batch.skipping == started_skipping):
            return None  # nothing complete yet (discarded bytes of an over-long line do count)
        return batch


class _Stale(Exception):
    """Another process moved this file's offset on: drop the batch and reload."""


def _is_pattern(source: str) -> bool:
    return any(c in _GLOB_CHARS for c in source)


def _head(fd: int, length: int) -> bytes:
    return hashlib.blake2b(os.pread(fd, length, 0), digest_size=16).digest()


class Tailer:
    """Follows event files into the database; see the module docstring.

    ``paths`` are files or glob patterns (``~`` expanded, relative to the
    working directory). A path that does not exist yet is picked up when it
    appears. ``rules`` and ``thresholds`` default to the built-ins;
    ``thresholds`` is kept for the callers that show this tailer's sessions.
    """

    def __init__(self, db: Database, clock: Clock, paths: list[str], *, rules: EnrichRules | None = None,
                 thresholds: SessionThresholds | None = None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 stat_interval: float = 2.0, batch_lines: int = BATCH_LINES,
                 block_bytes: int = BLOCK_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.db = db
        self.clock = clock
        self.sources = [os.path.abspath(os.path.expanduser(p)) for p in paths]
        self.rules = rules if rules is not None else EnrichRules.default()
        self.thresholds = thresholds if thresholds is not None else SessionThresholds()
        self.max_line_bytes = max_line_bytes
        self.stat_interval = stat_interval
        self.batch_lines = batch_lines
        self.block_bytes = block_bytes
        self._files: dict[str, _File] = {}
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
            if _is_pattern(source):
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

    async def _file(self, path: str) -> _File:
        known = self._files.get(path)
        if known is None:
            async with self.db.transaction() as conn:
                async with conn.execute(SQL["file_by_path"], {"path": path, "now": self.clock.now()}) as cur:
                    row = await cur.fetchone()
            known = self._files[path] = _File.from_row(path, row)
        return known

    async def _poll_path(self, path: str) -> int:
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
        if reset is None and f.head_len and (size < f.head_len or _head(f.fd, f.head_len) != f.head_hash):
            reset = "replaced"
        if reset is not None:
            log.info("event file %s was %s: reading it again from the start", path, reset)
        elif size == f.offset and f.state == "present":
            return stored
        stored += await self._read(f, reset=reset)
        return stored

    async def _read(self, f: _File, *, final: bool = False, reset: str | None = None) -> int:
        """Read ``f`` from its offset (or from 0 after a reset) to its end, committing batches."""
        assert f.fd is not None
        start = 0 if reset else f.offset
        reader = _Reader(f.fd, start, False if reset else f.skipping, file_id=f.id, rules=self.rules,
                         max_line=self.max_line_bytes, clock=self.clock, block=self.block_bytes)
        # A large backlog is parsed on a worker thread so that the event loop
        # (the TUI) stays responsive. Never while a batch commits, though:
        # executemany takes the GIL back for every row, and a thread busy
        # parsing beside it makes each of those waits a switch interval long.
        threaded = os.fstat(f.fd).st_size - start > INLINE_BYTES
        stored = 0

        def read_next() -> _Batch | None:
            return reader.next_batch(self.batch_lines, final=final)

        first = True
        try:
            while True:
                batch = await asyncio.to_thread(read_next) if threaded else read_next()
                if batch is None:
                    if not (first and (reset or f.state != "present")):
                        break
                    # Nothing to read, but the new identity (or the reappearance) must be saved.
                    batch = _Batch(start, start, reader.skipping)
                stored += await self._commit(f, batch, reset if first else None)
                first = False
        except _Stale:
            log.info("event file %s was advanced by another process: reloading its state", f.path)
            f.close()
            self._files.pop(f.path, None)
        return stored

    async def _commit(self, f: _File, batch: _Batch, reset: str | None) -> int:
        """Store one batch and the file's progress in one transaction; publish it."""
        assert f.fd is not None
        now = self.clock.now()
        opened = os.fstat(f.fd)
        size = opened.st_size
        head_len = min(size, HEAD_BYTES)
        head_hash = _head(f.fd, head_len) if head_len else None
        rows = batch.rows
        deltas = SessionDeltas()
        first_id = last_id = None
        inserted = 0
        generation = f.generation + (1 if reset else 0)
        async with self.db.transaction() as conn:
            if rows:
                async with conn.execute(SQL["max_event_id"]) as cur:
                    before = (await cur.fetchone())[0]
                cursor = await conn.executemany(SQL["insert_event"], rows)
                inserted = cursor.rowcount
                if inserted:
                    async with conn.execute(SQL["max_event_id"]) as cur:
                        after = (await cur.fetchone())[0]
                    if inserted == len(rows) and after == before + inserted:
                        # Every row was new, so ids were handed out in order without gaps.
                        for row in rows:
                            deltas.add(row)
                    else:
                        # Some were already stored: find which rows made it, in id order.
                        by_hash = {row["hash"]: row for row in rows}
                        async with conn.execute(SQL["inserted_since"], {"after_id": before}) as cur:
                            for new in await cur.fetchall():
                                deltas.add(by_hash[new["hash"]])
                    first_id, last_id = before + 1, after
                    await deltas.apply(conn, now)
            last_bad = batch.bad[-1] if batch.bad else None
            if batch.bad:
                counts: dict[BadReason, list[int]] = {}
                for reason, offset in batch.bad:
                    entry = counts.setdefault(reason, [0, offset])
                    entry[0] += 1
                    entry[1] = offset
                await conn.executemany(SQL["count_bad_line"], [
                    {"file_id": f.id, "reason": reason.value, "count": n, "last_offset": offset, "now": now}
                    for reason, (n, offset) in counts.items()])
            cursor = await conn.execute(SQL["update_file"], {
                "id": f.id, "expect_offset": f.offset, "expect_generation": f.generation,
                "read_offset": batch.end, "skipping": int(batch.skipping), "device": opened.st_dev,
                "inode": opened.st_ino, "head_len": head_len, "head_hash": head_hash,
                "generation": generation, "size_seen": size, "lines": batch.lines, "bytes": batch.nbytes,
                "stored": inserted, "duplicates": len(rows) - inserted, "bad": len(batch.bad),
                "last_bad_offset": last_bad[1] if last_bad else None,
                "last_bad_reason": last_bad[0].value if last_bad else None,
                "reset_reason": reset, "now": now})
            if cursor.rowcount != 1:
                raise _Stale(f.path)
        f.offset, f.skipping, f.generation = batch.end, batch.skipping, generation
        f.device, f.inode, f.head_len, f.head_hash = opened.st_dev, opened.st_ino, head_len, head_hash
        f.state = "present"
        self.bytes_read += batch.nbytes
        self.lines_parsed += batch.lines
        self.events_stored += inserted
        self.batches += 1
        if rows or batch.bad:
            self._publish(EventBatch(first_id, last_id, inserted, deltas.session_ids, f.path,
                                     len(batch.bad), len(rows) - inserted))
        return inserted

    # -- watching ------------------------------------------------------------------

    def _watch_dirs(self) -> tuple[tuple[str, ...], bool]:
        """Existing directories to watch, and whether any pattern needs recursion."""
        dirs: set[str] = set()
        recursive = False
        for source in self.sources:
            if _is_pattern(source):
                parts = source.split(os.sep)
                fixed = []
                for part in parts:
                    if any(c in _GLOB_CHARS for c in part):
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
            if path == source or (_is_pattern(source) and fnmatch.fnmatch(path, source)):
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

