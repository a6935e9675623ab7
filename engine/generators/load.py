"""Bulk loading of generated rows into a DuckDB table, without per-row INSERTs.

Both paths hand DuckDB whole NumPy arrays through a registered view and run one
``INSERT … SELECT``. Rows (the UDTF path) are first gathered in chunks into ``object`` arrays
and staged in a temporary table, so that a generator failing half-way leaves the target
untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

import duckdb

from engine import names
from engine.generators.columnar import ColumnarSelect
from engine.generators.values import Column

CHUNK_ROWS = 50_000


class LoadError(Exception):
    """DuckDB refused the data; the message is DuckDB's."""


def table_sql(table: str) -> str:
    """``table`` (``NAME`` or ``SCHEMA.NAME``) as quoted SQL; text already quoted is kept."""
    if '"' in table:
        return table
    return ".".join(names.quoted(part) for part in table.split("."))


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[Column],
                   chunks: Iterable[ColumnarSelect], order: Sequence[int] = ()) -> int:
    """Insert the rows the :class:`ColumnarSelect` chunks describe into ``table``; return their number.

    Each chunk is one ``INSERT … SELECT``, so memory holds one chunk at a time. A failure in a
    later chunk leaves the earlier ones inserted: callers run this inside their transaction,
    which the failure rolls back. With ``order``, the chunks are first staged in a temporary
    table and inserted in one ordered statement.

    Raises:
        LoadError: DuckDB rejected a value (e.g. a string that is not valid JSON).
    """
    if not order:
        targets = ", ".join(c.sql_name for c in columns)
        return _insert_chunks(con, table_sql(table), f" ({targets})", chunks)
    return _staged(con, table, columns, order, lambda staging: _insert_chunks(con, staging, "", chunks))


def _insert_chunks(con: duckdb.DuckDBPyConnection, target: str, targets: str,
                   chunks: Iterable[ColumnarSelect]) -> int:
    count = 0
    for select in chunks:
        if select.rows == 0:
            continue
        _execute(con, f"INSERT INTO {target}{targets} SELECT {', '.join(select.expressions)} FROM {ARRAYS}",
                 select.arrays)
        count += select.rows
    return count


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[Column], rows: Iterable[tuple],
                order: Sequence[int] = ()) -> int:
    """Insert ``rows`` (values already made loadable, JSON as text) into ``table``; return their number.

    Exceptions raised while iterating ``rows`` propagate, and then nothing is inserted.

    Raises:
        LoadError: DuckDB rejected a value.
    """
    return _staged(con, table, columns, order, lambda staging: _stage(con, staging, columns, iter(rows)))


def _staged(con: duckdb.DuckDBPyConnection, table: str, columns: list[Column], order: Sequence[int],
            fill: Callable[[str], int]) -> int:
    """Insert into ``table``, in one statement and in ``order``, the rows ``fill`` writes to a new
    temporary table (given its name; it returns their number)."""
    staging = names.quoted(f"pipe_generated_{uuid.uuid4().hex}")
    definition = ", ".join(f"c{i} {c.duckdb_type}" for i, c in enumerate(columns))
    _execute(con, f"CREATE TEMP TABLE {staging} ({definition})")
    try:
        count = fill(staging)
        if count:
            targets = ", ".join(c.sql_name for c in columns)
            _execute(con, f"INSERT INTO {table_sql(table)} ({targets}) SELECT * FROM {staging}{_order_sql(order)}")
        return count
    finally:
        con.execute(f"DROP TABLE IF EXISTS {staging}")


def _stage(con, staging: str, columns: list[Column], rows: Iterator[tuple]) -> int:
    import numpy as np

    count = 0
    casts = ", ".join(f"CAST(c{i} AS {c.duckdb_type})" for i, c in enumerate(columns))
    while chunk := list(islice(rows, CHUNK_ROWS)):
        arrays = {}
        for i, values in enumerate(zip(*chunk)):
            array = np.empty(len(chunk), dtype=object)
            array[:] = values
            arrays[f"c{i}"] = array
        _execute(con, f"INSERT INTO {staging} SELECT {casts} FROM {ARRAYS}", arrays)
        count += len(chunk)
    return count


ARRAYS = "__pipe_arrays"
"""The name a statement reads a chunk's NumPy arrays by (see :func:`_execute`)."""


def _execute(con: duckdb.DuckDBPyConnection, sql: str, arrays: dict | None = None) -> None:
    """Run ``sql``; with ``arrays``, the statement reads them as the table :data:`ARRAYS`.

    DuckDB finds the arrays by that local name (a replacement scan) and lets go of them when
    the statement ends. A registered view would keep every chunk alive until the transaction
    commits: 100M generated rows in one apply would then all be held in memory.
    """
    __pipe_arrays = arrays  # noqa: F841 (read by DuckDB's replacement scan, by this name)
    try:
        if arrays is not None:  # found here even when the connection is wrapped
            con.execute("SET python_scan_all_frames = true")
        con.execute(sql)
    except duckdb.Error as exc:
        raise LoadError(str(exc).splitlines()[0]) from exc


def _order_sql(order: Sequence[int]) -> str:
    return f" ORDER BY {', '.join(str(p) for p in order)}" if order else ""

