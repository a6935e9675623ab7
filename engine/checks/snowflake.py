"""Checks on Snowflake: data metric functions (DMFs) with expectations, and queries for the rest.

Each check that a system DMF can measure is deployed as an association of that DMF with the
table, with an expectation that is met when the check passes (user-guide/data-quality-expectations):

    not_null          SNOWFLAKE.CORE.NULL_COUNT ON (col), one per column      VALUE = 0
    unique            SNOWFLAKE.CORE.DUPLICATE_COUNT ON (col, …)               VALUE = 0
    accepted_values   SNOWFLAKE.CORE.ACCEPTED_VALUES ON (col, col -> …)       VALUE = 0
    row_count         SNOWFLAKE.CORE.ROW_COUNT ON ()                          min <= VALUE <= max
    freshness(column) SNOWFLAKE.CORE.FRESHNESS ON (col), DATE/TIMESTAMP_LTZ/TZ  VALUE <= seconds

``relationships``, custom ``sql``, and ``freshness`` of a dynamic table's data timestamp have no
system DMF: ``pipe test --target snowflake`` runs them as queries. pipe names every expectation
it adds ``PIPE_<hash of the association>``: an association whose expectation has that prefix is
pipe's, and is dropped when the file no longer declares it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine import names
from engine.checks.declared import DeclaredCheck, declared_checks
from engine.checks.local import ERROR, FAILED, PASSED, SAMPLE_ROWS, CheckResult
from engine.errors import BackendError
from engine.graph import DYNAMIC_TABLE, EXTERNAL
from engine.planner import Action, ActionKind, Change, ObjectState, TargetState
from engine.spec.checks import CheckKind

DMF = "data_metric_function"
PREFIX = "PIPE_"
CORE = "SNOWFLAKE.CORE."
# TRIGGER_ON_CHANGES is shown on a plain table (user-guide/data-quality-working) and "is only
# available for certain kinds of tables": dynamic tables get the interval form instead.
SCHEDULE_TABLE = "TRIGGER_ON_CHANGES"
SCHEDULE_DYNAMIC_TABLE = "5 MINUTE"
# FRESHNESS measures a column of these types (sql-reference/functions/dmf_freshness).
_FRESHNESS_TYPES = ("DATE", "TIMESTAMP_LTZ", "TIMESTAMP_TZ")


@dataclass(frozen=True)
class Binding:
    """One DMF association with one expectation, as ``ALTER TABLE … ADD DATA METRIC FUNCTION`` sets it."""

    table: str
    check: str
    function: str
    arguments: str
    expression: str

    @property
    def expectation(self) -> str:
        """``PIPE_`` and a fingerprint of the association and its expectation."""
        digest = hashlib.sha1(f"{self.function}|{self.arguments}|{self.expression}".encode()).hexdigest()
        return PREFIX + digest[:12].upper()

    @property
    def key(self) -> str:
        """The state key of the association."""
        return state_key(self.table, self.expectation)


def state_key(table: str, expectation: str) -> str:
    return f"{DMF}:{table}:{expectation}"


def bindings(graph, item: DeclaredCheck) -> list[Binding] | None:
    """The DMF associations of a check, or None when no system DMF measures it."""
    pipeline = graph.pipeline
    check, table = item.check, item.table
    kind = check.kind

    def bind(function: str, arguments: str, expression: str) -> Binding:
        return Binding(table, item.name, CORE + function, arguments, expression)

    # NULL_COUNT, DUPLICATE_COUNT and ACCEPTED_VALUES take DATE, FLOAT, NUMBER, TIMESTAMP_* and
    # VARCHAR columns only (their pages' "Allowed data types"): not VARIANT, ARRAY or OBJECT.
    if check.columns and not all(scalar_column(graph, table, c) for c in check.columns):
        return None
    if kind is CheckKind.not_null:
        return [bind("NULL_COUNT", names.sql_of(c), "VALUE = 0") for c in check.not_null]
    if kind is CheckKind.unique:
        return [bind("DUPLICATE_COUNT", ", ".join(names.sql_of(c) for c in check.unique), "VALUE = 0")]
    if kind is CheckKind.accepted_values:
        from engine.sql.render import sql_literal

        column = names.sql_of(check.accepted_values.column)
        values = ", ".join(sql_literal(v) for v in check.accepted_values.values if v is not None)
        # ACCEPTED_VALUES counts the rows not matching the lambda (dmf_accepted_values): a NULL is
        # not a value to judge, as locally, so it matches.
        return [bind("ACCEPTED_VALUES", f"{column}, {column} -> {column} IS NULL OR {column} IN ({values})", "VALUE = 0")]
    if kind is CheckKind.row_count:
        bounds = check.row_count
        parts = [f"VALUE >= {bounds.min}" if bounds.min is not None else "", f"VALUE <= {bounds.max}" if bounds.max is not None else ""]
        return [bind("ROW_COUNT", "", " AND ".join(p for p in parts if p))]
    if kind is CheckKind.freshness and check.freshness.column:
        declared = _declared_type(pipeline, table, check.freshness.column)
        if declared and declared.split("(")[0] in _FRESHNESS_TYPES:
            return [bind("FRESHNESS", names.sql_of(check.freshness.column), f"VALUE <= {int(check.freshness.seconds)}")]
    return None


_SCALAR_TYPES = {
    "NUMBER", "NUMERIC", "DECIMAL", "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT", "FLOAT",
    "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL", "VARCHAR", "STRING", "TEXT", "CHAR",
    "CHARACTER", "DATE", "DATETIME", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ",
}


def scalar_column(graph, table: str, column: str) -> bool:
    """Whether ``column`` of ``table`` holds scalars (not VARIANT, ARRAY or OBJECT), as far as the
    file tells: a base table's declared type, or a dynamic table's as its compiled query infers it
    (a type not known is not taken for a scalar)."""
    kind = graph.types().get(table, {}).get(names.key(column))
    return kind is not None and kind.split("(")[0].strip().upper() in _SCALAR_TYPES


def _declared_type(pipeline, table: str, column: str) -> str | None:
    spec = pipeline.tables.get(table)
    if spec is None:
        return None
    columns = pipeline.generator(spec.generator).returns if spec.generator else (spec.columns or {})
    return next((t.upper() for c, t in columns.items() if names.key(c) == names.key(column)), None)


def check_actions(graph, state: TargetState, actions: list[Action]) -> list[Action]:
    """The plan's DMF actions: per table, add the declared associations it lacks and drop pipe's
    that the file no longer declares. A table created or replaced by ``actions`` has none yet."""
    from engine.sql.render import render

    pipeline = graph.pipeline
    fresh = {a.name for a in actions if a.kind in (ActionKind.CREATE, ActionKind.REPLACE)}
    desired: dict[str, dict[str, Binding]] = {}
    for item in declared_checks(pipeline):
        if graph.kind(item.table) == EXTERNAL:
            continue
        for binding in bindings(graph, item) or ():
            desired.setdefault(item.table, {})[binding.key] = binding
    current: dict[str, dict[str, ObjectState]] = {}
    for key, obj in state.objects.items():
        if obj.kind == DMF and obj.name not in fresh:
            current.setdefault(obj.name, {})[key] = obj
    result = []
    for table in graph.create_order:
        want, have = desired.get(table, {}), current.get(table, {})
        if not want and not have:
            continue
        added = [b for k, b in want.items() if k not in have]
        dropped = [o for k, o in have.items() if k not in want]
        statements = [
            render("drop_data_metric_function", table=table, function=o.properties["function"], arguments=o.properties["arguments"])
            for o in dropped
        ]
        if added:
            schedule = SCHEDULE_DYNAMIC_TABLE if graph.kind(table) == DYNAMIC_TABLE else SCHEDULE_TABLE
            statements.append(render("set_data_metric_schedule", table=table, schedule=schedule))
            statements += [render("add_data_metric_function", binding=b) for b in added]
        changes = ()
        if have:  # a new association list needs no detail; a changed one lists what moves
            changes = tuple(Change(b.check, "-", _short(b.function, b.arguments)) for b in added) + tuple(
                Change("no longer declared", _short(o.properties["function"], o.properties["arguments"]), "-")
                for o in dropped
            )
        if not statements:
            kind = ActionKind.UNCHANGED
        else:
            kind = ActionKind.CREATE if not have else (ActionKind.DROP if not want else ActionKind.ALTER)
        reason = f"{len(want)} data metric function(s) with expectations" if want else "checks no longer declared"
        result.append(Action(kind, DMF, table, tuple(statements), changes, reason))
    return result


def _short(function: str, arguments: str) -> str:
    return f"{function.removeprefix(CORE)}({arguments.split(',')[0] if '->' in arguments else arguments})"


def expectations_query(target, table: str) -> str:
    """The expectations of a table's DMF associations (sql-reference/functions/data_metric_function_expectations)."""
    name = _entity(target, table)
    return (
        "SELECT METRIC_DATABASE_NAME, METRIC_SCHEMA_NAME, METRIC_NAME, REF_ARGUMENTS, EXPECTATION_NAME, "
        f"EXPECTATION_EXPRESSION FROM TABLE({names.sql(target.database)}.INFORMATION_SCHEMA.DATA_METRIC_FUNCTION_EXPECTATIONS("
        f"REF_ENTITY_NAME => {name}, REF_ENTITY_DOMAIN => 'table'))"
    )


def _entity(target, table: str) -> str:
    """The quoted literal naming ``table`` in an information-schema function's argument: a name that
    must be quoted is double-quoted inside the single quotes (data_metric_function_expectations,
    REF_ENTITY_NAME: ``'"table_name"'``)."""
    from engine.sql.render import sql_literal

    return sql_literal(names.dotted(target.database, target.schema_name, table))


def dmf_states(table: str, rows: list[dict]) -> dict[str, ObjectState]:
    """pipe's associations among a table's expectation rows (keys upper-case), as state objects."""
    import json

    found = {}
    for row in rows:
        name = str(row.get("EXPECTATION_NAME") or "")
        if not name.startswith(PREFIX):  # pipe's names are unquoted, so stored upper-case
            continue  # somebody else's: never touched
        arguments = row.get("REF_ARGUMENTS")
        if isinstance(arguments, str):
            arguments = json.loads(arguments or "[]")
        # REF_ARGUMENTS holds the columns' names as stored (resolved): written back as SQL
        columns = ", ".join(names.sql(str(a.get("name", "")) if isinstance(a, dict) else str(a)) for a in arguments or [])
        function = ".".join(str(row.get(k)) for k in ("METRIC_DATABASE_NAME", "METRIC_SCHEMA_NAME", "METRIC_NAME"))
        found[state_key(table, name)] = ObjectState(
            table, DMF, {"function": function, "arguments": columns, "expression": row.get("EXPECTATION_EXPRESSION")}
        )
    return found


# -- pipe test on Snowflake -------------------------------------------------------------------


def offending_sql(pipeline, item: DeclaredCheck) -> str | None:
    """Snowflake SQL of the rows breaking ``item`` (None for row_count and freshness)."""
    check, table = item.check, names.sql(item.table)
    kind = check.kind
    if kind is CheckKind.not_null:
        return f"SELECT * FROM {table} WHERE " + " OR ".join(f"{names.sql_of(c)} IS NULL" for c in check.not_null)
    if kind is CheckKind.unique:
        keys = ", ".join(names.sql_of(c) for c in check.unique)
        present = " AND ".join(f"{names.sql_of(c)} IS NOT NULL" for c in check.unique)
        return f"SELECT {keys}, COUNT(*) AS DUPLICATES FROM {table} WHERE {present} GROUP BY {keys} HAVING COUNT(*) > 1"
    if kind is CheckKind.accepted_values:
        from engine.sql.render import sql_literal

        column = names.sql_of(check.accepted_values.column)
        values = ", ".join(sql_literal(v) for v in check.accepted_values.values if v is not None)
        return f"SELECT * FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN ({values})"
    if kind is CheckKind.relationships:
        rel = check.relationships
        column, field = names.sql_of(rel.column), names.sql_of(rel.field or rel.column)
        return (
            f"SELECT t.* FROM {table} t WHERE t.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {names.sql_of(rel.to)} o WHERE o.{field} = t.{column})"
        )
    if kind is CheckKind.sql:
        return check.sql.strip().rstrip(";")
    return None


def run_as_queries(backend, project, checks: list[DeclaredCheck]) -> list[CheckResult]:
    """Evaluate ``checks`` on Snowflake with queries (what ``pipe test --target snowflake`` does)."""
    from engine.errors import PipeError

    pipeline = project.pipeline
    results = []
    for item in checks:
        check = item.check
        base = dict(table=item.table, check=item.name, kind=check.kind.value, severity=check.severity)
        try:
            results.append(_query_check(backend, pipeline, item, base))
        except PipeError as exc:
            results.append(CheckResult(**base, status=ERROR, message=f"the check could not run: {exc.message}"))
    return results


def _query_check(backend, pipeline, item, base) -> CheckResult:
    check = item.check
    if check.kind is CheckKind.row_count:
        rows = backend.query(f"SELECT COUNT(*) AS ROW_COUNT FROM {names.sql(item.table)}").rows[0][0]
        bounds = check.row_count
        ok = (bounds.min is None or rows >= bounds.min) and (bounds.max is None or rows <= bounds.max)
        return CheckResult(**base, status=PASSED if ok else FAILED, failing_rows=0 if ok else 1,
                           message=None if ok else f"{rows:,} rows")
    if check.kind is CheckKind.freshness:
        spec = check.freshness
        if spec.column:
            sql = f"SELECT DATEDIFF('second', MAX({names.sql_of(spec.column)}), CURRENT_TIMESTAMP()) AS AGE FROM {names.sql(item.table)}"
        else:  # the data timestamp (sql-reference/functions/dynamic_tables)
            target = pipeline.snowflake
            sql = (
                "SELECT DATEDIFF('second', DATA_TIMESTAMP, CURRENT_TIMESTAMP()) AS AGE FROM TABLE("
                f"{names.sql(target.database)}.INFORMATION_SCHEMA.DYNAMIC_TABLES(NAME => {_entity(target, item.table)}))"
            )
        rows = backend.query(sql).rows
        age = rows[0][0] if rows else None
        ok = age is not None and age <= spec.seconds
        message = None if ok else ("no data yet" if age is None else f"data is {age}s old; at most {spec.seconds:g}s allowed")
        return CheckResult(**base, status=PASSED if ok else FAILED, failing_rows=0 if ok else 1, message=message)
    sql = offending_sql(pipeline, item)
    count = backend.query(f"SELECT COUNT(*) FROM ({sql})").rows[0][0]
    sample = []
    if count:
        result = backend.query(f"SELECT * FROM ({sql}) LIMIT {SAMPLE_ROWS}")
        sample = [dict(zip(result.columns, row)) for row in result.rows]
    return CheckResult(**base, status=FAILED if count else PASSED, failing_rows=count, sample=sample)


def with_dmf_state(current: TargetState, graph, rows) -> TargetState:
    """``current`` plus pipe's DMF associations on the existing tables that declare checks.

    Args:
        rows: runs a query, returning its rows as dicts keyed by upper-case column names.
    """
    import dataclasses

    target = graph.pipeline.snowflake
    tables = {item.table for item in declared_checks(graph.pipeline) if graph.kind(item.table) != EXTERNAL}
    found = {}
    for table in graph.create_order:
        if table in tables and table in current.objects:
            try:
                answer = rows(expectations_query(target, table))
            except BackendError as exc:
                raise BackendError(
                    f"cannot read the data metric functions of {table}: {exc.message}",
                    code=exc.code,
                    hint="checks deploy as data metric functions, an Enterprise Edition feature "
                    "(user-guide/data-quality-intro); on another edition remove the checks: from the file",
                ) from exc
            found.update(dmf_states(table, answer))
    if not found:
        return current
    return dataclasses.replace(current, objects={**current.objects, **found})


def declared_dmf_state(current: TargetState, graph) -> TargetState:
    """``current`` plus the declared DMF associations of every existing table: locally, a table's
    checks take effect with it (they run after each refresh), so there is nothing to deploy."""
    import dataclasses

    found = {}
    for item in declared_checks(graph.pipeline):
        if item.table in current.objects and graph.kind(item.table) != EXTERNAL:
            for b in bindings(graph, item) or ():
                found[b.key] = ObjectState(b.table, DMF, {"function": b.function, "arguments": b.arguments, "expression": b.expression})
    return dataclasses.replace(current, objects={**current.objects, **found}) if found else current
