"""Following one event file: its saved state, reading complete lines from an offset.

A :class:`Reader` reads a file descriptor from the saved offset in fixed-size
blocks, parses the complete lines and holds back a trailing half-written one.
Lines longer than ``max_line_bytes`` are skipped without being held in
memory: once a partial line passes the limit the reader counts it and
discards bytes up to its newline, remembering across polls (and restarts)
that it is inside such a line. Memory is bounded by the block size plus
``max_line_bytes`` per file, whatever the file's size.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from queuetop.engine.events.enrich import EnrichRules
from queuetop.engine.events.parse import BadReason, parse_lines
from queuetop.engine.model.clock import Clock

BLOCK_BYTES = 1 << 20         # one read; memory per file is this plus max_line_bytes
BATCH_LINES = 10_000          # lines per transaction (soft: whole blocks are parsed)
BATCH_BYTES = 8 << 20         # and at most this many bytes read per transaction
HEAD_BYTES = 1024             # a file's identity includes a hash of its first bytes
GLOB_CHARS = frozenset("*?[")


@dataclass
class TrackedFile:
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
    def from_row(cls, path: str, row: Any) -> "TrackedFile":
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
class Batch:
    """Lines read and parsed from one file, not yet committed."""

    start: int
    end: int
    skipping: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[BadReason, int]] = field(default_factory=list)
    lines: int = 0
    nbytes: int = 0
    staged: bool = False  # rows already bound into temp.staged_events (bulk workers)


class Reader:
    """Reads a file descriptor from an offset in blocks and parses complete lines.

    Synchronous and self-contained, so that a large backlog can be parsed on
    a worker thread and the event loop stays free meanwhile.
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
                   final: bool = False) -> Batch | None:
        """The next batch, or ``None`` when nothing new is there.

        ``final``: the file will not grow again (rotated away or deleted), so
        a last line without a newline is parsed rather than held back.
        """
        batch = Batch(self.line_start, self.line_start, self.skipping)
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


def is_pattern(source: str) -> bool:
    return any(c in GLOB_CHARS for c in source)


def head_hash(fd: int, length: int) -> bytes:
    return hashlib.blake2b(os.pread(fd, length, 0), digest_size=16).digest()
