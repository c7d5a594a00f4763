"""The http handler's idempotency key: one per chunk, the same on every attempt.

A retried request (after a 5xx, a timeout, a lost connection) may have
reached the server the first time. With the key, a server that honours it
(``Idempotency-Key``, as Stripe and the IETF draft name it) answers the retry
from what it already did instead of doing it twice.

The key is ``{job id}-{chunk index}-{nonce}``: the nonce is the job's random
``jobs.nonce`` (32 hex digits, made once when the job is inserted), so jobs of
two databases, or of one made again, never share a key even when their ids
do. It depends on nothing an attempt changes: every attempt of a chunk, an
operator's retry included, sends the same key.

The key is not a credential (it authorises nothing): it is not redacted, so a
server that echoes it in an error can be matched to the chunk.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from queuetop.engine.model.exceptions import ConfigError
from queuetop.engine.store import queries
from queuetop.engine.store.protocol import Backend

DEFAULT_HEADER = "Idempotency-Key"
# Chunks of one job run together: their job's nonce is read once, not per attempt.
NONCES_KEPT = 1024

SQL = queries.load("jobs")
# A header name as HTTP allows it (an RFC 9110 token).
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def header_setting(value: Any, what: str) -> str | None:
    """The checked ``idempotency_header`` value: a header name, or None for ``""`` (off).

    ``what`` names the key in the message, e.g. ``queuetop.toml: [http] idempotency_header``.
    """
    if not isinstance(value, str):
        raise ConfigError(f'{what} must be a header name, or "" to send none, got {value!r}')
    if value == "":
        return None
    if not HEADER_NAME.match(value):
        raise ConfigError(f"{what}: {value!r} is not a valid header name")
    return value


def unless_configured(name: str | None, headers: tuple[tuple[str, str], ...]) -> str | None:
    """``name``, or None when the intent's own headers already set it (theirs is sent)."""
    if name is None or any(given.lower() == name.lower() for given, _ in headers):
        return None
    return name


def idempotency_key(job_id: int, chunk_index: int, nonce: str | None) -> str:
    """The key of chunk ``chunk_index`` of job ``job_id`` (see the module docstring)."""
    key = f"{job_id}-{chunk_index}"
    return f"{key}-{nonce}" if nonce else key


class Nonces:
    """Jobs' nonces, read from the database once per job and kept (they never change)."""

    def __init__(self, db: Backend, kept: int = NONCES_KEPT) -> None:
        self._db = db
        self._kept = kept
        self._known: OrderedDict[int, str | None] = OrderedDict()

    async def key(self, job_id: int, chunk_index: int) -> str:
        """The idempotency key of one chunk."""
        if job_id in self._known:
            self._known.move_to_end(job_id)
            nonce = self._known[job_id]
        else:
            row = await self._db.fetchone(SQL["job_nonce"], {"job_id": job_id})
            nonce = row["nonce"] if row is not None else None
            self._known[job_id] = nonce
            if len(self._known) > self._kept:
                self._known.popitem(last=False)
        return idempotency_key(job_id, chunk_index, nonce)
