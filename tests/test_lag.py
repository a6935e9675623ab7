"""Target lags and durations (Snowflake: '<num> { seconds | minutes | hours | days }' or DOWNSTREAM)."""

from __future__ import annotations

import pytest

from engine.lag import MIN_LAG_SECONDS, format_lag, parse_duration, parse_lag


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 minute", 60),
        ("60 seconds", 60),
        ("90 seconds", 90),
        ("2 hours", 7200),
        ("1 day", 86400),
        ("3 DAYS", 3 * 86400),
        ("  5 minutes  ", 300),
        ("5minutes", 300),
    ],
)
def test_parse_lag(text, seconds):
    assert parse_lag(text) == seconds


@pytest.mark.parametrize("text", ["downstream", "DOWNSTREAM", " Downstream "])
def test_downstream_has_no_seconds(text):
    assert parse_lag(text) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "is not a target lag"),
        ("1.5 minutes", "is not a target lag"),  # Snowflake takes whole numbers only
        ("10 weeks", "is not a target lag"),
        ("", "is not a target lag"),
        ("-5 minutes", "is negative"),
        ("59 seconds", "under Snowflake's minimum of 60 seconds"),
        ("0 minutes", "under Snowflake's minimum of 60 seconds"),
        (120, "is not a target lag"),
        (None, "is not a target lag"),
    ],
)
def test_bad_lags(value, message):
    with pytest.raises(ValueError, match=message):
        parse_lag(value)


def test_minimum_is_snowflakes():
    assert MIN_LAG_SECONDS == 60
    assert parse_lag("60 seconds") == 60


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1 minute", "1 minute"),
        ("1 minutes", "1 minute"),
        ("2 minute", "2 minutes"),
        ("90 SECONDS", "90 seconds"),
        (" 4 hours ", "4 hours"),
        ("downstream", "DOWNSTREAM"),
    ],
)
def test_format_lag(text, shown):
    assert format_lag(text) == shown


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("10 seconds", 10.0), ("2 minutes", 120.0), ("1 hour", 3600.0), ("0 seconds", 0.0), (2.5, 2.5), (0, 0.0)],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(("value", "message"), [("a while", "is not a duration"), (-1, "is negative"), (True, "is not a duration")])
def test_bad_durations(value, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(value)
