"""The fast path: a handler's ``process_columns`` result, checked and turned into a DuckDB SELECT.

A handler may offer ``process_columns(self, *args)`` beside ``process``: the same rows, in the
same order, as NumPy columns. It returns ``{column: value}`` for every ``returns:`` column
(names case-insensitive), or yields such dicts as consecutive chunks of the rows (so that a
large call holds one chunk in memory at a time), where each value is

* a 1-D NumPy array (masked entries are NULL): integers for NUMBER, floats for FLOAT,
  ``bool`` for BOOLEAN, ``datetime64`` for DATE and TIMESTAMP, ``object`` arrays of ``str``
  (or None) for VARCHAR;
* for a VARIANT or OBJECT column, a dict ``{field: array}``: each row becomes the JSON object
  of those fields, in that order. Field arrays may hold numbers, bools, strings (object arrays)
  or ``datetime64[s]``/``datetime64[D]``, written as ``datetime.isoformat()`` writes them.

Checks here are vectorised; a problem is reported with the first row it affects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine import names
from engine.generators.values import INT64_MAX, Column

_ISO_FORMATS = {"s": "%Y-%m-%dT%H:%M:%S", "D": "%Y-%m-%d"}
_ACCEPTED = {
    "integer": "iu",
    "decimal": "iuf",
    "float": "iuf",
    "boolean": "b",
    "date": "M",
    "timestamp": "M",
    "text": "OU",
}


class ColumnProblem(ValueError):
    """A fast-path column does not fit; ``row`` is 1-based, or None when it is not row-specific."""

    def __init__(self, message: str, *, column: str | None = None, row: int | None = None):
        super().__init__(message)
        self.column = column
        self.row = row


@dataclass
class ColumnarSelect:
    """NumPy arrays to register as a DuckDB view and the SELECT list building the rows from them."""

    rows: int = 0
    arrays: dict[str, Any] = field(default_factory=dict)
    expressions: list[str] = field(default_factory=list)
    datetime_units: dict[str, str] = field(default_factory=dict)
    """The datetime64 unit each datetime array had (DuckDB reads days as seconds)."""


def columnar_select(columns: list[Column], result: Any) -> ColumnarSelect:
    """Check a ``process_columns`` result against the generator's columns.

    Raises:
        ColumnProblem: a column is missing, unexpected, of the wrong type or length.
    """
    if not isinstance(result, dict):
        raise ColumnProblem(f"process_columns must return a dict of columns, got {type(result).__name__}")
    expected = {names.key(c.name) for c in columns}
    # a key names a column as Snowflake resolves it (member_id is MEMBER_ID), or exactly (Montant)
    by_name = {str(key) if str(key) in expected else names.key(str(key)): key for key in result}
    if set(by_name) != expected:
        missing, extra = sorted(expected - set(by_name)), sorted(set(by_name) - expected)
        raise ColumnProblem(f"process_columns returned the wrong columns (missing: {missing}, unexpected: {extra})")
    select = ColumnarSelect(rows=-1)
    for i, col in enumerate(columns):
        value = result[by_name[names.key(col.name)]]
        if col.kind in ("variant", "object"):
            select.expressions.append(_json_object(select, f"c{i}", col, value))
        else:
            select.expressions.append(f"CAST({_add(select, f'c{i}', col, value, _ACCEPTED.get(col.kind))} "
                                      f"AS {col.duckdb_type})")
    select.rows = max(select.rows, 0)
    return select


def _json_object(select: ColumnarSelect, prefix: str, col: Column, fields: Any) -> str:
    if not isinstance(fields, dict):
        raise ColumnProblem(
            f"a {col.snowflake_type} column must be a dict of field arrays, got {type(fields).__name__}",
            column=col.name,
        )
    parts = []
    for j, (key, array) in enumerate(fields.items()):
        source = _add(select, f"{prefix}_{j}", col, array, "iufbOUM", field=str(key))
        unit = select.datetime_units.get(source)
        if unit is not None:
            if unit not in _ISO_FORMATS:
                raise ColumnProblem(f"datetime64[{unit}] in a VARIANT: use datetime64[s] or datetime64[D]",
                                    column=f"{col.name}.{key}")
            source = f"strftime(CAST({source} AS TIMESTAMP), '{_ISO_FORMATS[unit]}')"
        parts.append(f"{_literal(str(key))}, {source}")
    return f"json_object({', '.join(parts)})"


def _add(select: ColumnarSelect, source: str, col: Column, array: Any, kinds: str | None, *, field=None) -> str:
    """Check ``array`` and register it under ``source``; return the name to select."""
    import numpy as np

    where = f"{col.name}.{field}" if field is not None else col.name
    if kinds is None:
        raise ColumnProblem(f"the fast path does not support {col.snowflake_type} columns", column=where)
    if not isinstance(array, np.ndarray) or array.ndim != 1:
        raise ColumnProblem(f"expected a 1-D NumPy array, got {type(array).__name__}", column=where)
    if select.rows >= 0 and len(array) != select.rows:
        raise ColumnProblem(f"has {len(array)} rows, the columns before it {select.rows}", column=where)
    select.rows = len(array)
    if array.dtype.kind not in kinds:
        raise ColumnProblem(f"a {array.dtype} array does not fit {col.snowflake_type}", column=where, row=1)
    if array.dtype.kind == "U":  # DuckDB would read a fixed-width string array as an ENUM
        array = array.astype(object)
    _check_values(np, array, where)
    if array.dtype.kind == "M":
        select.datetime_units[source] = np.datetime_data(array.dtype)[0]
        if select.datetime_units[source] == "D":  # DuckDB cannot scan datetime64[D]
            array = array.astype("datetime64[s]")
    select.arrays[source] = array
    return source


def _check_values(np, array, where: str) -> None:
    data = np.ma.getdata(array)
    if data.dtype.kind == "u" and len(data) and data.max() > INT64_MAX:
        row = int(np.argmax(data > INT64_MAX)) + 1
        raise ColumnProblem(f"{data[row - 1]} does not fit a 64-bit integer", column=where, row=row)
    if data.dtype.kind == "M" and np.datetime_data(data.dtype)[0] not in ("s", "D", "ms", "us", "ns"):
        raise ColumnProblem(f"unsupported datetime unit in {data.dtype}", column=where)
    if data.dtype.kind == "O":
        masked = np.ma.getmaskarray(array) if isinstance(array, np.ma.MaskedArray) else None
        for row, value in enumerate(data.tolist(), 1):
            if value is not None and type(value) is not str and (masked is None or not masked[row - 1]):
                raise ColumnProblem(f"expected str or None, got {type(value).__name__} {value!r:.40}",
                                    column=where, row=row)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
