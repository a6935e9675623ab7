"""Generator columns: their local DuckDB types and the checks values must pass to fill them.

A generator declares Snowflake types (``returns: {member_id: number, event_data: variant}``).
Locally each becomes the DuckDB type the rest of the engine uses (see
``engine.sql.dialect_types``) and one of a few *kinds* that say which Python values fit:

========== ================================ =========================================
kind       Snowflake types                  Python values accepted (None is NULL)
========== ================================ =========================================
integer    NUMBER(p,0), INT, BIGINT, ...    int in the BIGINT range, integral float/Decimal
decimal    NUMBER(p,s) with s > 0           int, float, Decimal
float      FLOAT, DOUBLE, REAL              int, float
text       VARCHAR, STRING, TEXT, CHAR      str
boolean    BOOLEAN                          bool
date       DATE                             date, ISO date string
time       TIME                             time, ISO time string
timestamp  TIMESTAMP[_NTZ|_LTZ|_TZ]         datetime, date, ISO timestamp string
binary     BINARY                           bytes, bytearray
variant    VARIANT                          anything JSON can hold
object     OBJECT                           dict
array      ARRAY                            list, tuple
========== ================================ =========================================
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass
from typing import Any

from engine import names
from engine.sql.dialect_common import Untranslatable
from engine.sql.dialect_types import duckdb_type_name, parse_snowflake_type

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_KIND_OF_DUCKDB = {
    "BIGINT": "integer",
    "DOUBLE": "float",
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMPTZ": "timestamp",
    "BLOB": "binary",
}
_JSON_KINDS = {"OBJECT": "object", "ARRAY": "array"}


@dataclass(frozen=True)
class Column:
    """One output column of a generator."""

    name: str
    """The name as declared under ``returns:``."""
    snowflake_type: str
    """The declared Snowflake type, e.g. ``NUMBER`` or ``VARIANT``."""
    duckdb_type: str
    """The local DuckDB type, e.g. ``BIGINT`` or ``JSON``."""
    kind: str
    """Which Python values fit (see the module docstring)."""

    @property
    def sql_name(self) -> str:
        """The quoted column name of the local table: the declared name resolved (engine.names)."""
        return names.duckdb(names.key(self.name))


def duckdb_type(snowflake_type: str) -> str:
    """The DuckDB type a Snowflake column type is stored as locally (``number`` -> ``BIGINT``).

    Raises:
        ValueError: the type has no local equivalent.
    """
    try:
        return duckdb_type_name(parse_snowflake_type(snowflake_type))
    except Untranslatable as exc:
        raise ValueError(f"{exc.construct} has no local DuckDB type") from None


def column(name: str, snowflake_type: str) -> Column:
    """The :class:`Column` for a ``returns:`` entry.

    Raises:
        ValueError: the type has no local equivalent.
    """
    local = duckdb_type(snowflake_type)
    if local == "JSON":
        kind = _JSON_KINDS.get(snowflake_type.split("(")[0].strip().upper(), "variant")
    elif local.startswith("DECIMAL"):
        kind = "decimal"
    else:
        kind = _KIND_OF_DUCKDB[local]
    return Column(name, snowflake_type, local, kind)


def loadable(col: Column, value: Any) -> Any:
    """``value`` as DuckDB loads it into ``col``: JSON kinds become JSON text.

    Raises:
        ValueError: the value does not fit the column; the message says why.
    """
    if value is None:
        return None
    return _CONVERTERS[col.kind](value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise ValueError(_expected("an integer", value))
    if not isinstance(value, int):
        if not value == value or value in (float("inf"), float("-inf")) or value != int(value):
            raise ValueError(f"{value!r} is not a whole number")
        value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} does not fit a 64-bit integer (BIGINT), the local type of NUMBER")
    return value


def _decimal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise ValueError(_expected("a number", value))
    return str(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise ValueError(_expected("a number", value))
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(_expected("a string", value))
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_expected("a bool", value))
    return value


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _parse_iso(dt.date, value, "a date")


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    return _parse_iso(dt.time, value, "a time")


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return _parse_iso(dt.datetime, value, "a datetime")


def _parse_iso(kind: type, value: Any, expected: str) -> Any:
    if not isinstance(value, str):
        raise ValueError(_expected(f"{expected} or an ISO-8601 string", value))
    try:
        return kind.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 {kind.__name__}") from None


def _binary(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(_expected("bytes", value))
    return bytes(value)


def json_text(value: Any) -> str:
    """``value`` as compact JSON, written the way DuckDB's ``json_object`` writes it.

    Raises:
        ValueError: JSON cannot hold the value (a datetime, a set, NaN, ...).
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON-serialisable for a VARIANT: {exc}") from None


def _object(value: Any) -> str:
    if not isinstance(value, dict):
        raise ValueError(_expected("a dict", value))
    return json_text(value)


def _array(value: Any) -> str:
    if not isinstance(value, (list, tuple)):
        raise ValueError(_expected("a list", value))
    return json_text(list(value))


def _expected(what: str, value: Any) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"expected {what}, got {type(value).__name__} {shown}"


_CONVERTERS = {
    "integer": _integer,
    "decimal": _decimal,
    "float": _float,
    "text": _text,
    "boolean": _boolean,
    "date": _date,
    "time": _time,
    "timestamp": _timestamp,
    "binary": _binary,
    "variant": json_text,
    "object": _object,
    "array": _array,
}


def coerce_argument(name: str, snowflake_type: str, value: Any) -> Any:
    """A generator argument as Snowflake hands it to ``process`` (NUMBER -> int, ...).

    Arguments may arrive as text (``"{{ records }}"`` rendered) or as YAML numbers.

    Raises:
        ValueError: the value cannot be the declared type.
    """
    kind = column(name, snowflake_type).kind
    if value is None:
        return None
    try:
        if kind == "integer":
            return _integer(decimal.Decimal(value.strip()) if isinstance(value, str) else value)
        if kind == "decimal":
            return decimal.Decimal(str(value))
        if kind == "float":
            return float(value)
        if kind == "text":
            return str(value)
    except (ValueError, decimal.InvalidOperation):
        raise ValueError(f"argument {name} ({snowflake_type}): {value!r} is not a {kind} value") from None
    return value
