"""What the file declares: every check with its table, and validation of checks and unit tests.

A check names columns of the table it guards, maybe another table (``relationships``) and maybe
a query (``sql``); a unit test names a dynamic table and its inputs. All of these must exist,
and the errors point at the YAML value at fault (file:line:col).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine import names
from engine.errors import SpecError, SqlError, did_you_mean
from engine.spec.checks import Check, CheckKind, UnitTest, as_rows

SECTIONS = {"table": "tables", "dynamic_table": "dynamic_tables"}


@dataclass(frozen=True)
class DeclaredCheck:
    """One check as declared: its table, its position in the table's list, and the spec."""

    table: str
    index: int
    check: Check
    section: str  # "tables" or "dynamic_tables"

    @property
    def name(self) -> str:
        """The check's name, unique within its table."""
        return self.check.label()

    @property
    def key(self) -> str:
        """The check's name as names are compared (:func:`check_key`)."""
        return check_key(self.name)

    @property
    def path(self) -> tuple:
        """Where the check is in the file."""
        return (self.section, self.table, "checks", self.index)


_DERIVED = re.compile(r"([A-Za-z_]+)\((.*)\)", re.DOTALL)  # a derived check name: kind(columns)


def check_key(name: str) -> str:
    """A check's name as compared: a declared one as an identifier (``Amount_OK`` is ``AMOUNT_OK``),
    a derived one with its kind upper-cased and each column resolved (``not_null(member_id)`` is
    ``NOT_NULL(MEMBER_ID)``, ``not_null("Région")`` keeps ``Région``)."""
    derived = _DERIVED.fullmatch(name.strip())
    if derived is None:
        return names.key(name)
    kind, columns = derived.groups()
    return f"{names.upper(kind)}({', '.join(names.key(c) for c in names.split(columns))})"


def declared_checks(pipeline, names=()) -> list[DeclaredCheck]:
    """Every check of the pipeline (only those of tables in ``names``, or named in it, when given)."""
    wanted = {check_key(n) for n in names} | set(names)  # resolved, or a stored name as typed
    found = []
    for section, objects in (("tables", pipeline.tables), ("dynamic_tables", pipeline.dynamic_tables)):
        for table, spec in objects.items():
            for index, check in enumerate(spec.checks):
                item = DeclaredCheck(table, index, check, section)
                if not wanted or table in wanted or item.key in wanted:
                    found.append(item)
    return found


def output_columns(graph, name: str) -> list[str] | None:
    """The column names of table ``name`` (resolved: engine.names), or None when they cannot be known (an external
    table declared without columns, a query selecting ``*`` from one): the graph's catalog, with
    dynamic tables' columns as their compiled queries infer them."""
    columns = graph.types().get(names.key(name))
    return None if columns is None else list(columns)


def check_declarations(pipeline, graph) -> None:
    """Raise SpecError for the first check or unit test naming something that does not exist
    (dynamic tables' columns as ``graph``'s compiled queries infer them)."""
    seen: dict[tuple[str, str], DeclaredCheck] = {}
    for item in declared_checks(pipeline):
        key = (item.table, item.key)
        if key in seen:
            raise SpecError(
                f"{item.table} has two checks named {item.name}",
                location=_locate(pipeline, *item.path),
                hint="give one of them another name: with name:",
            )
        seen[key] = item
        _check_one(pipeline, item, graph)
    from engine.checks.files import test_owners  # the file's tests, then those of tests/*.yaml beside it

    for owner in test_owners(pipeline):
        for index, test in enumerate(owner.tests):
            _check_unit_test(owner, index, test, graph)


def _locate(pipeline, *path, key: bool = False, **kwargs):
    source = pipeline.source
    if key and source is not None:  # point at the key itself (a name), not its value
        return source.locate(source.resolve_names(path), key=True, table=kwargs.get("table"))
    return pipeline.locate(*path, **kwargs)


def _check_one(pipeline, item: DeclaredCheck, graph) -> None:
    check, path = item.check, item.path
    kind = check.kind
    columns = output_columns(graph, item.table)
    if kind in (CheckKind.not_null, CheckKind.unique):
        for i, column in enumerate(getattr(check, kind.value)):
            where = (*path, kind.value, i) if _is_list(pipeline, (*path, kind.value)) else (*path, kind.value)
            _known_column(pipeline, item.table, column, columns, where)
    elif kind is CheckKind.accepted_values:
        _known_column(pipeline, item.table, check.accepted_values.column, columns, (*path, kind.value, "column"))
    elif kind is CheckKind.relationships:
        rel = check.relationships
        _known_column(pipeline, item.table, rel.column, columns, (*path, kind.value, "column"))
        target = names.key(rel.to)
        if target not in pipeline.object_names:
            raise SpecError(
                f"relationships.to names {rel.to}, which is not a table of this pipeline",
                location=_locate(pipeline, *path, kind.value, "to", table=item.table),
                hint=did_you_mean(rel.to, pipeline.object_names) or "name a table or dynamic table of the file",
            )
        _known_column(pipeline, target, rel.field or rel.column, output_columns(graph, target),
                      (*path, kind.value, "field" if rel.field else "column"))
    elif kind is CheckKind.freshness:
        if check.freshness.column:
            _known_column(pipeline, item.table, check.freshness.column, columns, (*path, kind.value, "column"))
        elif item.section != "dynamic_tables":
            raise SpecError(
                f"freshness on base table {item.table} needs a column",
                location=_locate(pipeline, *path, kind.value, table=item.table),
                hint="name a timestamp column: freshness: {max_lag: '1 hour', column: loaded_at}",
            )
    elif kind is CheckKind.sql:
        _check_sql(pipeline, item)


def _is_list(pipeline, path: tuple) -> bool:
    source = pipeline.source
    return source is not None and source.resolve_names((*path, 0)) in source.positions


def _known_column(pipeline, table: str, column: str, columns: list[str] | None, path: tuple, key=False) -> None:
    if columns is None or names.key(column) in columns:
        return
    raise SpecError(
        f"{table} has no column {column}",
        location=_locate(pipeline, *path, table=table, key=key),
        hint=did_you_mean(column, columns) or f"columns: {', '.join(names.shown(c) for c in columns)}",
    )


def _check_sql(pipeline, item: DeclaredCheck) -> None:
    """A custom check is one query that parses and reads only tables of the pipeline."""
    from engine.sql.recall import table_refs  # kept in the cache: a known query is not parsed again

    sql_path = (*item.path, "sql")
    try:
        refs = table_refs(item.check.sql, {})
    except SqlError as exc:
        exc.message = exc.message.replace("a dynamic table's SQL", "a check's SQL")
        exc.location = _locate(pipeline, *sql_path, table=item.table, sql_line=exc.sql_line, sql_column=exc.sql_column)
        exc.hint = exc.hint if exc.hint != "write a SELECT" else "write a SELECT returning the offending rows"
        raise
    for ref in refs:
        if ref.name not in pipeline.object_names:
            raise SpecError(
                f"unknown table {ref.written} in the SQL of check {item.name} on {item.table}",
                location=_locate(pipeline, *sql_path, table=item.table, sql_line=ref.line, sql_column=ref.column),
                hint=did_you_mean(ref.name, pipeline.object_names) or "a check reads tables of this pipeline",
            )


def _check_unit_test(pipeline, index: int, test: UnitTest, graph) -> None:
    path = ("tests", index)
    name = names.key(test.table)
    if name not in pipeline.dynamic_tables:
        raise SpecError(
            f"unit test {test.name}: {test.table} is not a dynamic table of this pipeline",
            location=_locate(pipeline, *path, "table"),
            hint=did_you_mean(test.table, pipeline.dynamic_tables) or "name a dynamic table",
        )
    compiled = graph.queries.get(name)
    if compiled is None:
        return  # its SQL did not parse: the graph reports it
    inputs = {r.name for r in compiled.reads}
    for given in test.given:
        if names.key(given) not in inputs:
            raise SpecError(
                f"unit test {test.name}: {name} does not read {given}",
                location=_locate(pipeline, *path, "given", given, key=True),
                hint=did_you_mean(given, inputs) or f"its inputs: {', '.join(sorted(inputs))}",
            )
    for what, rows, table in [("expect", test.expect, name)] + [
        (f"given.{g}", r, names.key(g)) for g, r in test.given.items()
    ]:
        columns = output_columns(graph, table)
        for i, row in enumerate(as_rows(rows).rows or []):
            for column in row:
                where = (*path, *what.split("."), i, column)
                _known_column(pipeline, table, str(column), columns, where, key=True)
