"""Checks and query unit tests on quoted names (``tests/fixtures/names/quoted_checks.yaml``).

Snowflake keeps a double-quoted identifier exactly as written and upper-cases an unquoted one
(sql-reference/identifiers-syntax, mirrored in szeno/snowflake-docs at
markdown/en/sql-reference/identifiers-syntax.md): every check, its name, the rows it finds and
the statements sent to Snowflake name ``"Café Orders"``, ``"café"`` or ``"Région"`` as declared.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

import engine
from engine import names
from engine.backends.base import QueryResult
from engine.checks.declared import declared_checks
from engine.checks.run import run_tests
from engine.checks.snowflake import bindings, check_actions, dmf_states, offending_sql, run_as_queries, with_dmf_state
from engine.errors import PlanError
from engine.graph import build_graph
from engine.planner import ActionKind, ObjectState, TargetState
from engine.report import Silent
from engine.spec import load_pipeline_text

from backends.snowflake_double import check_snowflake_sql

from .conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "names"
QUOTED = FIXTURES / "quoted_checks.yaml"
# sqlglot has no grammar for ADD / DROP DATA METRIC FUNCTION: the statement's parts are parsed.
IDENTIFIER = r'(?:"(?:[^"]|"")*"|\w+)'
DMF = re.compile(
    rf"^ALTER TABLE (?P<table>{IDENTIFIER}) (?P<verb>ADD|DROP) DATA METRIC FUNCTION (?P<function>[\w.]+) "
    rf"ON \((?P<arguments>.*?)\)(?: EXPECTATION (?P<expectation>PIPE_[0-9A-F]{{12}}) \((?P<expression>.*)\))?$"
)


@pytest.fixture(scope="module")
def project():
    return engine.validate(QUOTED)


def columns_of(project, table: str) -> set[str]:
    return set(project.graph.types()[table])


def assert_names_declared(project, statement: str) -> None:
    """``statement`` is valid Snowflake SQL whose table and columns are the file's, resolved."""
    match = DMF.match(statement)
    if match is None:
        check_snowflake_sql(statement)
        table = sqlglot.parse_one(statement, read="snowflake").find(exp.Table)
        assert names.of(table) in project.pipeline.object_names, statement
        return
    table = names.of(exp.to_table(match["table"], dialect="snowflake"))
    assert table in project.pipeline.object_names, statement
    arguments = match["arguments"]
    if "->" in arguments:  # ACCEPTED_VALUES: a column and a lambda over it
        column, lam = names.split(arguments.split("->")[0])[0], arguments.split(",", 1)[1]
        assert isinstance(sqlglot.parse_one(f"SELECT F({lam})", read="snowflake").expressions[0].expressions[0], exp.Lambda)
        arguments = column
    if arguments:
        parsed = sqlglot.parse_one(f"SELECT {arguments} FROM t", read="snowflake")
        assert {names.of(c) for c in parsed.find_all(exp.Column)} <= columns_of(project, table), statement
    if match["expectation"]:  # pipe's fingerprint of the association, worked out here again
        digest = hashlib.sha1(f"{match['function']}|{match['arguments']}|{match['expression']}".encode()).hexdigest()
        assert match["expectation"] == "PIPE_" + digest[:12].upper()
        condition = sqlglot.parse_one(match["expression"], read="snowflake")
        assert {c.name for c in condition.find_all(exp.Column)} == {"VALUE"}


# -- names ----------------------------------------------------------------------------------------


def test_a_derived_check_name_keeps_a_quoted_column_as_declared(project):
    assert [(i.table, i.name) for i in declared_checks(project.pipeline)] == [
        ("Café Orders", 'not_null("café", order_id)'),
        ("Café Orders", "unique(order_id)"),
        ("Café Orders", 'accepted_values("café")'),
        ("Café Orders", 'freshness("Livré")'),
        ("Région totals", 'not_null("Région")'),
        ("Région totals", "row_count"),
        ("Ventes par café", 'unique("café")'),
        ("Ventes par café", 'relationships("café")'),
        ("Ventes par café", "row_count"),
        ("Ventes par café", "freshness"),
        ("Ventes par café", "no_zero_totals"),
    ]


def test_checks_are_picked_by_name_as_snowflake_resolves_names(project):
    def picked(*wanted):
        return [(i.table, i.name) for i in declared_checks(project.pipeline, wanted)]

    # the unquoted parts of a name are case-insensitive, the quoted ones exact
    assert picked('NOT_NULL("Région")') == picked('not_null("Région")') == [("Région totals", 'not_null("Région")')]
    assert picked('not_null("région")') == []
    assert picked('NOT_NULL("café", ORDER_ID)') == [("Café Orders", 'not_null("café", order_id)')]
    # a table named as typed in a shell (its quotes dropped) or as written in SQL
    assert picked("Région totals") == picked('"Région totals"') != []
    with pytest.raises(PlanError, match=r'not_null\("région"\) is not a table, check or unit test'):
        run_tests(project, None, ['not_null("région")'])


# -- locally --------------------------------------------------------------------------------------

ORDERS = [  # order_id, café, Montant
    (1, "noir", "2.50"), (2, "noir", "1.50"), (3, "crème", "0"), (3, "latte", "4"), (5, None, "1"),
]


def _insert_orders(backend, rows) -> None:
    values = ", ".join(
        f"({i}, {'NULL' if c is None else repr(c)}, {m}, CURRENT_TIMESTAMP())" for i, c, m in rows
    )
    backend.query(f'INSERT INTO "Café Orders" VALUES {values}')


def _results(backend, trigger: str) -> dict[tuple[str, str], tuple[str, int]]:
    rows = backend.store.con.execute(
        "SELECT TABLE_NAME, CHECK_NAME, STATUS, FAILING_ROWS FROM _PIPE.CHECK_RESULTS WHERE TRIGGER = ? ORDER BY rowid",
        [trigger],
    ).fetchall()
    return {(t, c): (s, n) for t, c, s, n in rows}


def test_checks_on_quoted_names_run_after_a_refresh_and_in_pipe_test(project, tmp_path):
    with project.backend("local", db=tmp_path / "quoted.duckdb") as backend:
        engine.apply(project, backend)
        _insert_orders(backend, ORDERS)
        backend.query("""INSERT INTO "Région totals" VALUES ('Île-de-France', 3), (NULL, 4)""")
        records = {r.name: r for r in engine.refresh(project, backend, reporter=Silent())}
        after_refresh = _results(backend, "REFRESH")
        report = run_tests(project, backend)
        in_test = _results(backend, "TEST")
        totals = backend.query('SELECT "café", "Nombre", total FROM "Ventes par café"').rows
    assert records["Ventes par café"].refresh_action == "INCREMENTAL"
    # Per café, from ORDERS: noir 2 orders (4.00), crème 1 (0), latte 1 (4), NULL 1 (1).
    assert sorted(totals, key=str) == sorted(
        [("noir", 2, Decimal("4.00")), ("crème", 1, Decimal("0.00")), ("latte", 1, Decimal("4.00")),
         (None, 1, Decimal("1.00"))], key=str,
    )
    # After the refresh, the dynamic table's checks: only no_zero_totals finds a row (crème's 0).
    dynamic = {k: v for k, v in after_refresh.items() if k[0] == "Ventes par café"}
    assert dynamic == {
        ("Ventes par café", 'unique("café")'): ("PASSED", 0),  # NULL keys are not compared
        ("Ventes par café", 'relationships("café")'): ("PASSED", 0),
        ("Ventes par café", "row_count"): ("PASSED", 0),  # 4 rows, within 1..10
        ("Ventes par café", "freshness"): ("PASSED", 0),
        ("Ventes par café", "no_zero_totals"): ("FAILED", 1),
    }
    # pipe test runs every check on the whole tables.
    assert in_test == {
        **dynamic,
        ("Café Orders", 'not_null("café", order_id)'): ("FAILED", 1),  # order 5 has no café
        ("Café Orders", "unique(order_id)"): ("FAILED", 1),  # order_id 3 twice: one duplicated key
        ("Café Orders", 'accepted_values("café")'): ("FAILED", 1),  # latte
        ("Café Orders", 'freshness("Livré")'): ("PASSED", 0),  # delivered just now
        ("Région totals", 'not_null("Région")'): ("FAILED", 1),
        ("Région totals", "row_count"): ("FAILED", 1),  # 2 rows, at most 1
    }
    assert [(u.name, u.passed, u.error) for u in report.units] == [("totals_per_cafe", True, None)]
    failed = {(r.table, r.check): r.sample for r in report.checks if r.status == "FAILED"}
    assert failed[("Café Orders", 'accepted_values("café")')][0]["café"] == "latte"  # keyed by the stored name


def test_a_failing_unit_test_on_quoted_names_shows_the_columns_as_declared(project, tmp_path):
    text = QUOTED.read_text(encoding="utf-8").replace("""{'"café"': crème, '"Nombre"': 1, total: 4}""",
                                                     """{'"café"': crème, '"Nombre"': 2, total: 4}""")
    path = tmp_path / "quoted_checks.yaml"
    path.write_text(text, encoding="utf-8")
    changed = engine.validate(path)
    with changed.backend("local", db=tmp_path / "unit.duckdb") as backend:
        (unit,) = run_tests(changed, backend, ["totals_per_cafe"]).units
    assert not unit.passed
    assert unit.diff().splitlines() == ['- "café"=crème, "Nombre"=2, total=4', '+ "café"=crème, "Nombre"=1, total=4']


# -- on Snowflake ---------------------------------------------------------------------------------


def test_quoted_checks_deploy_as_dmfs_golden(project):
    sent = [s for a in check_actions(project.graph, TargetState.empty(), []) for s in a.statements]
    golden = (FIXTURES / "quoted_checks_dmfs.sql").read_text(encoding="utf-8").split(";\n")
    assert sent == [s.strip().rstrip(";") for s in golden if s.strip()]
    for statement in sent:
        assert_names_declared(project, statement)


def _expectation_rows(project, table: str) -> list[dict]:
    """DATA_METRIC_FUNCTION_EXPECTATIONS rows of pipe's associations on ``table``, as Snowflake
    answers them: REF_ARGUMENTS names each column as stored (resolved)."""
    rows = []
    for item in declared_checks(project.pipeline):
        for b in bindings(project.graph, item) or () if item.table == table else ():
            columns = [] if b.function.endswith("ROW_COUNT") else names.split(b.arguments.split("->")[0])
            columns = columns[:1] if "->" in b.arguments else columns
            database, schema, metric = b.function.split(".")
            rows.append({
                "METRIC_DATABASE_NAME": database, "METRIC_SCHEMA_NAME": schema, "METRIC_NAME": metric,
                "REF_ARGUMENTS": json.dumps([{"domain": "COLUMN", "name": names.key(c)} for c in columns]),
                "EXPECTATION_NAME": b.expectation, "EXPECTATION_EXPRESSION": b.expression,
            })
    return rows


def test_deployed_dmfs_on_quoted_tables_read_back_as_unchanged(project):
    asked = []

    def answer(sql: str) -> list[dict]:
        asked.append(sql)
        entity = re.search(r"REF_ENTITY_NAME => '((?:[^']|'')*)'", sql)[1]
        table = names.of(exp.to_table(entity, dialect="snowflake"))
        return _expectation_rows(project, table)

    existing = TargetState(True, True, {n: ObjectState(n, "table", {}) for n in project.pipeline.object_names})
    state = with_dmf_state(existing, project.graph, answer)
    actions = check_actions(project.graph, state, [])
    assert {(a.name, a.kind) for a in actions} == {
        ("Café Orders", ActionKind.UNCHANGED), ("Région totals", ActionKind.UNCHANGED),
        ("Ventes par café", ActionKind.UNCHANGED),
    }
    # REF_ENTITY_NAME double-quotes a name that needs it inside the string
    # (sql-reference/functions/data_metric_function_expectations).
    assert "REF_ENTITY_NAME => 'QUOTED_DB.NAMES.\"Café Orders\"'" in asked[0]
    for sql in asked:
        assert isinstance(sqlglot.parse_one(sql, read="snowflake"), exp.Select)


def test_a_check_removed_from_a_quoted_table_drops_its_dmf(project):
    deployed = dmf_states("Café Orders", _expectation_rows(project, "Café Orders"))
    existing = TargetState(True, True, {
        **{n: ObjectState(n, "table", {}) for n in project.pipeline.object_names}, **deployed,
    })
    text = QUOTED.read_text(encoding="utf-8").replace("""      - freshness: {max_lag: '1 day', column: '"Livré"'}\n""", "")
    fewer = build_graph(load_pipeline_text(text, file=str(QUOTED), base_dir=QUOTED.parent))
    actions = {a.name: a for a in check_actions(fewer, existing, [])}
    assert actions["Café Orders"].kind == ActionKind.ALTER
    assert actions["Café Orders"].statements == (
        'ALTER TABLE "Café Orders" DROP DATA METRIC FUNCTION SNOWFLAKE.CORE.FRESHNESS ON ("Livré")',
    )
    assert_names_declared(project, actions["Café Orders"].statements[0])


class _Recorder:
    """A Snowflake backend double for queries: records each and answers one row of zeros."""

    name = "snowflake"

    def __init__(self):
        self.sent: list[str] = []

    def query(self, sql: str) -> QueryResult:
        self.sent.append(sql)
        return QueryResult(["N"], [(0,)])


def test_checks_without_a_dmf_query_the_quoted_names(project):
    items = declared_checks(project.pipeline)
    by_name = {(i.table, i.name): i for i in items}
    assert offending_sql(project.pipeline, by_name[("Café Orders", 'not_null("café", order_id)')]) == (
        'SELECT * FROM "Café Orders" WHERE "café" IS NULL OR ORDER_ID IS NULL'
    )
    assert offending_sql(project.pipeline, by_name[("Ventes par café", 'relationships("café")')]) == (
        'SELECT t.* FROM "Ventes par café" t WHERE t."café" IS NOT NULL '
        'AND NOT EXISTS (SELECT 1 FROM "Café Orders" o WHERE o."café" = t."café")'
    )
    backend = _Recorder()
    results = run_as_queries(backend, project, items)
    assert [r.status for r in results if r.status == "ERROR"] == [], [(r.check, r.message) for r in results]
    assert len(backend.sent) >= len(items)  # every check ran: each asked at least one query
    assert "NAME => 'QUOTED_DB.NAMES.\"Ventes par café\"'" in "\n".join(backend.sent)  # freshness of the data timestamp
    catalog = project.graph.types()
    for sql in backend.sent:
        tree = sqlglot.parse_one(sql, read="snowflake")
        tables = {names.of(t) for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)}
        assert tables <= set(project.pipeline.object_names), sql
        read = {c for t in tables for c in catalog[t]}
        for column in tree.find_all(exp.Column):
            if not isinstance(column.this, exp.Star) and column.name not in ("DATA_TIMESTAMP", "DUPLICATES"):
                assert names.of(column) in read, (column.sql(), sql)
