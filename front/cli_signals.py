"""SIGTERM to a CLI command stops it as Ctrl+C does: its cleanup runs and it says what it did.

A timeout, a CI runner or systemd stops a command with SIGTERM, not SIGINT.
Left to its default, SIGTERM killed ``submit-many`` between batches with no
word of which lines had been submitted, where Ctrl+C says exactly that.
"""

from __future__ import annotations

import asyncio
import signal


def cancel_on_sigterm() -> None:
    """From now on, SIGTERM cancels the running command's task (``asyncio.run`` then raises CancelledError)."""
    task = asyncio.current_task()
    if task is None:
        return
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (RuntimeError, ValueError, NotImplementedError):
        pass  # a command run from another thread (embedding code, tests) keeps SIGTERM's default
