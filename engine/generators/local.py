"""Running generators locally: the UDTF path (rows, as Snowflake runs them) and the fast path.

The UDTF path instantiates the handler class and iterates ``process(*args)``, exactly as a
Snowflake UDTF does. The fast path calls ``process_columns(*args)`` when the handler offers it
(see :mod:`engine.generators.columnar`) and loads NumPy columns in one statement.

``SEED`` (and ``NOW`` when given) are module globals; they are set under a lock only while a
handler starts, and handlers read them when ``process`` starts.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import duckdb

from engine import names as identifiers
from engine.errors import BackendError, Location, did_you_mean
from engine.generators.columnar import ColumnarSelect, ColumnProblem, columnar_select
from engine.generators.load import LoadError, insert_columns, insert_rows
from engine.generators.modules import error_location, find_generator, load_module, module_path
from engine.generators.values import Column, coerce_argument, column, loadable
from engine.spec.model import Pipeline

_start_lock = threading.RLock()
_END = object()


@dataclass(frozen=True)
class _Call:
    """One generator call: its module, handler class, output columns and coerced arguments."""

    name: str
    module: types.ModuleType
    handler: type
    columns: list[Column]
    args: list[Any]
    path: Path

    def error(self, problem: str, *, row: int | None = None, column: str | None = None,
              cause: BaseException | None = None, hint: str | None = None) -> BackendError:
        """A BackendError saying ``generator NAME[, row N][, column C]: problem``."""
        where = "".join([f", row {row}" if row else "", f", column {column}" if column else ""])
        location = error_location(self.path, cause) if cause is not None else Location(str(self.path))
        return BackendError(f"generator {self.name}{where}: {problem}", location=location, hint=hint)


def generator_columns(pipeline: Pipeline, generator_name: str) -> list[Column]:
    """The generator's output columns with their local DuckDB types, in ``returns:`` order.

    Raises:
        BackendError: unknown generator, or a type with no local equivalent.
    """
    name, generator = find_generator(pipeline, generator_name)
    try:
        return [column(col, sf_type) for col, sf_type in generator.returns.items()]
    except ValueError as exc:
        raise BackendError(f"generator {name}: {exc}", location=pipeline.locate("generators", name, "returns"),
                           hint="return VARCHAR or VARIANT instead") from None


def generate_rows(pipeline: Pipeline, generator_name: str, args: list, *, seed: int | None,
                  now: datetime | None = None) -> Iterator[tuple]:
    """Run the generator as its Snowflake UDTF would, yielding one tuple per row.

    VARIANT values are what the handler yields (dicts, lists...). The handler starts (and
    reads ``SEED``/``NOW``) before this returns.

    Args:
        pipeline: the pipeline declaring the generator.
        generator_name: its name, case-insensitive.
        args: its arguments, in declaration order.
        seed: the value of the module's ``SEED`` for this call.
        now: if given, the module's ``NOW`` for this call (else the module's own value).

    Raises:
        BackendError: unknown generator, bad arguments, a handler that raises, a row of the
            wrong width or a value that does not fit its column, naming the row.
    """
    call = _prepare(pipeline, generator_name, args)
    rows = _started(call, seed, now)
    return (_checked(call, number, row, convert=False) for number, row in enumerate(rows, 1))


def insert_generated(con: duckdb.DuckDBPyConnection, table: str, pipeline: Pipeline, generator_name: str,
                     args: list, *, seed: int | None, order_by: Sequence[str] = (), now: datetime | None = None,
                     fast: bool = True) -> int:
    """Append the generator's rows to the existing DuckDB table ``table``.

    The table's columns are the generator's ``returns:`` names resolved (engine.names), typed as
    :func:`generator_columns` says. Rows are loaded in bulk; if the generator fails, nothing
    is inserted, except the earlier chunks of a ``process_columns`` that yields several, which
    the caller's transaction rolls back (apply and stream batches run in one).

    Args:
        con: the DuckDB connection.
        table: the target table (``NAME`` or ``SCHEMA.NAME``).
        pipeline: the pipeline declaring the generator.
        generator_name: its name, case-insensitive.
        args: its arguments, in declaration order.
        seed: the module's ``SEED`` for this call.
        order_by: output columns to insert the rows in the order of.
        now: if given, the module's ``NOW`` for this call.
        fast: use the handler's ``process_columns`` when it has one (the rows are the same).

    Returns:
        The number of rows inserted.

    Raises:
        BackendError: as :func:`generate_rows`, or DuckDB refused the rows.
    """
    call = _prepare(pipeline, generator_name, args)
    order = _order_positions(call, order_by)
    try:
        if fast and callable(getattr(call.handler, "process_columns", None)):
            return insert_columns(con, table, call.columns, _column_chunks(call, seed, now), order)
        rows = (_checked(call, number, row, convert=True) for number, row in enumerate(_started(call, seed, now), 1))
        return insert_rows(con, table, call.columns, rows, order)
    except LoadError as exc:
        raise call.error(f"loading its rows into {table} failed: {exc}",
                         hint=f"create {table} with the generator's columns and their local types") from exc


def _prepare(pipeline: Pipeline, generator_name: str, args: list) -> _Call:
    name, generator = find_generator(pipeline, generator_name)
    columns = generator_columns(pipeline, generator_name)
    module = load_module(pipeline, generator_name)
    path = module_path(pipeline, generator_name)
    handler = getattr(module, generator.handler, None)
    if not isinstance(handler, type):
        raise BackendError(f"generator {name}: {generator.module} has no handler class {generator.handler}",
                           location=Location(str(path)))
    if len(args) != len(generator.args):
        raise BackendError(
            f"generator {name} takes {len(generator.args)} argument(s) ({', '.join(generator.args)}) "
            f"but {len(args)} given",
            location=pipeline.locate("generators", name, "args"),
        )
    try:
        coerced = [coerce_argument(arg, sf_type, value) for (arg, sf_type), value in zip(generator.args.items(), args)]
    except ValueError as exc:
        raise BackendError(f"generator {name}: {exc}", location=pipeline.locate("generators", name, "args")) from None
    return _Call(name, module, handler, columns, coerced, path)


@contextmanager
def _module_globals(module: types.ModuleType, seed: int | None, now: datetime | None):
    """Set ``SEED`` (and ``NOW``) while a handler starts; restore them afterwards."""
    with _start_lock:
        saved = module.__dict__.get("SEED"), module.__dict__.get("NOW")
        module.SEED = seed
        if now is not None:
            module.NOW = now
        try:
            yield
        finally:
            module.SEED = saved[0]
            if now is not None:
                module.NOW = saved[1]


def _started(call: _Call, seed: int | None, now: datetime | None) -> Iterator[Any]:
    """The handler's rows, its first one already produced with SEED and NOW set."""
    rows = _handler_rows(call)
    with _module_globals(call.module, seed, now):
        first = next(rows, _END)
    return iter(()) if first is _END else chain([first], rows)


def _handler_rows(call: _Call) -> Iterator[Any]:
    """``process(*args)`` of a new handler, its exceptions turned into BackendErrors naming the row."""
    try:
        handler = call.handler()
    except Exception as exc:
        raise call.error(f"{call.handler.__name__}() raised {type(exc).__name__}: {exc}", cause=exc) from exc
    produced = 0
    try:
        for row in handler.process(*call.args):
            yield row
            produced += 1
    except Exception as exc:
        raise call.error(f"process raised {type(exc).__name__}: {exc}", row=produced + 1, cause=exc,
                         hint="fix the handler's process method") from exc


def _checked(call: _Call, number: int, row: Any, *, convert: bool) -> tuple:
    """``row`` after checking its width and values; with ``convert``, as DuckDB loads it."""
    if not isinstance(row, (tuple, list)):
        raise call.error(f"yielded a {type(row).__name__}, not a tuple", row=number,
                         hint="process must yield one tuple per row")
    if len(row) != len(call.columns):
        names = ", ".join(c.name for c in call.columns)
        raise call.error(f"{len(row)} values for {len(call.columns)} columns ({names})", row=number,
                         hint="yield one value per returns: column, in order")
    values = []
    for col, value in zip(call.columns, row):
        try:
            values.append(loadable(col, value))
        except ValueError as exc:
            raise call.error(f"{exc}", row=number, column=f"{col.name} ({col.snowflake_type})",
                             hint=f"yield a value that fits {col.snowflake_type}") from None
    return tuple(values) if convert else tuple(row)


def _column_chunks(call: _Call, seed: int | None, now: datetime | None) -> Iterator[ColumnarSelect]:
    """``process_columns``'s result, checked chunk by chunk.

    It returns either one dict of columns or an iterator of them (e.g. a generator function
    yielding whole sessions a million rows at a time), so that a large call never holds all
    its rows in memory. The first chunk is produced with SEED and NOW set; a problem names its
    row counted from the call's first row.
    """
    results = _process_columns(call)
    with _module_globals(call.module, seed, now):
        first = next(results, _END)
    if first is _END:
        return
    before = 0
    for result in chain([first], results):
        try:
            select = columnar_select(call.columns, result)
        except ColumnProblem as problem:
            row = before + problem.row if problem.row else None
            raise call.error(f"process_columns: {problem}", row=row, column=problem.column,
                             hint="process_columns must return the rows of process as NumPy columns") from None
        before += select.rows
        yield select


def _process_columns(call: _Call) -> Iterator[Any]:
    """The chunks ``process_columns(*args)`` of a new handler gives, its exceptions as BackendErrors."""
    try:
        result = call.handler().process_columns(*call.args)
        if isinstance(result, Iterator):
            yield from result
        else:
            yield result
    except Exception as exc:
        raise call.error(f"process_columns raised {type(exc).__name__}: {exc}", cause=exc) from exc


def _order_positions(call: _Call, order_by: Sequence[str]) -> list[int]:
    names = [identifiers.key(c.name) for c in call.columns]
    positions = []
    for name in order_by:
        if identifiers.key(name) not in names:
            raise BackendError(f"generator {call.name} has no column {name} to order by",
                               hint=did_you_mean(name, names) or f"columns: {', '.join(map(identifiers.shown, names))}")
        positions.append(names.index(identifiers.key(name)) + 1)
    return positions
