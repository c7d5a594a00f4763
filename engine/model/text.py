"""What a handler hands back is untrusted: one rule for making it storable text.

Errors, log lines and results reach the database only through these
functions, on both backends alike:

- a NUL byte becomes the four characters ``\\x00`` (PostgreSQL text and jsonb
  cannot hold it; SQLite could, but one rule keeps the backends equal);
- a lone surrogate (half of a UTF-16 pair, as ``surrogateescape`` decoding
  leaves behind) becomes U+FFFD, the replacement character;
- text over a limit is cut, with a marker that says how much was cut;
- an exception becomes text through :func:`describe`, which never raises.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Defaults; [engine] max_error_chars / max_log_chars / max_result_chars override them.
ERROR_LIMIT = 8_000
LOG_LIMIT = 8_000
RESULT_LIMIT = 20_000

_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, and nothing else changed."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def clean(text: str, limit: int | None = None) -> str:
    """``text`` made storable: NUL escaped, lone surrogates replaced, cut to ``limit``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    text = without_surrogates(text)
    if limit is not None and len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]}… [{cut:,} more characters cut]"
    return text


def describe(exc: BaseException, limit: int | None = ERROR_LIMIT) -> str:
    """``Type: message`` for an exception, whatever its ``__str__`` does.

    A message that raises falls back to ``repr``; a ``repr`` that raises too
    falls back to the type name alone. The result is :func:`clean`.
    """
    name = _type_name(exc)
    try:
        message = str(exc)
    except Exception:
        try:
            message = repr(exc)
        except Exception:
            message = "(its message could not be shown)"
    if not isinstance(message, str):  # a __str__ that returns something else slipped through
        message = "(its message could not be shown)"
    return clean(f"{name}: {message}" if message else name, limit)


def message(exc: BaseException, limit: int | None = ERROR_LIMIT) -> str:
    """An exception's own message (no type name), or :func:`describe` when it has none or cannot give it."""
    try:
        text = str(exc)
    except Exception:
        return describe(exc, limit)
    if not isinstance(text, str) or not text:
        return describe(exc, limit)
    return clean(text, limit)


def as_text(value: object) -> str:
    """``str(value)`` for what a handler logs, never raising (a log call must not fail the chunk)."""
    if isinstance(value, str):
        return value
    try:
        text = str(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown as text>"
    return text if isinstance(text, str) else f"<{type(value).__name__} that cannot be shown as text>"


def _type_name(exc: BaseException) -> str:
    try:
        return type(exc).__qualname__
    except Exception:
        return "Exception"


class Unstorable(ValueError):
    """A handler's result that JSON cannot represent."""


def result_json(result: Any, limit: int = RESULT_LIMIT) -> str:
    """A handler's result as JSON text, its strings cleaned; raises :class:`Unstorable`.

    The rule: JSON's own types (dict with string keys, list, tuple, str, int,
    float, bool, None) are stored; NaN and infinities, other objects and
    cycles are refused, so a chunk never completes with a result that reads
    back different from what its handler returned. A result longer than
    ``limit`` is stored as ``{"truncated": "<the first limit characters>…"}``.
    """
    try:
        text = json.dumps(_cleaned(result, 0), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise Unstorable(f"the handler's result cannot be stored as JSON: {describe(exc, 500)}") from None
    if len(text) > limit:
        text = json.dumps({"truncated": clean(text, limit)}, ensure_ascii=False)
    return text


def _cleaned(value: Any, depth: int) -> Any:
    if depth > 100:
        raise ValueError("nested more than 100 levels deep")
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"a dict key must be a string, got {type(key).__name__}")
            out[clean(key)] = _cleaned(item, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_cleaned(item, depth + 1) for item in value]
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def redact_url(url: str | None) -> str | None:
    """A URL as shown to anyone: scheme and host (and port) only.

    Webhook URLs carry their secrets in the path, the query or the user
    part (``https://hooks.example.com/services/T0/B0/XXXX``), so everything
    but where it goes is replaced by ``…``.
    """
    if url is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "[redacted]"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return shown + ("/…" if (parts.path not in ("", "/") or parts.query or parts.fragment or parts.username) else "")
