"""JSON for the hot path's query parameters and columns: orjson where it can, json where it cannot.

A claim decodes every chunk's params and a settle encodes every outcome;
with the standard library that was an eighth of the engine's CPU per small
job. Where orjson refuses what json takes (integers over 64 bits, lone
surrogates, the NaN literal when reading), json answers instead. One
difference stays: orjson writes a NaN float as null (json as ``NaN``, which
neither database's JSON accepts); the hot path passes none. Imported by the claim path only: a CLI call that never
claims does not pay for importing orjson.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """``value`` as JSON text (for a query parameter SQLite's ``json_each`` or ``::jsonb`` reads)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """JSON text as Python values; the same answer as :func:`json.loads`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
