"""The correctness oracle: every dynamic table of engagement.yaml, as ``pipe`` computed it on
DuckDB, equals the same table recomputed by hand-written DuckDB SQL over the same base tables
(tests/fixtures/local/oracle/<DT>.sql, written from the plan's meaning, not by the translator).

Every column of every row is compared (as multisets). Exceptions, each explained in the oracle
file: ARRAY_AGG order is ignored; MODE columns may tie and must be one of the most frequent
values; clock columns (CURRENT_DATE, CURRENT_TIMESTAMP) are compared within a tolerance.
"""

from __future__ import annotations

import shutil
from collections import Counter

import duckdb
import pytest

from .conftest import (
    DYNAMIC_TABLES,
    ORACLE,
    SCHEMA,
    check_oracles,
    compare_with_oracle,
    connect,
    history,
    materialise_oracles,
    status,
)


def test_there_is_one_oracle_per_dynamic_table():
    import yaml

    from .conftest import PIPELINES

    declared = yaml.safe_load((PIPELINES / "engagement.yaml").read_text())["dynamic_tables"]
    assert sorted(p.stem for p in ORACLE.glob("*.sql")) == sorted(declared) == sorted(DYNAMIC_TABLES)


@pytest.mark.parametrize("name", DYNAMIC_TABLES)
def test_dynamic_table_equals_its_oracle(engagement_db, name):
    with connect(engagement_db.db) as con:
        materialise_oracles(con)
        rows = compare_with_oracle(con, name)
        base = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("MEMBERS", "RAW_INTERACTIONS")}
    assert base == {"MEMBERS": 1000, "RAW_INTERACTIONS": 10000}
    assert rows > 0  # an empty table would compare equal to an empty oracle: not a test


def test_the_oracles_are_not_trivial(engagement_db):
    """The generated data exercises what the oracles check: many sessions per member, many
    resources per session, every content category, and MODE ties among members."""
    with connect(engagement_db.db) as con:
        materialise_oracles(con)
        sessions, members = con.execute(
            "SELECT count(*), count(DISTINCT MEMBER_ID) FROM ORACLE_MEMBER_SESSIONS"
        ).fetchone()
        multi = con.execute("SELECT count(*) FROM ORACLE_MEMBER_SESSIONS WHERE len(RESOURCES_VIEWED) > 1").fetchone()[0]
        categories = {r[0] for r in con.execute("SELECT DISTINCT CONTENT_CATEGORY FROM ORACLE_RESOURCE_CATALOG").fetchall()}
        ties = con.execute("SELECT count(*) FROM ORACLE_MEMBER_ENGAGEMENT_SUMMARY WHERE len(FAVORITE_TOPIC) > 1").fetchone()[0]
    assert sessions > 2 * members > 0
    assert multi > sessions / 2
    assert categories == {"multimedia", "reading", "interactive"}
    assert ties > 0  # so the "one of the most frequent" comparison matters


@pytest.mark.parametrize(
    "table, change, message",
    [
        ("SESSION_ENGAGEMENT_DETAIL", "UPDATE {t} SET EVENT_COUNT = EVENT_COUNT + 1 WHERE rowid = 7", "only in the table"),
        ("MEMBER_SESSIONS", "DELETE FROM {t} WHERE rowid = 3", "rows vs oracle"),
        ("MEMBER_SESSIONS", "UPDATE {t} SET RESOURCES_VIEWED = '[100]' WHERE rowid = 0", "only in the table"),
        ("MEMBER_ENGAGEMENT_SUMMARY", "UPDATE {t} SET FAVORITE_TOPIC = 'astrology' WHERE rowid = 0", "most frequent"),
        ("RESOURCE_CATALOG", "UPDATE {t} SET DAYS_SINCE_PUBLISH = DAYS_SINCE_PUBLISH + 3 WHERE rowid = 0", "tolerance"),
        ("ENGAGEMENT_DASHBOARD", "UPDATE {t} SET MEMBERS_BY_REGION = '{{\"West\": 1}}'", "only in the table"),
    ],
)
def test_the_comparison_catches_a_wrong_value(engagement_db, tmp_path, table, change, message):
    copy = tmp_path / "tampered.duckdb"
    shutil.copy(engagement_db.db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(change.format(t=f"{SCHEMA}.{table}"))
    with connect(copy) as con:
        materialise_oracles(con)
        with pytest.raises(AssertionError, match=message):
            compare_with_oracle(con, table)


@pytest.mark.slow
def test_oracles_hold_after_streaming_and_refreshing(applied):
    """Refreshes after inserts (incremental where the table allows it) keep every dynamic
    table equal to its query over the grown base table."""
    applied.pipe("stream", "--batches", "3", "--records", "250", "--delay", "0", ok=True)
    assert status(applied)["RAW_INTERACTIONS"]["rows"] == 10000 + 3 * 250
    check_oracles(applied.db)

    applied.pipe("query", "DELETE FROM RAW_INTERACTIONS WHERE member_id % 7 = 0", ok=True)
    applied.pipe("query", "UPDATE MEMBERS SET region = 'Pacific' WHERE member_id % 5 = 0", ok=True)
    applied.pipe("refresh", ok=True)
    rows = check_oracles(applied.db)
    assert rows["MEMBER_SESSIONS"] > 0
    with connect(applied.db) as con:
        assert con.execute("SELECT count(*) FROM MEMBER_SESSIONS WHERE MEMBER_ID % 7 = 0").fetchone()[0] == 0
        regions = con.execute("SELECT MEMBERS_BY_REGION FROM ENGAGEMENT_DASHBOARD").fetchone()[0]
    assert "Pacific" in regions

    applied.pipe("refresh", "--full", ok=True)
    check_oracles(applied.db)
    full = [h for h in history(applied) if h["REFRESH_TRIGGER"] == "MANUAL"][: len(DYNAMIC_TABLES)]
    assert Counter(h["REFRESH_ACTION"] for h in full) == Counter({"FULL": len(DYNAMIC_TABLES)})


