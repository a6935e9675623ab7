"""Dates, times and timestamps: conversions and arithmetic the Snowflake way.

Each rule follows the Snowflake reference page of its function (sql-reference/functions/...):

* TO_DATE / TO_TIME / TO_TIMESTAMP* and casts of text: a string holding an integer is a number of
  seconds, milliseconds, microseconds or nanoseconds since the epoch, chosen by its magnitude
  (to_date, to_timestamp: "Usage notes"); the format ``'AUTO'`` is no format; ``HH`` is ``HH24``;
  a literal in one of the AUTO layouts DuckDB does not read (``'03-April-2024'``) is read here.
* TO_TIMESTAMP*(number [, scale]): seconds (or 10^-scale seconds) since the epoch, in UTC.
* DATEADD / TIME_SLICE on a DATE give a DATE (dateadd, time_slice: "Returns"); DATEDIFF and
  MONTHS_BETWEEN given text read it as a timestamp.
* CONVERT_TIMEZONE(target, ts) is the instant ``ts`` stands for (convert_timezone, "Usage notes");
  a TIMESTAMP_TZ's own offset cannot be stored locally, so it shows in the session's time zone.
* TIMESTAMP_FROM_PARTS / TIME(text) / MONTHS_BETWEEN: values outside the normal ranges carry over;
  the fraction of a month counts 31-day months and the time of day (months_between).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp

from engine.sql.dialect_annotate import DATE, NUMBERS, TEXT, is_type
from engine.sql.dialect_common import Untranslatable, duck, is_native

_TIMESTAMP_FUNCTIONS = {
    "TO_TIMESTAMP": "TIMESTAMP",
    "TO_TIMESTAMP_NTZ": "TIMESTAMP",
    "TO_TIMESTAMP_LTZ": "TIMESTAMPTZ",
    "TO_TIMESTAMP_TZ": "TIMESTAMPTZ",
}
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
# Magnitude of an integer string -> microseconds since the epoch (to_timestamp, "Usage notes").
_EPOCH_MICROS = (
    "CASE WHEN abs(__V) < 31536000000 THEN __V * 1000000 WHEN abs(__V) < 31536000000000 THEN __V * 1000"
    " WHEN abs(__V) < 31536000000000000 THEN __V ELSE __V // 1000 END"
)
_FROM_EPOCH_TEXT = (
    "CASE WHEN regexp_full_match(trim(__X), '[-+]?[0-9]+') THEN make_timestamp(CAST("
    + _EPOCH_MICROS.replace("__V", "TRY_CAST(trim(__X) AS HUGEINT)")
    + " AS BIGINT)) ELSE CAST(__X AS TIMESTAMP) END"
)
# Layouts AUTO reads that DuckDB's casts do not (sql-reference/date-time-input-output).
_AUTO_LAYOUTS = ("%d-%b-%Y", "%d-%B-%Y", "%d-%b-%Y %H:%M:%S", "%d-%B-%Y %H:%M:%S")
_UNITS_OF_A_DAY_OR_MORE = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """One node's rewrite (called bottom-up by dialect_functions.rewrite)."""
    if isinstance(node, exp.Anonymous) and node.name.upper() in _TIMESTAMP_FUNCTIONS:
        return _to_timestamp(node)
    if isinstance(node, exp.UnixToTime):
        return _from_epoch(node.this, node.args.get("scale"), "TIMESTAMP")
    if isinstance(node, (exp.StrToTime, exp.StrToDate, exp.TsOrDsToDate)) and node.args.get("format") is not None:
        return _with_format(node)
    if isinstance(node, exp.TsOrDsToDate):
        return _cast_text(node.this, "DATE", node)
    if isinstance(node, exp.TsOrDsToTime) and node.args.get("format") is None:
        return _cast_text(node.this, "TIME", node)
    if isinstance(node, (exp.Cast, exp.TryCast)) and not is_native(node):
        return _cast(node)
    if isinstance(node, exp.Time) and len(node.expressions or []) <= 1 and node.this is not None:
        return _cast_text(node.this, "TIME", node)  # TIME('13:30:00') is TO_TIME
    if isinstance(node, exp.TimeSlice) and (is_type(node, DATE) or is_type(node.this, DATE)):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
    if isinstance(node, exp.DateDiff):
        return _timestamps_from_text(node, ("this", "expression"))
    if isinstance(node, exp.MonthsBetween):
        return _months_between(node)
    if isinstance(node, exp.ConvertTimezone) and node.args.get("source_tz") is None:
        # CONVERT_TIMEZONE(target, ts) is the same instant (a TIMESTAMP_NTZ or DATE read in the
        # session's time zone, text with its own offset); only its display zone changes
        value = node.args["timestamp"]
        return exp.Cast(this=_offset_next_to_time(value), to=exp.DataType.build("TIMESTAMPTZ"))
    if isinstance(node, exp.TimestampTzFromParts) and (node.args.get("zone") or node.args.get("nano")):
        # the instant of those parts in the zone given (else the session's); its offset is not kept
        parts = [node.args.get(k) for k in ("year", "month", "day", "hour", "min", "sec")]
        nano = node.args.get("nano") or exp.Literal.number(0)
        zone = node.args.get("zone")
        if zone is None:
            return duck("make_timestamptz(__Y, __MO, __D, __H, __MI, __S + __N / 1e9)",
                        y=parts[0], mo=parts[1], d=parts[2], h=parts[3], mi=parts[4], s=parts[5], n=nano)
        return duck("make_timestamptz(__Y, __MO, __D, __H, __MI, __S + __N / 1e9, __Z)",
                    y=parts[0], mo=parts[1], d=parts[2], h=parts[3], mi=parts[4], s=parts[5], n=nano, z=zone)
    if isinstance(node, exp.TimestampFromParts) and node.args.get("sec") is not None and not node.args.get("zone"):
        return _timestamp_from_parts(node)
    return node


def returns_date(node: exp.DateAdd, unit: str) -> bool:
    """Whether Snowflake's DATEADD gives a DATE here: a DATE moved by days or more."""
    return unit in _UNITS_OF_A_DAY_OR_MORE and is_type(node.this, DATE)


def _to_timestamp(node: exp.Anonymous) -> exp.Expression:
    name = node.name.upper()
    target = _TIMESTAMP_FUNCTIONS[name]
    args = node.expressions
    if len(args) == 2 and args[1].is_string:
        fmt = _strftime(args[1].name)
        parsed = exp.StrToTime(this=args[0], format=exp.Literal.string(fmt)) if fmt else args[0]
        return exp.Cast(this=parsed, to=exp.DataType.build(target))
    if len(args) == 2 and args[1].is_int:
        return _from_epoch(args[0], args[1], target)
    if len(args) != 1:
        raise Untranslatable(f"{name} with these arguments", node, hint="use TO_TIMESTAMP(text [, format])")
    value = args[0]
    if is_type(value, NUMBERS) or (isinstance(value, exp.Literal) and not value.is_string):
        return _from_epoch(value, None, target)
    return _cast_text(value, target, node)


def _from_epoch(value: exp.Expression, scale: exp.Expression | None, target: str) -> exp.Expression:
    """Seconds (or 10^-scale seconds) since 1970-01-01 UTC as a timestamp."""
    divisor = 10 ** int(scale.name) if scale is not None and scale.is_int else 1
    micros = duck(f"CAST(round(CAST(__X AS DOUBLE) * {1_000_000 / divisor!r}) AS BIGINT)", x=value)
    if target == "TIMESTAMPTZ":
        return duck("to_timestamp(__M / 1000000.0)", m=micros)
    return duck("make_timestamp(__M)", m=micros)


def _strftime(snowflake_format: str) -> str | None:
    from sqlglot.dialects.snowflake import Snowflake
    from sqlglot.time import format_time

    if snowflake_format.strip().upper() == "AUTO":
        return None
    fmt = re.sub(r"(?i)HH(?!12|24)", "HH24", snowflake_format)
    return format_time(fmt, Snowflake.TIME_MAPPING, Snowflake.TIME_TRIE)


def _with_format(node: exp.Expression) -> exp.Expression:
    """A parse with a format: 'AUTO' is no format; sqlglot leaves Snowflake's HH (24-hour) as is."""
    fmt = node.args["format"]
    if not fmt.is_string:
        return node
    if fmt.name.strip().upper() == "AUTO":
        target = "DATE" if isinstance(node, (exp.StrToDate, exp.TsOrDsToDate)) else "TIMESTAMP"
        return _cast_text(node.this, target, node)
    fixed = re.sub(r"(?<!%)HH(?!12|24)", "%H", fmt.name)
    if fixed != fmt.name:
        node = node.copy()
        node.set("format", exp.Literal.string(fixed))
    return node


def _cast(node: exp.Cast) -> exp.Expression:
    target = node.to.this
    if target in (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ):
        node = node.copy()
        node.set("this", _offset_next_to_time(node.this))
        return node
    if target not in (exp.DataType.Type.DATE, exp.DataType.Type.TIME, exp.DataType.Type.TIMESTAMP,
                      exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME):
        return node
    value = node.this
    if value.is_string:
        text = _auto_literal(value.name)
        if text is not None:
            node = node.copy()
            node.set("this", exp.Literal.string(text))
        return node if not _INTEGER.match(value.name) else _cast_text(value, node.to, node)
    if target != exp.DataType.Type.DATE and target != exp.DataType.Type.TIME and (
            is_type(value, NUMBERS) or (isinstance(value, exp.Literal) and not value.is_string)):
        return _from_epoch(value, None, "TIMESTAMP")  # 0::TIMESTAMP_NTZ is the epoch
    if is_type(value, TEXT) and not isinstance(node, exp.TryCast):
        return _cast_text(value, node.to, node)
    return node


# A UTC offset after a blank, as Snowflake's AUTO format writes it (TZH:TZM, TZHTZM or TZH).
_OFFSET_AFTER_BLANK = re.compile(r"\s+([+-]\d{2}(?::?\d{2})?)$")


def _offset_next_to_time(value: exp.Expression) -> exp.Expression:
    """Text read as a timestamp with a time zone, its UTC offset moved next to the time: Snowflake's
    AUTO format reads '2022-02-24 13:00:00 +01:00', DuckDB only '2022-02-24 13:00:00+01:00'.
    Anything but text is returned as it is."""
    if value.is_string:
        return exp.Literal.string(_OFFSET_AFTER_BLANK.sub(r"\1", value.name))
    if is_type(value, TEXT):
        return exp.func("regexp_replace", value, exp.Literal.string(_OFFSET_AFTER_BLANK.pattern),
                        exp.Literal.string("\\1"))
    return value


def _auto_literal(text: str) -> str | None:
    """The ISO form of a literal written in an AUTO layout DuckDB does not read, else None."""
    for layout in _AUTO_LAYOUTS:
        try:
            return dt.datetime.strptime(text.strip(), layout).isoformat(sep=" ")
        except ValueError:
            continue
    return None


def _cast_text(value: exp.Expression, target: str, original: exp.Expression) -> exp.Expression:
    """Text to a date, time or timestamp, an integer string being an epoch (see the module doc)."""
    to = exp.DataType.build(target, dialect="duckdb") if isinstance(target, str) else target
    with_zone = to.this == exp.DataType.Type.TIMESTAMPTZ
    if value.is_string:
        if _INTEGER.match(value.name):
            return exp.Cast(this=_from_epoch(exp.Literal.number(_scaled(int(value.name))), None, "TIMESTAMP"), to=to)
        text = _auto_literal(value.name)
        if text is None and with_zone:
            text = _offset_next_to_time(value).name
        return exp.Cast(this=exp.Literal.string(text) if text else value, to=to)
    if with_zone:
        value = _offset_next_to_time(value)
    if is_type(value, TEXT):
        # both branches of the CASE give the target type: a time string is no timestamp
        name = to.sql(dialect="duckdb")
        return duck(_FROM_EPOCH_TEXT.replace("THEN make_timestamp(", "THEN CAST(make_timestamp(")
                    .replace(" AS BIGINT)) ELSE CAST(__X AS TIMESTAMP)", f" AS BIGINT)) AS {name}) ELSE CAST(__X AS {name})"),
                    x=value)
    if isinstance(original, exp.Cast):
        return original
    return exp.Cast(this=value, to=to)


def _scaled(value: int) -> float:
    """An integer string's value in seconds, by its magnitude."""
    size = abs(value)
    if size < 31536000000:
        return value
    if size < 31536000000000:
        return value / 1000
    if size < 31536000000000000:
        return value / 1000000
    return value / 1000000000


def _timestamps_from_text(node: exp.Expression, keys: tuple[str, ...]) -> exp.Expression:
    for key in keys:
        value = node.args.get(key)
        if value is not None and is_type(value, TEXT):
            node.set(key, exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP")))
    return node


def _months_between(node: exp.MonthsBetween) -> exp.Expression:
    later, earlier = node.this, node.expression
    for value in (later, earlier):
        if is_type(value, TEXT):
            value.replace(exp.Cast(this=value.copy(), to=exp.DataType.build("TIMESTAMP")))
    later, earlier = node.this, node.expression
    return duck(
        "round((year(__A) - year(__B)) * 12 + month(__A) - month(__B) + CASE"
        " WHEN day(__A) = day(__B) OR (day(__A) = day(last_day(__A)) AND day(__B) = day(last_day(__B))) THEN 0"
        " ELSE (day(__A) - day(__B) + (epoch(CAST(__A AS TIMESTAMP)) - epoch(CAST(CAST(__A AS DATE) AS TIMESTAMP))"
        " - epoch(CAST(__B AS TIMESTAMP)) + epoch(CAST(CAST(__B AS DATE) AS TIMESTAMP))) / 86400.0) / 31.0 END, 6)",
        a=later, b=earlier)


def _timestamp_from_parts(node: exp.TimestampFromParts) -> exp.Expression:
    """Parts outside their normal ranges carry over into the larger ones, as on Snowflake."""
    parts = {k: node.args.get(k) for k in ("year", "month", "day", "hour", "min", "sec", "nano")}
    if any(parts[k] is None for k in ("year", "month", "day", "hour", "min", "sec")):
        return node
    nano = parts["nano"] if parts["nano"] is not None else exp.Literal.number(0)
    return duck(
        "CAST(make_date(__Y, 1, 1) AS TIMESTAMP) + to_months(__MO - 1) + to_days(__D - 1) + to_hours(__H)"
        " + to_minutes(__MI) + to_seconds(__S) + to_microseconds(__N // 1000)",
        y=parts["year"], mo=parts["month"], d=parts["day"], h=parts["hour"], mi=parts["min"], s=parts["sec"], n=nano)

