"""What refresh mode AUTO resolves to, and why (Snowflake: user-guide/dynamic-tables-supported-queries).

Expected modes follow the documented rules: EXCEPT/MINUS/INTERSECT, LIMIT, subqueries outside
FROM, table functions other than FLATTEN, and CURRENT_TIMESTAMP / CURRENT_DATE / CURRENT_TIME
outside WHERE/HAVING/QUALIFY prevent incremental refresh.
"""

from __future__ import annotations

import pytest

from engine.sql.lint import analyze
from engine.sql.parsing import parse_select


def decide(sql: str):
    return analyze(parse_select(sql))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a, COUNT(*) AS n FROM t GROUP BY a",
        "SELECT * FROM t UNION ALL SELECT * FROM u",
        "SELECT * FROM t JOIN u ON t.id = u.id LEFT JOIN v ON v.id = t.id",
        "SELECT * FROM (SELECT id FROM t) s",
        "WITH c AS (SELECT id FROM t) SELECT * FROM c",
        "SELECT f.value FROM t, LATERAL FLATTEN(input => t.arr) f",
        "SELECT f.value FROM t, TABLE(FLATTEN(input => t.arr)) f",
        "SELECT id FROM t WHERE ts > CURRENT_TIMESTAMP()",
        "SELECT id FROM t WHERE ts > DATEADD(day, -7, CURRENT_DATE)",
        "SELECT a, MAX(ts) AS m FROM t GROUP BY a HAVING MAX(ts) > CURRENT_DATE()",
        "SELECT id FROM t QUALIFY MAX(ts) OVER (PARTITION BY id) > CURRENT_TIMESTAMP",
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY a ORDER BY ts) AS rn FROM t",
        "SELECT * FROM (SELECT id FROM t WHERE ts < CURRENT_DATE) s",
    ],
)
def test_incremental(sql):
    decision = decide(sql)
    assert decision.mode == "INCREMENTAL", decision.reason
    assert decision.incremental and decision.findings == ()
    assert decision.reason == "every construct supports incremental refresh"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT id FROM t EXCEPT SELECT id FROM u", "EXCEPT/MINUS"),
        ("SELECT id FROM t MINUS SELECT id FROM u", "EXCEPT/MINUS"),
        ("SELECT id FROM t INTERSECT SELECT id FROM u", "INTERSECT"),
        ("SELECT id FROM t ORDER BY id LIMIT 10", "LIMIT"),
        ("SELECT TOP 5 id FROM t", "LIMIT"),
        ("SELECT id FROM t FETCH FIRST 3 ROWS ONLY", "LIMIT"),
        ("SELECT id FROM t WHERE id IN (SELECT id FROM u)", "subquery outside FROM"),
        ("SELECT (SELECT MAX(id) FROM u) AS m FROM t", "subquery outside FROM"),
        ("SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", "subquery outside FROM"),
        ("SELECT * FROM TABLE(MY_UDTF(10))", "table function MY_UDTF (only LATERAL FLATTEN is incremental)"),
        ("SELECT * FROM t, LATERAL MY_UDTF(t.id) g", "table function MY_UDTF"),
        ("SELECT CURRENT_TIMESTAMP() AS at, id FROM t", "CURRENT_TIMESTAMP outside WHERE/HAVING/QUALIFY"),
        ("SELECT DATEDIFF('day', d, CURRENT_DATE()) AS age FROM t", "CURRENT_DATE outside WHERE/HAVING/QUALIFY"),
        ("SELECT CURRENT_TIME() AS now_time FROM t", "CURRENT_TIME outside WHERE/HAVING/QUALIFY"),
        ("SELECT SYSDATE() AS at FROM t", "CURRENT_TIMESTAMP outside WHERE/HAVING/QUALIFY"),
        ("SELECT * FROM t JOIN u ON u.ts < CURRENT_DATE", "CURRENT_DATE outside WHERE/HAVING/QUALIFY"),
        ("SELECT * FROM (SELECT CURRENT_DATE() AS d FROM t) s", "CURRENT_DATE outside WHERE/HAVING/QUALIFY"),
        # release note 2026-09-23: non-deterministic aggregates are incremental, "ANY_VALUE remains unsupported"
        ("SELECT k, ANY_VALUE(v) AS v FROM t GROUP BY k", "ANY_VALUE"),
        ("SELECT SEQ4() AS n, id FROM t", "SEQ4 (numbers the rows of each evaluation)"),
        ("SELECT SEQ8() AS n FROM TABLE(GENERATOR(ROWCOUNT => 5))", "table function GENERATOR"),
    ],
)
def test_full_with_the_reason(sql, reason):
    decision = decide(sql)
    assert decision.mode == "FULL"
    assert not decision.incremental
    assert decision.reason.startswith("not incremental: ")
    assert reason in decision.reason


def test_every_reason_is_listed_once():
    decision = decide("SELECT CURRENT_DATE() AS d FROM t UNION ALL SELECT CURRENT_DATE() FROM u LIMIT 3")
    reasons = decision.reason.removeprefix("not incremental: ").split("; ")
    assert sorted(reasons) == ["CURRENT_DATE outside WHERE/HAVING/QUALIFY", "LIMIT"]


@pytest.mark.parametrize(
    ("sql", "warned"),
    [
        ("SELECT CURRENT_TIMESTAMP() AS at FROM t", ["CURRENT_TIMESTAMP"]),
        ("SELECT CURRENT_DATE AS d, CURRENT_TIMESTAMP AS t2 FROM t", ["CURRENT_DATE", "CURRENT_TIMESTAMP"]),
        ("SELECT id FROM t WHERE d = CURRENT_DATE", []),
        ("SELECT id FROM t GROUP BY id HAVING MAX(d) < CURRENT_DATE", []),
        ("SELECT id FROM t QUALIFY MAX(d) OVER () < CURRENT_DATE", []),
        ("SELECT id FROM t ORDER BY DATEDIFF('day', d, CURRENT_DATE)", ["CURRENT_DATE"]),
    ],
)
def test_non_deterministic_functions_outside_filters_are_warned(sql, warned):
    decision = decide(sql)
    assert [w.construct for w in decision.warnings] == warned
    for warning in decision.warnings:
        assert "outside WHERE/HAVING/QUALIFY" in warning.reason
        assert "only in WHERE, HAVING or QUALIFY" in warning.reason


def test_findings_carry_sql_positions():
    decision = decide("SELECT id,\n       CURRENT_TIMESTAMP() AS at\nFROM t")
    (warning,) = decision.warnings
    assert (warning.line, warning.column) == (2, 8)
    (finding,) = decision.findings
    assert (finding.line, finding.column) == (2, 8)


def test_position_of_a_subquery_outside_from():
    decision = decide("SELECT id\nFROM t\nWHERE id IN (SELECT id FROM u)")
    (finding,) = decision.findings
    assert finding.construct == "subquery" and finding.line == 3
