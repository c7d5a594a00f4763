"""Back-off between attempts of a chunk that failed transiently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter, capped.

    Attempt ``n`` (1-based) that failed waits between ``base * 2**(n-1) / 2``
    and ``base * 2**(n-1)`` seconds, at most ``cap``: the random half spreads
    retries of chunks that failed together so they do not return together.
    """

    base: float = 5.0
    cap: float = 600.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        import random  # only a process that retries something imports it

        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling / 2 + (rng or random).random() * ceiling / 2

    @staticmethod
    def exhausted(attempt: int, max_retries: int) -> bool:
        """True when attempt ``attempt`` was the last one allowed.

        ``max_retries`` counts retries after the first try: 3 allows 4 attempts.
        """
        return attempt > max_retries
