"""Plans: the file diffed against a target state built by hand (engine.planner.ObjectState)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from engine.graph import build_graph
from engine.planner import ActionKind, ObjectState, TargetState, build_destroy_plan, build_plan
from engine.spec.loader import load_pipeline
from engine.sql.render import Statements
from helpers import ENGAGEMENT, SHOP

DTS = ["MEMBER_SESSIONS", "RESOURCE_CATALOG", "SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"]
TABLE_FINGERPRINTS = {  # what pipe records on each base table, written out from engagement.yaml
    "MEMBERS": "pipe: GEN_MEMBERS(1000) seed 42 order by MEMBER_ID",
    "RESOURCES": "pipe: GEN_RESOURCES(100) seed 42 order by RESOURCE_ID",
    "RAW_INTERACTIONS": "pipe: GEN_INTERACTIONS(10000, 30) seed 42",
}
USE = ["USE SCHEMA UNDERSTOOD_DEMO.DYNAMIC_TABLES", "USE WAREHOUSE UNDERSTOOD_DEMO_WH"]


@pytest.fixture(scope="module")
def graph():
    return build_graph(load_pipeline(ENGAGEMENT))


from engine.checks.snowflake import DMF, declared_dmf_state  # noqa: E402


def matching_objects(graph) -> dict[str, ObjectState]:
    """Everything engagement.yaml declares, as it would exist after an apply."""
    pipeline = graph.pipeline
    sql = Statements(pipeline)
    objects = {}
    for name in pipeline.generators:
        fn = name.upper()
        objects[f"function:{fn}"] = ObjectState(fn, "function", {"fingerprint": sql.function_fingerprint(name)})
    for name, fingerprint in TABLE_FINGERPRINTS.items():
        objects[name] = ObjectState(name, "table", {"fingerprint": fingerprint})
    for name, dt in pipeline.dynamic_tables.items():
        objects[name] = ObjectState(
            name,
            "dynamic_table",
            {
                "sql": dt.sql,
                "target_lag": "DOWNSTREAM" if dt.lag_seconds is None else dt.target_lag,
                "warehouse": "UNDERSTOOD_DEMO_WH",
                "refresh_mode": "AUTO",
                "comment": dt.comment,
            },
        )
    # The data metric functions of the declared checks, as an apply associates them.
    return dict(declared_dmf_state(TargetState(objects=objects), graph).objects)


def state(graph, **changes) -> TargetState:
    """The matching state with some objects' properties changed (None removes the object)."""
    objects = matching_objects(graph)
    for key, props in changes.items():
        key = key.replace("__", ":")
        if props is None:
            objects.pop(key)
        elif isinstance(props, ObjectState):
            objects[key] = props
        else:
            old = objects[key]
            objects[key] = ObjectState(old.name, old.kind, {**old.properties, **props})
    return TargetState(database_exists=True, schema_exists=True, objects=objects)


def object_changes(plan) -> list:
    """The plan's changes to objects; the data metric functions of the declared checks (which a
    replaced table needs again) are tested in tests/checks/test_snowflake.py."""
    return [a for a in plan.changes if a.object_type != DMF]


def kinds(plan) -> dict[str, str]:
    return {a.name: a.kind.value for a in plan.actions if a.object_type != DMF}


def only_change(plan):
    (change,) = object_changes(plan)
    return change


# -- nothing to do ----------------------------------------------------------------------------


def test_everything_matches(graph):
    plan = build_plan(graph, state(graph))
    assert set(kinds(plan).values()) == {"unchanged"}
    assert len(plan.actions) == 3 + 3 + 5 + 7  # and the DMFs of the 7 tables with checks a DMF measures
    assert not plan.has_changes and plan.statements() == [] and plan.destructive == ()
    assert plan.script() == "-- pipe plan: engagement (0 change(s))\n"


KEYWORDS = re.compile(r"\b(SELECT|FROM|AS|GROUP BY|JOIN|LEFT|ON|WITH|CASE|WHEN|THEN|ELSE|END|IN|CROSS|DISTINCT)\b")


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda sql: "\n\n".join("    " + line for line in sql.splitlines()),  # indentation, blank lines
        lambda sql: KEYWORDS.sub(lambda m: m.group(0).lower(), sql),  # keyword case
        lambda sql: sql.replace("MEMBER_ENGAGEMENT_SUMMARY", "member_engagement_summary"),  # unquoted name case
        lambda sql: "-- a comment\n" + sql.replace("\n", "  \n") + ";",  # comments, trailing blanks and ;
        lambda sql: "/* block */ " + sql,
    ],
    ids=["whitespace", "keyword-case", "identifier-case", "line-comment", "block-comment"],
)
def test_formatting_changes_in_sql_are_unchanged(graph, rewrite):
    objects = {n: {"sql": rewrite(graph.pipeline.dynamic_tables[n].sql)} for n in DTS}
    plan = build_plan(graph, state(graph, **objects))
    assert not plan.has_changes, [str(c) for a in plan.changes for c in a.changes]


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda sql: sql.replace("'premium'", "'PREMIUM'"),  # a string literal
        lambda sql: sql.replace("event_data:session_id", "event_data:SESSION_ID"),  # variant keys are case-sensitive
        lambda sql: sql.replace("MEMBER_ENGAGEMENT_SUMMARY s", '"member_engagement_summary" s'),  # quoted: another table
    ],
    ids=["literal", "variant-key", "quoted-name"],
)
def test_case_changes_that_matter_are_query_changes(graph, rewrite):
    objects = {n: {"sql": rewrite(graph.pipeline.dynamic_tables[n].sql)} for n in DTS}
    objects = {n: v for n, v in objects.items() if v["sql"] != graph.pipeline.dynamic_tables[n].sql}
    assert objects, "the rewrite must change some query"
    plan = build_plan(graph, state(graph, **objects))
    assert {a.name for a in object_changes(plan)} == set(objects)
    assert all(a.kind is ActionKind.REPLACE for a in object_changes(plan))


def test_equal_lags_written_differently_are_unchanged(graph):
    plan = build_plan(graph, state(graph, ENGAGEMENT_DASHBOARD={"target_lag": "60 seconds"}, MEMBER_SESSIONS={"target_lag": "downstream"}))
    assert not plan.has_changes


# -- ALTER ------------------------------------------------------------------------------------


def test_lag_change_is_an_alter_only(graph):
    plan = build_plan(graph, state(graph, MEMBER_SESSIONS={"target_lag": "5 minutes"}))
    action = only_change(plan)
    assert (action.kind, action.name) == (ActionKind.ALTER, "MEMBER_SESSIONS")
    assert action.statements == ("ALTER DYNAMIC TABLE MEMBER_SESSIONS SET TARGET_LAG = DOWNSTREAM",)
    assert [str(c) for c in action.changes] == ["target_lag: 5 minutes → DOWNSTREAM"]
    assert not action.destroys_data and action.consumers == ()
    assert plan.statements() == [*USE, "ALTER DYNAMIC TABLE MEMBER_SESSIONS SET TARGET_LAG = DOWNSTREAM"]


def test_lag_and_warehouse_change_is_one_alter(graph):
    plan = build_plan(graph, state(graph, ENGAGEMENT_DASHBOARD={"target_lag": "DOWNSTREAM", "warehouse": "SMALL_WH"}))
    action = only_change(plan)
    assert action.kind is ActionKind.ALTER
    assert action.statements == (
        "ALTER DYNAMIC TABLE ENGAGEMENT_DASHBOARD SET TARGET_LAG = '1 minute' WAREHOUSE = UNDERSTOOD_DEMO_WH",
    )


def test_comment_change_is_alter_set_comment(graph):
    plan = build_plan(graph, state(graph, RESOURCE_CATALOG={"comment": "old words"}))
    action = only_change(plan)
    assert action.kind is ActionKind.ALTER
    # The file's comment, then pipe's fingerprint: Snowflake keeps the comment, not the CREATE text.
    (statement,) = action.statements
    assert re.fullmatch(
        r"ALTER DYNAMIC TABLE RESOURCE_CATALOG SET COMMENT = "
        r"'DT2 - resources enriched with a content category and their age \(pipe:[0-9a-f]{16}\)'",
        statement,
    )


def test_comment_removed_from_the_file_is_unset(tmp_path):
    text = ENGAGEMENT.read_text().replace("    comment: DT5 - one row of executive KPIs, fresh within a minute\n", "")
    (tmp_path / "e.yaml").write_text(text)
    (tmp_path / "generators").symlink_to(ENGAGEMENT.parent / "generators")
    g = build_graph(load_pipeline(tmp_path / "e.yaml"))
    current = state(g, ENGAGEMENT_DASHBOARD={"comment": "DT5 - one row of executive KPIs, fresh within a minute"})
    action = only_change(build_plan(g, current))
    # Only the fingerprint is left: a comment-less table would no longer be recognised as pipe's.
    (statement,) = action.statements
    assert re.fullmatch(r"ALTER DYNAMIC TABLE ENGAGEMENT_DASHBOARD SET COMMENT = 'pipe:[0-9a-f]{16}'", statement)


# -- REPLACE ----------------------------------------------------------------------------------


def test_query_change_replaces_and_names_every_consumer(graph):
    changed = graph.pipeline.dynamic_tables["MEMBER_SESSIONS"].sql.replace("MAX(event_data:device_type", "MIN(event_data:device_type")
    plan = build_plan(graph, state(graph, MEMBER_SESSIONS={"sql": changed}))
    action = only_change(plan)
    assert (action.kind, action.name) == (ActionKind.REPLACE, "MEMBER_SESSIONS")
    assert action.consumers == ("SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD")
    assert action.changes[0].property == "query"
    assert action.statements[0].startswith("CREATE OR REPLACE DYNAMIC TABLE MEMBER_SESSIONS\n")
    assert not action.destroys_data  # recomputed from its inputs, nothing is lost
    reasons = {a.name: a.reason for a in plan.actions if a.object_type != DMF}
    for consumer in action.consumers:
        assert "reinitialises" in reasons[consumer]
    assert reasons["RESOURCE_CATALOG"] == ""


def test_refresh_mode_change_replaces(graph):
    plan = build_plan(graph, state(graph, ENGAGEMENT_DASHBOARD={"refresh_mode": "FULL"}))
    action = only_change(plan)
    assert action.kind is ActionKind.REPLACE
    assert [str(c) for c in action.changes] == ["refresh_mode: FULL → AUTO"]
    assert action.consumers == ()


def test_query_and_lag_change_is_one_replace(graph):
    plan = build_plan(graph, state(graph, ENGAGEMENT_DASHBOARD={"sql": "SELECT 1 AS x", "target_lag": "1 hour"}))
    action = only_change(plan)
    assert action.kind is ActionKind.REPLACE and len(action.statements) == 1
    assert "TARGET_LAG = '1 minute'" in action.statements[0]  # the CREATE carries the new lag


def test_generator_args_change_replaces_the_table_and_destroys_its_data(graph):
    plan = build_plan(graph, state(graph, MEMBERS={"fingerprint": "pipe: GEN_MEMBERS(500) seed 42 order by MEMBER_ID"}))
    action = only_change(plan)
    assert (action.kind, action.object_type, action.name) == (ActionKind.REPLACE, "table", "MEMBERS")
    assert action.destroys_data
    assert plan.destructive == (action,)
    assert action.consumers == ("SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD")
    assert action.statements == (
        "CREATE OR REPLACE TABLE MEMBERS\n"
        "COMMENT = 'pipe: GEN_MEMBERS(1000) seed 42 order by MEMBER_ID'\n"
        "AS SELECT * FROM TABLE(GEN_MEMBERS(1000, 42)) ORDER BY MEMBER_ID",  # the seed is the last argument
    )


def test_changed_generator_code_replaces_the_function(graph):
    plan = build_plan(graph, state(graph, function__GEN_RESOURCES={"fingerprint": "pipe:0000000000000000"}))
    action = only_change(plan)
    assert (action.kind, action.object_type, action.name) == (ActionKind.REPLACE, "function", "GEN_RESOURCES")
    assert action.statements[0].startswith("CREATE OR REPLACE FUNCTION GEN_RESOURCES(NUM_RECORDS NUMBER, PIPE_SEED NUMBER)")
    assert not action.destroys_data


def test_a_table_that_exists_as_a_dynamic_table_is_dropped_and_created(graph):
    plan = build_plan(graph, state(graph, RESOURCES=ObjectState("RESOURCES", "dynamic_table", {"sql": "SELECT 1"})))
    action = only_change(plan)
    assert action.kind is ActionKind.REPLACE and action.destroys_data
    assert action.statements[0] == "DROP DYNAMIC TABLE IF EXISTS RESOURCES"
    assert action.statements[1].startswith("CREATE OR REPLACE TABLE RESOURCES")


# -- CREATE -----------------------------------------------------------------------------------


def test_empty_target_creates_everything_in_order(graph):
    plan = build_plan(graph, TargetState.empty())
    assert [(a.kind.value, a.object_type, a.name) for a in plan.actions] == [
        ("create", "database", "UNDERSTOOD_DEMO"),
        ("create", "schema", "UNDERSTOOD_DEMO.DYNAMIC_TABLES"),
        ("create", "function", "GEN_MEMBERS"),
        ("create", "function", "GEN_RESOURCES"),
        ("create", "function", "GEN_INTERACTIONS"),
        ("create", "table", "MEMBERS"),
        ("create", "table", "RESOURCES"),
        ("create", "table", "RAW_INTERACTIONS"),
        *[("create", "dynamic_table", name) for name in DTS],
        # RAW_INTERACTIONS's checks (not_null on a VARIANT, relationships) have no system DMF
        *[("create", "data_metric_function", name) for name in ["MEMBERS", "RESOURCES", *DTS]],
    ]
    statements = plan.statements()
    assert statements[:4] == [
        "CREATE DATABASE IF NOT EXISTS UNDERSTOOD_DEMO",
        "CREATE SCHEMA IF NOT EXISTS UNDERSTOOD_DEMO.DYNAMIC_TABLES",
        *USE,
    ]
    dmfs = [st for a in plan.actions if a.object_type == DMF for st in a.statements]
    assert len(statements) == 2 + 2 + 3 + 3 + 5 + len(dmfs)


def test_a_missing_object_is_created(graph):
    plan = build_plan(graph, state(graph, ENGAGEMENT_DASHBOARD=None))
    action = only_change(plan)
    assert (action.kind, action.name) == (ActionKind.CREATE, "ENGAGEMENT_DASHBOARD")


def test_missing_schema_only(graph):
    current = dataclasses.replace(state(graph), schema_exists=False, objects={})
    plan = build_plan(graph, current)
    assert [a.object_type for a in plan.actions[:2]] == ["schema", "function"]
    assert plan.statements()[0] == "CREATE SCHEMA IF NOT EXISTS UNDERSTOOD_DEMO.DYNAMIC_TABLES"


def test_external_tables_are_never_planned():
    g = build_graph(load_pipeline(SHOP))
    plan = build_plan(g, TargetState.empty())
    assert "FX_RATES" not in kinds(plan)
    assert "FX_RATES" not in [a.name for a in build_destroy_plan(g).actions]


# -- prune ------------------------------------------------------------------------------------


def _with_leftovers(graph) -> TargetState:
    return state(
        graph,
        OLD_DT=ObjectState("OLD_DT", "dynamic_table", {"sql": "SELECT 1", "target_lag": "1 minute"}),
        OLD_TABLE=ObjectState("OLD_TABLE", "table", {"fingerprint": "pipe: GEN_OLD(1) seed 42"}),
        HAND_MADE=ObjectState("HAND_MADE", "table", {"fingerprint": None, "managed": "false"}),
        HAND_DT=ObjectState("HAND_DT", "dynamic_table", {"sql": "SELECT 2", "managed": "false"}),
        function__GEN_OLD=ObjectState("GEN_OLD", "function", {"fingerprint": "pipe:1234", "arg_types": "NUMBER, NUMBER"}),
    )


def test_without_prune_leftovers_are_left_alone(graph):
    plan = build_plan(graph, _with_leftovers(graph))
    assert not plan.has_changes


def test_prune_drops_undeclared_managed_objects_only(graph):
    plan = build_plan(graph, _with_leftovers(graph), prune=True)
    drops = [(a.object_type, a.name, a.statements) for a in object_changes(plan)]
    assert drops == [
        ("dynamic_table", "OLD_DT", ("DROP DYNAMIC TABLE IF EXISTS OLD_DT",)),
        ("table", "OLD_TABLE", ("DROP TABLE IF EXISTS OLD_TABLE",)),
        ("function", "GEN_OLD", ("DROP FUNCTION IF EXISTS GEN_OLD(NUMBER, NUMBER)",)),
    ]
    assert all(a.kind is ActionKind.DROP and a.reason == "no longer declared (--prune)" for a in object_changes(plan))
    assert {a.name for a in plan.destructive} == {"OLD_DT", "OLD_TABLE"}


# -- destroy and the plan object --------------------------------------------------------------


def test_destroy_order_is_the_reverse_create_order_then_functions(graph):
    plan = build_destroy_plan(graph)
    assert [a.name for a in plan.actions] == [*reversed(DTS), "RAW_INTERACTIONS", "RESOURCES", "MEMBERS", "GEN_INTERACTIONS", "GEN_RESOURCES", "GEN_MEMBERS"]
    assert all(a.kind is ActionKind.DROP for a in plan.actions)


def test_destroy_skips_what_does_not_exist(graph):
    current = state(graph, ENGAGEMENT_DASHBOARD=None, function__GEN_MEMBERS=None)
    names = [a.name for a in build_destroy_plan(graph, current).actions]
    assert "ENGAGEMENT_DASHBOARD" not in names and "GEN_MEMBERS" not in names and "MEMBERS" in names
    assert build_destroy_plan(graph, TargetState(True, True, {})).actions == ()


def test_plans_are_frozen(graph):
    plan = build_plan(graph, TargetState.empty())
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.actions = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.actions[0].kind = ActionKind.DROP
    assert isinstance(plan.actions, tuple) and isinstance(plan.actions[0].statements, tuple)


def test_an_object_of_another_kind_is_dropped_then_created_as_declared(graph):
    objects = matching_objects(graph)
    objects["MEMBERS"] = ObjectState("MEMBERS", "dynamic_table", {"sql": "SELECT 1 AS X"})
    plan = build_plan(graph, TargetState(True, True, objects))
    action = next(a for a in plan.actions if a.name == "MEMBERS")
    assert action.kind is ActionKind.REPLACE and action.object_type == "table"
    assert action.statements[0] == "DROP DYNAMIC TABLE IF EXISTS MEMBERS"
    assert action.statements[1].startswith("CREATE OR REPLACE TABLE MEMBERS")
    assert action.destroys_data
    assert set(action.consumers) == {"SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"}
