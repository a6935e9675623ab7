"""Queries Snowflake rejects at CREATE are rejected by ``pipe validate``, at the offending token.

Each file in tests/fixtures/bind/ is one query that does not bind (see the README there); the
expected messages and positions were worked out from the fixtures' SQL.
"""

from __future__ import annotations

import pytest

from helpers import FIXTURES, graph_of
from test_bad_inputs import expectation, where_pattern

BIND = FIXTURES / "bind"
CASES = sorted(BIND.glob("*.yaml"))


def test_there_are_forty_cases_or_more():
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_query_that_does_not_bind_is_one_error_at_its_token(path, run_pipe):
    error, at = expectation(path)
    result = run_pipe("validate", path.name, "--target", "snowflake", cwd=path.parent)

    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.error_lines) == 1, result.stderr
    line = result.error_lines[0]
    assert error in line, f"expected {error!r} in:\n{line}"
    assert where_pattern(path.name, at).match(line), f"expected the position {at} in:\n{line}"


HEADER = """\
version: 1
name: several
snowflake: {database: DB, schema: SC, warehouse: WH}
tables:
  ORDERS: {columns: {id: number, amount: number}}
dynamic_tables:
"""


def test_every_error_of_the_file_is_reported(run_pipe, tmp_path):
    text = HEADER + "".join(
        f"  D{i}:\n    target_lag: 1 minute\n    sql: SELECT id, amount_{i} FROM ORDERS\n" for i in range(3)
    )
    (tmp_path / "several.yaml").write_text(text)
    result = run_pipe("validate", "several.yaml", cwd=tmp_path)

    assert result.code == 1
    lines = result.error_lines
    assert [line.split(": ")[2] for line in lines] == ["D0", "D1", "D2"]
    for i, line in enumerate(lines):
        # line 9 + 3 per table; "    sql: SELECT id, " is 20 characters
        assert line.startswith(f"error: several.yaml:{9 + 3 * i}:21: D{i}: unknown column AMOUNT_{i}")


def test_the_number_of_errors_reported_is_capped(run_pipe, tmp_path):
    text = HEADER + "".join(
        f"  D{i}:\n    target_lag: 1 minute\n    sql: SELECT nope FROM ORDERS\n" for i in range(60)
    )
    (tmp_path / "many.yaml").write_text(text)
    result = run_pipe("validate", "many.yaml", cwd=tmp_path)

    assert result.code == 1
    assert len(result.error_lines) == 51
    assert result.error_lines[-1] == "error: … and 10 more"


def test_a_reader_of_a_broken_table_binds_leniently():
    """Only the broken query is reported: its readers cannot know its columns."""
    from engine.errors import SqlError

    text = HEADER + (
        "  A:\n    target_lag: 1 minute\n    sql: SELECT id, nope FROM ORDERS\n"
        "  B:\n    target_lag: 1 minute\n    sql: SELECT whatever FROM A\n"
    )
    with pytest.raises(SqlError, match="unknown column NOPE"):
        graph_of(text)
