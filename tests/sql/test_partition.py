"""Key analysis on its own: for each input of a query, the output column whose value identifies
every output row a changed input row can touch (see the rules in engine/sql/partition.py).

Each expectation follows from those rules, worked out by hand for the query beside it."""

from __future__ import annotations

import pytest

from engine.sql.partition import analyze

SCHEMA = {
    "EVENTS": ["ID", "USER_ID", "KIND", "AMOUNT", "PAYLOAD"],
    "USERS": ["ID", "REGION"],
    "SCORES": ["PLAYER", "SCORE"],
}


def keys(sql: str, *tables: str) -> dict[str, tuple[str, str]]:
    result = analyze(sql, {t: SCHEMA[t] for t in tables})
    return {table: (key.output, key.expression) for table, key in result.keys.items()}


@pytest.mark.parametrize(
    ("sql", "tables", "expected"),
    [
        # a grouping key identifies the group a changed row falls in
        ("SELECT user_id, COUNT(*) AS n FROM EVENTS GROUP BY user_id", ["EVENTS"], {"EVENTS": ("USER_ID", "USER_ID")}),
        # an output computed from a grouping key is a key too
        ("SELECT user_id + 1 AS k, COUNT(*) AS n FROM EVENTS GROUP BY user_id", ["EVENTS"], {"EVENTS": ("K", "USER_ID + 1")}),
        # a VARIANT path grouped and selected with a cast
        (
            "SELECT payload:session::VARCHAR AS s, COUNT(*) AS n FROM EVENTS GROUP BY payload:session",
            ["EVENTS"],
            {"EVENTS": ("S", "CAST(GET_PATH(PAYLOAD, 'session') AS VARCHAR)")},
        ),
        # an inner join: each side is keyed by one of its own output columns
        (
            "SELECT e.id, u.region FROM EVENTS e JOIN USERS u ON u.id = e.user_id",
            ["EVENTS", "USERS"],
            {"EVENTS": ("ID", "ID"), "USERS": ("REGION", "REGION")},
        ),
        # a CTE passes on its key
        (
            "WITH t AS (SELECT user_id, SUM(amount) AS total FROM EVENTS GROUP BY user_id) SELECT user_id, total FROM t",
            ["EVENTS"],
            {"EVENTS": ("USER_ID", "USER_ID")},
        ),
        # a window partitioned by an output column
        (
            "SELECT player, RANK() OVER (PARTITION BY player ORDER BY score) AS r FROM SCORES",
            ["SCORES"],
            {"SCORES": ("PLAYER", "PLAYER")},
        ),
    ],
)
def test_keys(sql, tables, expected):
    assert keys(sql, *tables) == expected


@pytest.mark.parametrize(
    ("sql", "tables", "unkeyed", "reason"),
    [
        # a global aggregate: every row feeds the one output row
        ("SELECT COUNT(*) AS n FROM EVENTS", ["EVENTS"], "EVENTS", "no output column identifies"),
        # a window over the whole table: any change can move every rank
        ("SELECT player, RANK() OVER (ORDER BY score) AS r FROM SCORES", ["SCORES"], "SCORES", "no output column identifies"),
        # the nullable side of a LEFT JOIN keeps no key of its own
        (
            "SELECT e.id, u.region FROM EVENTS e LEFT JOIN USERS u ON u.id = e.user_id",
            ["EVENTS", "USERS"],
            "USERS",
            "no output column identifies",
        ),
        ("SELECT id FROM EVENTS UNION ALL SELECT id FROM USERS", ["EVENTS", "USERS"], "EVENTS", "UNION"),
    ],
)
def test_no_key_and_why(sql, tables, unkeyed, reason):
    result = analyze(sql, {t: SCHEMA[t] for t in tables})
    assert unkeyed not in result.keys
    assert reason in result.reasons[unkeyed]


def test_the_left_join_keeps_the_preserved_side_keyed():
    assert keys("SELECT e.id, u.region FROM EVENTS e LEFT JOIN USERS u ON u.id = e.user_id", "EVENTS", "USERS") == {
        "EVENTS": ("ID", "ID")
    }


def test_a_parsed_tree_gives_the_same_keys_as_its_text():
    from engine.sql.parsing import parse_select

    sql = "SELECT user_id, SUM(amount) AS total FROM EVENTS GROUP BY user_id"
    assert analyze(parse_select(sql), {"EVENTS": SCHEMA["EVENTS"]}).keys == analyze(sql, {"EVENTS": SCHEMA["EVENTS"]}).keys


def test_a_query_that_cannot_be_analysed_has_no_key_and_says_so():
    result = analyze("SELECT id FROM EVENTS WHERE", {"EVENTS": SCHEMA["EVENTS"]})
    assert result.keys == {} and "not analysable" in result.reasons["EVENTS"]
