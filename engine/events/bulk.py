"""Bulk ingest: a large backlog parsed and committed by worker processes (SQLite files).

Parsing and committing one batch take about as long as each other, and both
are Python that holds the GIL, so threads cannot overlap them: processes can.
The backlog is cut into line-aligned chunks; each worker parses a chunk, then
commits it on its own connection when told to, in file order, with the same
steps and compare-and-set as a normal batch.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from queuetop.engine.events.enrich import EnrichRules
from queuetop.engine.events.follow import Batch
from queuetop.engine.events.ingest import SQL, commit_steps
from queuetop.engine.events.parse import parse_lines
from queuetop.engine.events.sessions import SessionDeltas
from queuetop.engine.events.steps import run_sync
from queuetop.engine.store.sqlite.backend import configure

log = logging.getLogger("queuetop.engine")


def chunk_ranges(fd: int, start: int, size: int, chunk_bytes: int, max_line: int) -> list[tuple[int, int]]:
    """Line-aligned ``(start, end)`` ranges of about ``chunk_bytes``, from ``start`` to the last newline.

    A half-written last line is left to the normal path, and so is
    everything from a boundary that falls inside an over-long line.
    """
    chunks: list[tuple[int, int]] = []
    low = start
    # Start small so that the first commit comes soon (the other worker has
    # nothing to overlap with until then), then grow: a bigger chunk touches
    # fewer threads and sessions per event, so fewer upserts.
    size_now = max(chunk_bytes // 4, 1)
    while size - low > size_now:
        nominal = low + size_now
        size_now = min(size_now * 2, chunk_bytes)
        end = None
        probe = nominal
        while probe < size and probe - nominal <= max_line:
            block = os.pread(fd, 64 << 10, probe)
            newline = block.find(b"\n")
            if newline >= 0:
                end = probe + newline + 1
                break
            probe += len(block)
        if end is None:
            return chunks
        chunks.append((low, end))
        low = end
    if size > low:
        last = os.pread(fd, size - low, low).rfind(b"\n")  # at most one chunk
        if last >= 0:
            chunks.append((low, low + last + 1))
    return chunks


def checkpoint(db_path: str, done: threading.Event) -> None:
    """Copy the WAL into the database and truncate it, on a connection of its own.

    Run in a thread after a bulk ingest, whose workers do not checkpoint: a
    PASSIVE checkpoint blocks no reader or writer (and while it holds the
    checkpoint lock the engine's own automatic checkpoints skip instead of
    stalling a commit); the TRUNCATE after it has nothing left to copy.
    """
    started = time.monotonic()
    try:
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            configure(conn)
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        log.debug("checkpoint after bulk ingest: %.1fs", time.monotonic() - started)
    except sqlite3.Error as exc:
        log.warning("checkpoint after bulk ingest failed: %s", exc)
    finally:
        done.set()


def start_worker(setup: tuple[Any, ...]) -> tuple[subprocess.Popen[bytes], Connection]:
    """Start one bulk-ingest process and send it its setup; returns it and its pipe.

    A plain ``python -c`` child on a socket pair rather than a
    multiprocessing spawn: spawn re-runs the parent's main script, which a
    program embedding the engine need not guard with ``__main__``.
    """
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", "from queuetop.engine.events.bulk import bulk_main; bulk_main()", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    finally:
        theirs.close()
    pipe = Connection(ours.detach())
    pipe.send(setup)
    return process, pipe


def bulk_main() -> None:
    """Entry point of a bulk-ingest process (see :func:`start_worker`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # Nothing here makes reference cycles, and the cyclic collector would
    # walk every live row of a chunk, again and again, as they pile up.
    gc.disable()
    pipe = Connection(int(sys.argv[1]))
    try:
        bulk_worker(pipe, *pipe.recv())
    except (EOFError, OSError):
        pass  # the parent went away
    finally:
        pipe.close()


def bulk_worker(pipe: Any, db_path: str, path: str, device: int, inode: int, file_id: int,
                 rules: EnrichRules, max_line: int) -> None:
    """A bulk-ingest process: parse the chunk it is given, commit it when told to.

    Messages in: ``("parse", index, start, end, now)``, ``("commit", expect,
    generation, identity, reset, now)``, ``None`` to stop. Out: ``("done",
    Committed)`` per commit, or ``("error", text)`` once, after which it ends.
    """
    conn = None
    fd = None
    try:
        fd = os.open(path, os.O_RDONLY)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (device, inode):
            raise RuntimeError("the file was replaced")
        conn = sqlite3.connect(db_path, isolation_level=None)
        configure(conn)
        # This connection lives only for the bulk ingest: a page cache that
        # holds the indexes' hot pages; staging in memory; and no checkpoints
        # in the commit path (the parent runs one when the ingest is done).
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(SQL["create_staging"])
        batch: Batch | None = None
        deltas = SessionDeltas()
        while True:
            message = pipe.recv()
            if message is None:
                break
            if message[0] == "parse":
                _, _index, low, high, now = message
                data = os.pread(fd, high - low, low)
                if len(data) != high - low or not data.endswith(b"\n"):
                    raise RuntimeError("the file changed under the bulk ingest")
                batch = Batch(low, high, False, nbytes=len(data))
                batch.lines = parse_lines(data[:-1].split(b"\n"), low, rules=rules, max_line_bytes=max_line,
                                          file_id=file_id, now=now, rows=batch.rows, bad=batch.bad)
                del data
                # Fold the session deltas and bind the rows now, while another
                # worker commits: the commit is the critical path.
                deltas = SessionDeltas()
                deltas.add_rows(batch.rows)
                conn.execute("BEGIN")
                conn.execute(SQL["clear_staging"])
                conn.executemany(SQL["stage_event"], batch.rows)
                conn.execute("COMMIT")  # the temp database only: no lock on the main one
                batch.staged = True
                continue
            _, expect, generation, identity, reset, now = message
            if batch is None:
                raise RuntimeError("commit before parse")
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = run_sync(conn, commit_steps(file_id, batch, expect=expect, generation=generation,
                                                      identity=identity, reset=reset, now=now, deltas=deltas))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            batch = None
            pipe.send(("done", done))
    except Exception as exc:
        try:
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
    finally:
        if conn is not None:
            conn.close()
        if fd is not None:
            os.close(fd)


def stop_workers(workers: list[tuple[Any, Any]]) -> None:
    """Ask bulk workers to stop, wait a little, then make sure they are gone."""
    for _, pipe in workers:
        try:
            pipe.send(None)
        except OSError:
            pass
    for process, pipe in workers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        pipe.close()
