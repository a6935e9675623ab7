"""The constructs the local engine runs differently are the ones validate warns about.

Each conformance case recorded as a ``known_difference`` (of any category) must
contain (in its query or in the setup statements that built its data) a construct for which
``engine.sql.lint`` warns with that difference; and the values pinned there are checked by the
conformance suite itself.
"""

from __future__ import annotations

import sqlglot
import pytest

from engine.sql.lint import analyze
from conformance import suite

EXPECTATIONS = suite.load_expectations()
KNOWN = {case.id: case for case in suite.load_cases()
         if (EXPECTATIONS.get(case.id) or {}).get("status") == "known_difference"}


def _warned(sql: str) -> set[str]:
    statement = sqlglot.parse_one(sql, read="snowflake")
    return {w.construct for w in analyze(statement).warnings}


@pytest.mark.parametrize("case_id", sorted(KNOWN))
def test_a_known_difference_is_warned_about_where_it_is_written(case_id: str) -> None:
    case = KNOWN[case_id]
    construct = EXPECTATIONS[case_id]["construct"]
    warned = set().union(*(_warned(sql) for sql in [*case.setup, case.sql]))
    assert construct in warned, f"{case_id}: no statement warns about {construct!r} (warned: {sorted(warned)})"


@pytest.mark.parametrize(("sql", "construct"), [
    ("SELECT ARRAY_MAX(a) FROM t", "JSON null in an ARRAY"),
    ("SELECT ARRAY_TO_STRING(a, ',') FROM t", "JSON null in an ARRAY"),
    ("SELECT CHECK_JSON(text) FROM t", "CHECK_JSON"),
    ("SELECT TYPEOF(v) FROM t", "TYPEOF / IS_DECIMAL"),
])
def test_validate_warns_at_each_semistructured_difference(sql: str, construct: str) -> None:
    assert construct in _warned(sql)


@pytest.mark.parametrize("sql", [
    "SELECT ARRAY_CONSTRUCT(1, 'a', 2.5, PARSE_JSON('null'))",
    "SELECT ARRAY_APPEND(a, 4), ARRAY_SLICE(a, 0, 2), ARRAY_CONTAINS(5, a) FROM t",
    "SELECT OBJECT_CONSTRUCT('a', x), ARRAY_AGG(x), PARSE_JSON('[1, 2]') FROM t",
    # a SQL NULL in an ARRAY and a missing element of parsed text are undefined locally too
    "SELECT ARRAY_CONSTRUCT(1, x), [1, NULL], ARRAY_APPEND(a, x), ARRAY_INSERT(a, 5, x) FROM t",
    "SELECT PARSE_JSON('[1, , 2]'), TRY_PARSE_JSON(text), ARRAY_CONTAINS(NULL, a), ARRAY_COMPACT(a) FROM t",
    "SELECT TO_JSON(v) FROM t",  # keys sorted, as Snowflake writes them
])
def test_constructs_that_run_exactly_are_not_warned_about(sql: str) -> None:
    assert _warned(sql) == set()
