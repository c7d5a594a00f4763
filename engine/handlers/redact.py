"""Scrubbing secrets (header values, the environment values they read) out of text.

The http handler redacts every text it lets out (errors, logs, results)
with one :class:`Redactor` made from its configuration's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[redacted]"
# Shorter values would scrub ordinary words out of every message; nothing
# that short is a credential.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Scrubs secret values out of text before it is stored, logged or shown."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so "Bearer abc…" is replaced whole before "abc…".
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str, *, cut: bool = False) -> str:
        """``text`` with every secret replaced by ``[redacted]``.

        ``cut``: the text is the start of something longer, so it may end in
        the first part of a secret; such a tail is redacted too.
        """
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        if cut:
            for secret in self._secrets:
                # A few characters of a secret give nothing away; testing
                # them would redact the last letter of half the bodies.
                for size in range(len(secret) - 1, MIN_SECRET_LENGTH - 1, -1):
                    if text.endswith(secret[:size]):
                        text = text[:-size] + REDACTED
                        break
        return text
