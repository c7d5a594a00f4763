"""Cron in a time zone: when a schedule fires, as epoch seconds.

A schedule's cron is read in the local time of its zone (an IANA name such
as ``Europe/Berlin``; ``UTC`` by default). Across daylight-saving changes:

- a local time that does not exist (the clocks jump from 02:00 to 03:00)
  fires at the first instant after the gap (03:00 local, the moment of the
  change);
- a local time that occurs twice (the clocks go back from 03:00 to 02:00)
  fires once, the first time.

Several local times inside one gap map to the same instant and fire once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

DEFAULT_ZONE = "UTC"
ZERO = timedelta(0)


class ZoneError(ValueError):
    """An unknown or malformed time zone name."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`ZoneError` (one line) when there is none."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name or len(name) > 100:
        raise ZoneError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ZoneError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Berlin' or 'UTC'") \
            from None


def check_zone(name: object) -> str:
    """``name`` if it is a known IANA zone, else :class:`ZoneError`."""
    if not isinstance(name, str):
        raise ZoneError(f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Berlin' or 'UTC'")
    zone(name)
    return name


def _change(tz: ZoneInfo, low: float, high: float) -> float:
    """The first whole second in (low, high] whose UTC offset differs from low's (bisection)."""
    lo, hi = math.floor(low), math.ceil(high)
    before = tz.utcoffset(datetime.fromtimestamp(lo, tz))
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if tz.utcoffset(datetime.fromtimestamp(middle, tz)) == before:
            lo = middle
        else:
            hi = middle
    return float(hi)


def _instant(wall: datetime, tz: ZoneInfo) -> float:
    """The epoch time of naive local time ``wall`` in ``tz`` under the DST rules above."""
    ts = wall.replace(tzinfo=tz, fold=0).timestamp()
    if datetime.fromtimestamp(ts, tz).replace(tzinfo=None) == wall:
        return ts  # it exists (fold=0 is the first of two, when it occurs twice)
    # In a gap: the change happened between the two readings of the wall time.
    low, high = sorted((wall.replace(tzinfo=tz, fold=1).timestamp(), ts))
    return _change(tz, low, high)


def fire_times(cron: str, zone_name: str, after: float) -> Iterator[float]:
    """Every time after ``after`` (epoch seconds) that ``cron`` names in ``zone_name``, in order.

    Raises ``ValueError``/``KeyError`` from croniter for a bad expression.
    """
    tz = zone(zone_name)
    if zone_name == "UTC":
        it = croniter(cron, after)
        while True:
            yield float(it.get_next(float))
    local = datetime.fromtimestamp(after, tz)
    wall = local.replace(tzinfo=None)
    if local.fold:
        # The second pass through a repeated hour: its wall times fired on
        # the first pass, so the next candidates start where it ends.
        earlier = datetime.fromtimestamp(after - 1, tz)
        repeat = (tz.utcoffset(earlier.replace(fold=0)) or ZERO) - (tz.utcoffset(local) or ZERO)
        began = _change(tz, after - repeat.total_seconds(), after)
        wall = datetime.fromtimestamp(began + repeat.total_seconds() - 1, tz).replace(tzinfo=None)
    it = croniter(cron, wall)
    last = after
    while True:
        candidate = _instant(it.get_next(datetime), tz)
        if candidate > last:
            last = candidate
            yield candidate


def next_fire(cron: str, zone_name: str, after: float) -> float:
    """The first time after ``after`` that ``cron`` names in ``zone_name``."""
    return next(fire_times(cron, zone_name, after))


def local_text(when: float, zone_name: str) -> str:
    """``when`` as local time in ``zone_name`` with its offset: ``2026-03-29 03:00:00+02:00 CEST``."""
    local = datetime.fromtimestamp(when, zone(zone_name))
    offset = local.isoformat(timespec="seconds")[19:]  # +02:00
    return f"{local:%Y-%m-%d %H:%M:%S}{offset} {local.tzname()}"


def utc_text(when: float) -> str:
    """``when`` in UTC: ``2026-03-29 01:00:00Z``."""
    return f"{datetime.fromtimestamp(when, UTC):%Y-%m-%d %H:%M:%S}Z"
