"""``pipe test`` as a user runs it."""

from __future__ import annotations

import json
import shutil

from .conftest import CHECKS, Orders


def _applied(tmp_path, name="orders.yaml"):
    shutil.copytree(CHECKS, tmp_path, dirs_exist_ok=True)
    return tmp_path / name


def test_pipe_test_exits_1_when_an_error_check_fails(tmp_path, run_pipe):
    file = _applied(tmp_path)
    shop = Orders(tmp_path / "db.duckdb")
    shop.insert("CUSTOMERS", "(10, 'Ann', 'gold')", "(10, 'Ann again', 'gold')")
    shop.backend.close()
    result = run_pipe("test", file, "CUSTOMERS", "--db", tmp_path / "db.duckdb")
    assert result.code == 1, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["unique(customer_id)"])
    assert "FAILED" in row and "customer_id=10, duplicates=2" in row
    assert "2 passed, 1 failed" in result.stdout


def test_pipe_test_json_and_warn_checks_do_not_fail(tmp_path, run_pipe):
    file = _applied(tmp_path)
    shop = Orders(tmp_path / "db.duckdb")
    shop.insert("CUSTOMERS", "(10, 'Ann', 'bronze')")  # only the warn check on tier fails
    shop.backend.close()
    result = run_pipe("test", file, "CUSTOMERS", "--db", tmp_path / "db.duckdb", "--format", "json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    by_check = {c["check"]: c for c in data["checks"]}
    assert by_check["accepted_values(tier)"]["status"] == "FAILED"
    assert by_check["accepted_values(tier)"]["severity"] == "warn"
    assert by_check["accepted_values(tier)"]["sample"] == [{"CUSTOMER_ID": 10, "NAME": "Ann", "TIER": "bronze"}]
    assert data["unit_tests"] == []  # no unit test targets CUSTOMERS


def test_pipe_test_failing_unit_test_prints_the_diff(tmp_path, run_pipe):
    file = _applied(tmp_path, "orders_wrong.yaml")
    result = run_pipe("test", file, "lines_join_customers", "--db", tmp_path / "none.duckdb")
    assert result.code == 1
    assert "- order_id=2, customer_id=11, tier=gold, amount=7" in result.stdout
    assert "+ order_id=2, customer_id=11, tier=silver, amount=7" in result.stdout


def test_pipe_test_unknown_name_is_one_error_line(tmp_path, run_pipe):
    file = _applied(tmp_path)
    result = run_pipe("test", file, "ORDER_LINE", "--db", tmp_path / "none.duckdb")
    assert result.code == 1
    assert result.error_lines == [
        "error: ORDER_LINE is not a table, check or unit test of orders (did you mean ORDER_LINES?)"
    ]
