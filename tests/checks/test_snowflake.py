"""Checks on Snowflake: data metric functions with expectations, planned, applied and pruned
through the connection double; the rest run by pipe test as queries."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

import engine
from engine.checks.snowflake import SCHEDULE_TABLE, check_actions, offending_sql
from engine.checks.declared import declared_checks
from engine.planner import ActionKind, TargetState, build_plan
from engine.report import Reporter

from backends.snowflake_double import FakeSnowflake, check_snowflake_sql
from engine.backends.base import get_backend
from engine.graph import build_graph
from engine.spec import load_pipeline_text

from .conftest import CHECKS, ROOT

SNOWFLAKE_FIXTURES = ROOT / "tests" / "fixtures" / "snowflake"


def mini_graph(*replacements: tuple[str, str]):
    """The snowflake backend tests' mini pipeline, with textual edits of its YAML."""
    path = SNOWFLAKE_FIXTURES / "mini.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return build_graph(load_pipeline_text(text, file=str(path), base_dir=SNOWFLAKE_FIXTURES))


def backend(fake, graph):
    return get_backend("snowflake")(graph, connect=fake.connect, clock=fake.now)

# The mini pipeline with checks on a base table and a dynamic table.
WITH_CHECKS = (
    "  MEMBERS: {generator: gen_members, args: [10], order_by: [member_id]}",
    "  MEMBERS:\n    generator: gen_members\n    args: [10]\n    order_by: [member_id]\n    checks:\n"
    "      - not_null: member_id\n      - accepted_values: {column: region, values: [north, south]}\n"
    "      - relationships: {column: member_id, to: MEMBER_SUMMARY}",
)
SUMMARY_CHECKS = (
    "      GROUP BY m.member_id, m.region\n",
    "      GROUP BY m.member_id, m.region\n    checks:\n      - unique: member_id\n      - row_count: {min: 1}\n",
)
# sqlglot (30.x) has no grammar for ADD / DROP DATA METRIC FUNCTION and falls back to a Command:
# the statement's shape is checked here, and its expressions parse on their own.
ADD = re.compile(
    r"^ALTER TABLE (\w+) ADD DATA METRIC FUNCTION SNOWFLAKE\.CORE\.(\w+) ON \((.*)\) EXPECTATION (PIPE_[0-9A-F]{12}) \((.*)\)$"
)
DROP = re.compile(r"^ALTER TABLE (\w+) DROP DATA METRIC FUNCTION ([\w.]+) ON \((.*)\)$")


def check_dmf_sql(statement: str) -> None:
    """Every statement is valid Snowflake SQL: sqlglot parses it, or its DMF shape and its parts."""
    add, drop = ADD.match(statement), DROP.match(statement)
    if not (add or drop):
        check_snowflake_sql(statement)
        return
    arguments = (add or drop).group(3)
    if "->" in arguments:  # ACCEPTED_VALUES: a column and a lambda over it
        column, lam = arguments.split(",", 1)
        assert isinstance(sqlglot.parse_one(f"SELECT F({lam})", read="snowflake").expressions[0].expressions[0], exp.Lambda)
    elif arguments:
        assert all(isinstance(sqlglot.parse_one(c, read="snowflake"), exp.Column) for c in arguments.split(","))
    if add:
        condition = sqlglot.parse_one(add.group(5), read="snowflake")
        assert isinstance(condition, (exp.EQ, exp.GTE, exp.LTE, exp.And)), add.group(5)
        assert "VALUE" in {c.name.upper() for c in condition.find_all(exp.Column)}


@pytest.fixture
def fake():
    account = FakeSnowflake()
    yield account
    for statement in account.statements:
        check_dmf_sql(statement)


def _deploy(fake, graph, *, reporter=None):
    with backend(fake, graph) as target:
        plan = build_plan(graph, target.read_state(), target="snowflake")
        target.apply(plan, reporter or Reporter())
    return plan


def test_engagement_checks_render_as_dmfs_golden():
    project = engine.validate(ROOT / "pipelines" / "engagement.yaml")
    actions = check_actions(project.graph, TargetState.empty(), [])
    sent = [s for a in actions for s in a.statements]
    expected = (CHECKS / "engagement_dmfs.sql").read_text(encoding="utf-8").split(";\n")
    assert sent == [s.strip() for s in expected if s.strip()]
    for statement in sent:
        check_dmf_sql(statement)


def test_first_apply_adds_dmfs_and_a_second_apply_changes_nothing(fake):
    graph = mini_graph(WITH_CHECKS, SUMMARY_CHECKS)
    plan = _deploy(fake, graph)
    dmf = [a for a in plan.actions if a.object_type == "data_metric_function"]
    assert [(a.kind, a.name) for a in dmf] == [(ActionKind.CREATE, "MEMBERS"), (ActionKind.CREATE, "MEMBER_SUMMARY")]
    # relationships has no system DMF: MEMBERS gets NULL_COUNT and ACCEPTED_VALUES only.
    assert sorted((key[2], row["METRIC_NAME"]) for key, row in fake.dmfs.items()) == [
        ("MEMBERS", "ACCEPTED_VALUES"), ("MEMBERS", "NULL_COUNT"),
        ("MEMBER_SUMMARY", "DUPLICATE_COUNT"), ("MEMBER_SUMMARY", "ROW_COUNT"),
    ]
    assert {key[2]: v for key, v in fake.dmf_schedules.items()} == {"MEMBERS": SCHEDULE_TABLE, "MEMBER_SUMMARY": "5 MINUTE"}
    again = _deploy(fake, graph)
    assert not again.has_changes


def test_a_check_removed_from_the_file_is_dropped_and_others_are_kept(fake):
    _deploy(fake, mini_graph(WITH_CHECKS, SUMMARY_CHECKS))
    # Somebody else's DMF on the same table is never touched.
    fake.dmfs[("PIPE_TEST", "MINI", "MEMBERS", "THEIRS")] = {
        "METRIC_DATABASE_NAME": "SNOWFLAKE", "METRIC_SCHEMA_NAME": "CORE", "METRIC_NAME": "ROW_COUNT",
        "REF_ARGUMENTS": "[]", "EXPECTATION_NAME": "THEIRS", "EXPECTATION_EXPRESSION": "VALUE > 0",
    }
    fewer = (WITH_CHECKS[0], WITH_CHECKS[1].replace("      - not_null: member_id\n", ""))
    mark = fake.mark()
    plan = _deploy(fake, mini_graph(fewer, SUMMARY_CHECKS))
    changed = [a for a in plan.changes if a.object_type == "data_metric_function"]
    assert [(a.kind, a.name) for a in changed] == [(ActionKind.ALTER, "MEMBERS")]
    assert [s for s in fake.since(mark) if "DATA METRIC" in s] == [
        "ALTER TABLE MEMBERS DROP DATA METRIC FUNCTION SNOWFLAKE.CORE.NULL_COUNT ON (MEMBER_ID)"
    ]
    left = sorted(row["METRIC_NAME"] for key, row in fake.dmfs.items() if key[2] == "MEMBERS")
    assert left == ["ACCEPTED_VALUES", "ROW_COUNT"]  # pipe's ACCEPTED_VALUES and THEIRS


def test_the_local_plan_shows_the_dmfs_once(tmp_path):
    """A local plan prints the script a Snowflake deployment runs, DMFs included; locally the
    checks take effect with their table, so a second apply has nothing to do."""
    graph = mini_graph(WITH_CHECKS, SUMMARY_CHECKS)
    first = build_plan(graph, TargetState.empty(), target="local")
    assert [a.name for a in first.actions if a.object_type == "data_metric_function"] == ["MEMBERS", "MEMBER_SUMMARY"]
    target = get_backend("local")(graph, db=tmp_path / "mini.duckdb")
    with target:
        target.apply(first, Reporter())
        assert not build_plan(graph, target.read_state(), target="local").has_changes


def test_checks_without_a_dmf_run_as_snowflake_queries():
    project = engine.validate(CHECKS / "orders.yaml")
    items = {(i.table, i.name): i for i in declared_checks(project.pipeline)}
    sql = offending_sql(project.pipeline, items[("ORDERS", "relationships(customer_id)")])
    assert sql == (
        "SELECT t.* FROM ORDERS t WHERE t.CUSTOMER_ID IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM CUSTOMERS o WHERE o.CUSTOMER_ID = t.CUSTOMER_ID)"
    )
    for item in items.values():
        text = offending_sql(project.pipeline, item)
        if text is not None:
            assert isinstance(sqlglot.parse_one(text, read="snowflake"), exp.Query)


def test_checks_on_semi_structured_columns_have_no_dmf():
    """NULL_COUNT, DUPLICATE_COUNT and ACCEPTED_VALUES take scalar columns only (their pages'
    allowed data types): a check on a VARIANT column, or on an array a query builds, runs as a query."""
    graph = mini_graph((
        "  RAW_INTERACTIONS: {generator: gen_interactions, args: [100, 30]}",
        "  RAW_INTERACTIONS:\n    generator: gen_interactions\n    args: [100, 30]\n    checks:\n"
        "      - not_null: event_data\n      - not_null: member_id",
    ))
    (action,) = [a for a in check_actions(graph, TargetState.empty(), []) if a.name == "RAW_INTERACTIONS"]
    assert [s for s in action.statements if "ADD" in s] == [
        "ALTER TABLE RAW_INTERACTIONS ADD DATA METRIC FUNCTION SNOWFLAKE.CORE.NULL_COUNT ON (MEMBER_ID) "
        "EXPECTATION PIPE_C47B05D8C7F5 (VALUE = 0)"
    ]


def test_an_account_without_dmfs_is_one_clear_error(fake):
    graph = mini_graph(WITH_CHECKS)
    _deploy(fake, graph)
    fake.fail("DATA_METRIC_FUNCTION_EXPECTATIONS", errno=2003, message="Unknown function DATA_METRIC_FUNCTION_EXPECTATIONS")
    with backend(fake, graph) as target, pytest.raises(engine.BackendError) as caught:
        target.read_state()
    assert "cannot read the data metric functions of MEMBERS" in str(caught.value)
    assert "Enterprise Edition" in str(caught.value)
