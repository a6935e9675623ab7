"""Query unit tests: given rows for a dynamic table's inputs, the rows its query must return.

Each test runs on a throwaway in-memory database holding only the table under test and its
inputs (an upstream dynamic table becomes a plain table of the same columns). The local engine
builds it as it builds any pipeline, then:

1. the first half of each input's given rows is inserted and the table refreshed (the earlier
   state), then the second half inserted as a change and the table refreshed again, as the
   scheduler would: incrementally when the query allows it;
2. the table's rows must equal the full computation of its query on all the given rows (the
   dynamic-table invariant), and the expected rows (only the columns the test names, in any order).
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from engine import names as identifiers
from engine.errors import PipeError, SpecError
from engine.spec.checks import UnitTest, as_rows


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


@dataclass(frozen=True)
class UnitResult:
    """The outcome of one unit test."""

    name: str
    table: str
    passed: bool
    missing: list[dict] = field(default_factory=list)  # expected rows not returned
    unexpected: list[dict] = field(default_factory=list)  # returned rows not expected
    incremental: str | None = None  # how the incremental result differed from the full one
    refresh_actions: list[str] = field(default_factory=list)
    milliseconds: float = 0.0
    error: str | None = None

    def diff(self) -> str:
        """A readable row diff: ``- expected row`` (missing), ``+ returned row`` (unexpected)."""
        lines = [f"- {_show(r)}" for r in self.missing] + [f"+ {_show(r)}" for r in self.unexpected]
        if self.incremental:
            lines.append(f"! {self.incremental}")
        if self.error:
            lines.append(f"! {self.error}")
        return "\n".join(lines)

    def as_row(self) -> dict:
        return {
            "test": self.name, "table": self.table, "passed": self.passed, "missing": self.missing,
            "unexpected": self.unexpected, "incremental": self.incremental,
            "refresh_actions": self.refresh_actions, "milliseconds": round(self.milliseconds, 1), "error": self.error,
        }


def run_unit_tests(project, names=()) -> list[UnitResult]:
    """Run the pipeline's unit tests (only those named, or testing a table named, when given)."""
    from engine.checks.files import test_owners

    wanted = {identifiers.key(n) for n in names} | set(names)  # resolved, or a stored name as typed
    results = []
    for owner in test_owners(project.pipeline):  # the file's tests, then those of tests/*.yaml
        for index, test in enumerate(owner.tests):
            if wanted and identifiers.key(test.name) not in wanted and identifiers.key(test.table) not in wanted:
                continue
            results.append(run_unit_test(project, index, test, owner))
    return results


def run_unit_test(project, index: int, test: UnitTest, owner=None) -> UnitResult:
    """Run one unit test on a throwaway in-memory database. ``owner`` is where the test is
    declared (the pipeline, or a tests file beside it): its rows' CSV files are relative to it."""
    owner = owner or project.pipeline
    start = time.perf_counter()
    name = identifiers.key(test.table)
    try:
        given = {identifiers.key(t): _rows(owner, rows, ("tests", index, "given", t)) for t, rows in test.given.items()}
        expected = _rows(owner, test.expect, ("tests", index, "expect"))
        with _scratch(project, name) as backend:
            actions = _fill(backend, name, given)
            actual_all, full_all = _contents(backend, name)
    except PipeError as exc:
        return UnitResult(test.name, name, False, error=str(exc), milliseconds=_ms(start))
    incremental = None
    # Only an incremental refresh can drift from the query; a full one is the query (and a query
    # reading CURRENT_TIMESTAMP would differ from a second evaluation anyway).
    if "INCREMENTAL" in actions and Counter(map(_canon_row, actual_all)) != Counter(map(_canon_row, full_all)):
        incremental = (
            f"after {' then '.join(actions)} refreshes the table holds {len(actual_all)} row(s) that differ "
            f"from its query computed in full ({len(full_all)} row(s))"
        )
    columns = list(dict.fromkeys(identifiers.key(str(c)) for row in expected for c in row))
    actual = [{c: row.get(c) for c in columns} for row in actual_all]
    expected = [{c: _get(r, c) for c in columns} for r in expected]
    missing, unexpected = _difference(expected, actual, columns)
    passed = not missing and not unexpected and incremental is None
    return UnitResult(test.name, name, passed, missing, unexpected, incremental, actions, _ms(start))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _rows(pipeline, rows, path: tuple) -> list[dict]:
    rows = as_rows(rows)
    if rows.rows is not None:
        return [dict(r) for r in rows.rows]
    file = Path(pipeline.base_dir or ".") / rows.csv
    try:
        with open(file, newline="", encoding="utf-8") as handle:
            return [{k: (None if v == "" else v) for k, v in r.items()} for r in csv.DictReader(handle)]
    except OSError as exc:
        raise SpecError(
            f"cannot read {rows.csv}: {exc.strerror or exc}", location=pipeline.locate(*path),
            hint="CSV paths are relative to the file declaring the test",
        ) from None


class _scratch:
    """A local backend on an in-memory database holding ``name`` and its inputs."""

    def __init__(self, project, name: str):
        self.project, self.name = project, name

    def __enter__(self):
        from engine.backends.local import LocalBackend
        from engine.graph import build_graph
        from engine.planner import build_plan
        from engine.report import Silent

        graph = build_graph(_sub_pipeline(self.project, self.name))
        self.backend = LocalBackend(graph, db=":memory:")
        self.backend.apply(build_plan(graph, self.backend.read_state(), target="local"), Silent())
        return self.backend

    def __exit__(self, *exc):
        self.backend.close()


def _sub_pipeline(project, name: str):
    """A pipeline of ``name`` alone, its inputs as empty tables of the same columns."""
    from engine.spec.model import Pipeline

    pipeline = project.pipeline
    inputs = project.graph.upstream(name)
    types = _input_types(project, inputs)
    dt = pipeline.dynamic_tables[name].model_dump(exclude={"checks"}, exclude_none=True)
    target = {k: identifiers.sql(v) for k, v in pipeline.snowflake.model_dump(by_alias=True).items()}
    data = {  # names written as a file writes them: the model resolves them again
        "version": 1,
        "name": "unit_" + re.sub(r"[^A-Za-z0-9_]", "_", name.lower()),
        "snowflake": target,
        "tables": {identifiers.sql(t): {"columns": types[t]} for t in inputs},
        "dynamic_tables": {identifiers.sql(name): dt},
    }
    return Pipeline.model_validate(data)


def _input_types(project, inputs: list[str]) -> dict[str, dict[str, str]]:
    """Snowflake column types of each input: declared for base tables, computed (on empty
    inputs) for dynamic tables."""
    pipeline = project.pipeline
    types: dict[str, dict[str, str]] = {}
    computed = None
    for table in inputs:
        spec = pipeline.tables.get(table)
        if spec is not None and spec.generator:
            types[table] = dict(pipeline.generator(spec.generator).returns)
        elif spec is not None and spec.columns:
            types[table] = dict(spec.columns)
        elif spec is not None:
            raise SpecError(f"{table} is external: its columns are unknown here", hint="test a table reading declared tables")
        else:
            computed = computed if computed is not None else _computed_types(project)
            types[table] = {identifiers.sql(c): t for c, t in computed[table].items()}
    return types


_TYPES: dict[int, tuple[object, dict]] = {}


def _computed_types(project) -> dict[str, dict[str, str]]:
    """Every dynamic table's output columns and types, from its query run on empty tables
    (computed once per loaded pipeline: every unit test of a run shares them)."""
    cached = _TYPES.get(id(project.pipeline))
    if cached is None or cached[0] is not project.pipeline:
        cached = _TYPES[id(project.pipeline)] = (project.pipeline, _compute_types(project))
    return cached[1]


def _compute_types(project) -> dict[str, dict[str, str]]:
    import duckdb

    from engine.sql.translate import duckdb_type, to_duckdb

    pipeline = project.pipeline
    target = pipeline.snowflake
    from engine.sql import local_functions

    con = duckdb.connect()
    try:
        local_functions.register(con)
        con.execute(f"ATTACH ':memory:' AS {_q(target.database)}")
        con.execute(f"CREATE SCHEMA {_q(target.database)}.{_q(target.schema_name)}")
        con.execute(f"USE {_q(target.database)}.{_q(target.schema_name)}")
        for table, spec in pipeline.tables.items():
            columns = pipeline.generator(spec.generator).returns if spec.generator else (spec.columns or {})
            if columns:
                body = ", ".join(f"{_q(identifiers.key(c))} {duckdb_type(t)}" for c, t in columns.items())
                con.execute(f"CREATE TABLE {_q(table)} ({body})")
        result = {}
        for name in project.graph.dynamic_tables:
            sql = to_duckdb(pipeline.dynamic_tables[name].sql, database=target.database, schema=target.schema_name)
            con.execute(f"CREATE TABLE {_q(name)} AS SELECT * FROM ({sql}) LIMIT 0")
            cursor = con.execute(f"SELECT * FROM {_q(name)} LIMIT 0")
            result[name] = {d[0]: snowflake_type(str(d[1])) for d in cursor.description}
        return result
    finally:
        con.close()


def snowflake_type(duck: str) -> str:
    """The Snowflake type a local (DuckDB) column type stands for."""
    upper = duck.upper()
    if upper.startswith("DECIMAL"):
        return "NUMBER" + upper[len("DECIMAL"):]
    if upper in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}:
        return "NUMBER"
    if upper in {"DOUBLE", "FLOAT", "REAL"}:
        return "FLOAT"
    if upper in {"DATE", "BOOLEAN", "VARCHAR", "TIME"}:
        return upper
    if upper.startswith("TIMESTAMP WITH TIME ZONE"):
        return "TIMESTAMP_TZ"
    if upper.startswith("TIMESTAMP"):
        return "TIMESTAMP_NTZ"
    if upper == "JSON" or upper.endswith("[]") or upper.startswith(("STRUCT", "MAP")):
        return "VARIANT"
    return "VARCHAR"


_q = identifiers.duckdb


def _fill(backend, name: str, given: dict[str, list[dict]]) -> list[str]:
    """Insert the given rows in two halves, refreshing after each; returns the refresh actions."""
    from engine.report import Silent

    actions = []
    for half in (0, 1):
        for table, rows in given.items():
            cut = len(rows) // 2
            _insert(backend, table, rows[:cut] if half == 0 else rows[cut:])
        records = backend.refresh([name], reporter=Silent())
        actions += [r.refresh_action for r in records if r.name == name]
    return actions


def _insert(backend, table: str, rows: list[dict]) -> None:
    """Insert ``rows`` into ``table``, logged as a change like any pipe write."""
    if not rows:
        return
    store = backend.store
    con = store.con
    columns = store.columns(table)
    for row in rows:
        for key in row:
            if identifiers.key(str(key)) not in columns:
                raise SpecError(f"given rows for {identifiers.sql(table)} have a column {key} it does not have",
                                hint=f"columns: {', '.join(identifiers.shown(c) for c in columns)}")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_GIVEN AS SELECT * FROM {store.qualified(table)} LIMIT 0")
        values = [[_value(_get(row, c)) for c in columns] for row in rows]
        con.executemany(f"INSERT INTO __PIPE_GIVEN VALUES ({', '.join('?' * len(columns))})", values)
        con.execute(f"INSERT INTO {store.qualified(table)} SELECT * FROM __PIPE_GIVEN")
        backend.refresher.log.record(table, inserted="SELECT * FROM __PIPE_GIVEN")
        con.execute("COMMIT")
    except PipeError:
        con.execute("ROLLBACK")
        raise
    except Exception as exc:
        con.execute("ROLLBACK")
        first = str(exc).strip().splitlines()[0]
        raise SpecError(f"given rows for {table} do not fit its columns: {first}") from None


def _get(row: dict, column: str):
    """The value of resolved ``column`` in ``row``, whose keys are written as in the file."""
    for key, value in row.items():
        if identifiers.key(str(key)) == column:
            return value
    return None


def _value(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return value


def _contents(backend, name: str) -> tuple[list[dict], list[dict]]:
    """The table's rows, and its query's rows computed in full."""
    con = backend.store.con
    table = con.execute(f"SELECT * FROM {backend.store.qualified(name)}")
    columns = [d[0] for d in table.description]
    actual = [dict(zip(columns, r)) for r in table.fetchall()]
    full = con.execute(f"SELECT * FROM ({backend.queries[name]})")
    computed = [dict(zip(columns, r)) for r in full.fetchall()]  # the table's columns are the query's
    return actual, computed


def _difference(expected: list[dict], actual: list[dict], columns: list[str]) -> tuple[list[dict], list[dict]]:
    want = Counter(_canon_row({c: r.get(c) for c in columns}) for r in expected)
    have = Counter(_canon_row(r) for r in actual)
    missing_keys = want - have
    extra_keys = have - want
    missing = [r for r in expected if _take(missing_keys, _canon_row({c: r.get(c) for c in columns}))]
    unexpected = [r for r in actual if _take(extra_keys, _canon_row(r))]
    return missing, unexpected


def _take(counter: Counter, key) -> bool:
    if counter.get(key, 0) > 0:
        counter[key] -= 1
        return True
    return False


def _canon_row(row: dict) -> tuple:
    return tuple(sorted((str(k), _canon(v)) for k, v in row.items()))


def _canon(value):
    """A comparable form of a value: numbers by value, timestamps as text, JSON text parsed."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return round(float(value), 6)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):  # arrays compare as multisets: ARRAY_AGG has no order
        return tuple(sorted((_canon(v) for v in value), key=repr))
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canon(v)) for k, v in value.items()))
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return _canon(json.loads(text))
            except ValueError:
                return value
        if _NUMBER.match(text):  # CSV values are text
            return round(float(text), 6)
        if _TIMESTAMP.match(text):
            return text.replace("T", " ")
        return value
    return str(value)


def _show(row: dict) -> str:
    return ", ".join(f"{identifiers.shown(str(k))}={_display(_canon(v))}" for k, v in row.items())


def _display(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return "[" + ", ".join(_display(v) for v in value) + "]"
    return "null" if value is None else str(value)
