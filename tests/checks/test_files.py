"""Unit tests in tests/*.yaml beside the pipeline file: run with the file's own, validated with it."""

from __future__ import annotations

import shutil

import pytest

import engine
from engine.checks.unit import run_unit_tests
from engine.errors import SpecError

from .conftest import CHECKS

GOOD = CHECKS / "test_files"
BAD = CHECKS / "bad_test_files"


def _orders_with(tmp_path, *files):
    """orders.yaml (and its CSV files) copied to ``tmp_path`` with ``files`` in tests/ beside it."""
    for name in ("orders.yaml", "totals_given.csv", "totals_expected.csv"):
        shutil.copy(CHECKS / name, tmp_path / name)
    folder = tmp_path / "tests"
    folder.mkdir()
    for file in files:
        if file.is_dir():
            shutil.copytree(file, folder / file.name)
        else:
            shutil.copy(file, folder / file.name)
    return tmp_path / "orders.yaml"


def test_tests_beside_the_file_run_with_its_own(tmp_path):
    path = _orders_with(tmp_path, GOOD / "lines.yaml", GOOD / "totals.yml", GOOD / "data")
    results = run_unit_tests(engine.validate(path))
    # The file's two tests first, then lines.yaml's, then totals.yml's (files in name order).
    assert [r.name for r in results] == [
        "lines_join_customers", "totals_from_csv", "unknown_customers_drop_out", "one_total_per_customer_and_tier",
    ]
    for result in results:
        assert result.passed, result.diff()
    # Selected by name or table, as the file's own tests are.
    assert [r.name for r in run_unit_tests(engine.validate(path), ["CUSTOMER_TOTALS"])] == [
        "totals_from_csv", "one_total_per_customer_and_tier",
    ]


def test_pipe_test_runs_them_and_names_them(tmp_path):
    path = _orders_with(tmp_path, GOOD / "lines.yaml", GOOD / "data")
    project = engine.validate(path)
    with project.backend("local", db=tmp_path / "orders.duckdb") as backend:
        engine.apply(project, backend)
        report = engine.run_tests(project, backend, ["unknown_customers_drop_out"])
    assert [u.name for u in report.units] == ["unknown_customers_drop_out"] and report.checks == []
    assert report.ok


def test_a_wrong_expectation_in_a_test_file_shows_the_row_diff(tmp_path):
    path = _orders_with(tmp_path, GOOD / "data")
    (tmp_path / "tests" / "wrong.yaml").write_text(
        (GOOD / "lines.yaml").read_text().replace("amount: 2.5}", "amount: 3}"), encoding="utf-8"
    )
    result = run_unit_tests(engine.validate(path), ["unknown_customers_drop_out"])[0]
    assert not result.passed
    assert result.diff().splitlines() == ["- order_id=1, tier=gold, amount=3", "+ order_id=1, tier=gold, amount=2.5"]


@pytest.mark.parametrize(
    ("file", "message", "line", "column"),
    [
        ("unknown_table.yaml", "unit test lines: ORDER_LINE is not a dynamic table of this pipeline", 3, 12),
        ("unknown_input.yaml", "unit test lines: ORDER_LINES does not read ORDER", 5, 7),
        ("unknown_column.yaml", "ORDERS has no column custmer_id", 6, 25),
        ("unknown_key.yaml", "unknown key 'expected'", 4, 5),
        ("top_level_key.yaml", "unknown key 'test' in a unit tests file", 1, 1),
        ("a_list.yaml", "a unit tests file must be a mapping with tests: (a list of unit tests)", 1, 1),
        ("same_name.yaml", "two unit tests are named lines_join_customers (the first at ", 2, 11),
    ],
)
def test_a_bad_test_file_is_a_validate_error_at_its_line(tmp_path, file, message, line, column):
    path = _orders_with(tmp_path, BAD / file)
    with pytest.raises(SpecError) as caught:
        engine.validate(path)
    error = caught.value
    assert error.message.startswith(message)
    where = error.location
    assert (where.file, where.line, where.column) == (str(tmp_path / "tests" / file), line, column)


def test_the_first_of_two_tests_named_alike_is_in_the_pipeline_file(tmp_path):
    path = _orders_with(tmp_path, BAD / "same_name.yaml")
    with pytest.raises(SpecError) as caught:
        engine.validate(path)
    # lines_join_customers is the pipeline file's first test: its name at line 46, column 11.
    assert f"(the first at {path}:46:11)" in caught.value.message


def test_a_missing_csv_fails_that_test_naming_the_file_and_line(tmp_path):
    path = _orders_with(tmp_path, BAD / "missing_csv.yaml")
    result = run_unit_tests(engine.validate(path), ["lines"])[0]
    assert not result.passed
    assert result.error.startswith(f"{tmp_path / 'tests' / 'missing_csv.yaml'}:5:")
    assert "cannot read nowhere.csv" in result.error


def test_a_pipeline_without_a_tests_folder_has_only_its_own_tests():
    assert [r.name for r in run_unit_tests(engine.validate(CHECKS / "orders.yaml"))] == [
        "lines_join_customers", "totals_from_csv",
    ]


def test_test_files_have_a_json_schema_of_their_own():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from engine.spec.schema import tests_json_schema

    schema = tests_json_schema()
    assert schema["additionalProperties"] is False and set(schema["properties"]) == {"tests"}
    for file in (GOOD / "lines.yaml", GOOD / "totals.yml"):
        jsonschema.validate(yaml.safe_load(file.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(yaml.safe_load((BAD / "unknown_key.yaml").read_text()), schema)
