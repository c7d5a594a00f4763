"""Errors raised by the engine.

:class:`QueuetopError` and its subclasses are operator-facing: the CLI prints
their message as one line and exits with status 2. :class:`PermanentError` is
what a handler raises to fail its chunk at once, without retries.
"""

from __future__ import annotations


class QueuetopError(Exception):
    """An error whose message is fit to show an operator as it is."""


class UsageError(QueuetopError):
    """Bad input from the operator: a malformed range, invalid JSON, ..."""


class ConfigError(QueuetopError):
    """The config file is missing or wrong."""


class DatabaseError(QueuetopError):
    """The database can't be used: not queuetop's, or from a newer version."""


class NotFound(QueuetopError):
    """A job, chunk or schedule that does not exist."""


class ActionRefused(QueuetopError):
    """An operator action that does not apply, e.g. finalize on a finished job."""


class PermanentError(Exception):
    """Raised by a handler: the chunk fails now and is not retried.

    Any other exception a handler raises is transient and retried with
    back-off up to the job's ``max_retries``.
    """


class UnknownIntent(PermanentError):
    """A job names an intent key that is not in the handler registry."""


class RetryAt(Exception):
    """Raised by a handler: a transient failure that names its retry time.

    The attempt is spent, as with any transient error, but the chunk's next
    run is ``at`` (epoch seconds) instead of the normal back-off: a server's
    ``Retry-After`` says when it wants to be asked again.
    """

    def __init__(self, message: str, at: float) -> None:
        super().__init__(message)
        self.at = at


class Deferred(Exception):
    """Raised by a handler before doing any work: run this chunk later.

    The chunk goes back to pending until ``until`` and its attempt is given
    back (nothing was tried), e.g. while a host's circuit is open.
    """

    def __init__(self, reason: str, until: float) -> None:
        super().__init__(reason)
        self.until = until
