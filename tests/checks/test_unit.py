"""Query unit tests: given rows in, expected rows out, incremental equal to full."""

from __future__ import annotations

import engine
from engine.checks.unit import run_unit_tests, snowflake_type

from .conftest import CHECKS, ORDERS, ROOT


def test_inline_and_csv_unit_tests_pass_after_two_incremental_refreshes():
    results = {r.name: r for r in run_unit_tests(engine.validate(ORDERS))}
    assert set(results) == {"lines_join_customers", "totals_from_csv"}
    for result in results.values():
        assert result.passed, result.diff()
        # The first half of the given rows, then the rest as a change: both incremental.
        assert result.refresh_actions == ["INCREMENTAL", "INCREMENTAL"]


def test_a_wrong_expectation_shows_a_row_diff():
    result = run_unit_tests(engine.validate(CHECKS / "orders_wrong.yaml"), ["lines_join_customers"])[0]
    assert not result.passed
    # The file expects order 2 in tier gold; customer 11 is silver.
    assert result.missing == [{"ORDER_ID": 2, "CUSTOMER_ID": 11, "TIER": "gold", "AMOUNT": 7}]
    assert len(result.unexpected) == 1 and result.unexpected[0]["TIER"] == "silver"
    assert result.diff().splitlines() == [
        "- order_id=2, customer_id=11, tier=gold, amount=7",
        "+ order_id=2, customer_id=11, tier=silver, amount=7",
    ]


def test_names_select_unit_tests_by_name_or_table():
    project = engine.validate(ORDERS)
    assert [r.name for r in run_unit_tests(project, ["customer_totals"])] == ["totals_from_csv"]
    assert [r.name for r in run_unit_tests(project, ["LINES_JOIN_CUSTOMERS"])] == ["lines_join_customers"]


def test_every_engagement_dynamic_table_has_a_passing_unit_test():
    project = engine.validate(ROOT / "pipelines" / "engagement.yaml")
    results = run_unit_tests(project)
    assert sorted(r.table for r in results) == sorted(project.pipeline.dynamic_tables)
    for result in results:
        assert result.passed, f"{result.name}\n{result.diff()}"


def test_local_types_map_back_to_snowflake_types():
    assert [snowflake_type(t) for t in ("BIGINT", "DECIMAL(18,3)", "DOUBLE", "VARCHAR", "TIMESTAMP", "JSON", "BIGINT[]")] == [
        "NUMBER", "NUMBER(18,3)", "FLOAT", "VARCHAR", "TIMESTAMP_NTZ", "VARIANT", "VARIANT",
    ]
