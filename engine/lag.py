"""Target lags and durations: ``'1 minute'``, ``'90 seconds'``, ``downstream``."""

from __future__ import annotations

import re
from functools import lru_cache

MIN_LAG_SECONDS = 60
DOWNSTREAM = "DOWNSTREAM"

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)


def parse_duration(value: str | float | int) -> float:
    """Seconds in a duration such as ``'10 seconds'``, ``'2 minutes'`` or a bare number.

    Raises:
        ValueError: the value is not a non-negative duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration: write e.g. '10 seconds', '2 minutes', '1 hour'")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative: a duration must be zero or more")
    return seconds


def parse_lag(value: str) -> int | None:
    """Seconds in a target lag, or None for DOWNSTREAM.

    Raises:
        ValueError: unparseable, not whole seconds, or under Snowflake's 60-second minimum.
    """
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a target lag: write e.g. '1 minute' or downstream")
    return _lag_seconds(value)


@lru_cache(maxsize=4096)
def _lag_seconds(value: str) -> int | None:
    """:func:`parse_lag` of a string, once per process: each of a wide file's dynamic tables has its
    lag read several times (the lag checks, effective lags, the summary), mostly the same few words."""
    if value.strip().upper() == DOWNSTREAM:
        return None
    match = _DURATION.match(value)
    if not match or "." in match.group(1):
        raise ValueError(
            f"{value!r} is not a target lag: write '<n> seconds|minutes|hours|days' or downstream"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < 0:
        raise ValueError(f"target lag {value!r} is negative: write e.g. '1 minute' or downstream")
    if seconds < MIN_LAG_SECONDS:
        raise ValueError(f"target lag {value!r} is under Snowflake's minimum of 60 seconds")
    return seconds


def format_lag(value: str) -> str:
    """The lag as Snowflake shows it: ``'1 minute'`` or ``DOWNSTREAM``."""
    seconds = parse_lag(value)
    if seconds is None:
        return DOWNSTREAM
    match = _DURATION.match(value)
    number, unit = int(match.group(1)), match.group(2).lower()
    return f"{number} {unit}{'' if number == 1 else 's'}"
