"""Writes made with another DuckDB client, to base and dynamic tables: every one is noticed by
the next pipe command, and after one refresh every dynamic table equals its oracle again.

Each case changes rows pipe wrote without going through pipe. The signature pipe keeps (row
count and the exact sum of the rows' hashes) must move for all of them, including the change
an XOR of hashes cannot see: both copies of a duplicated row updated alike.
"""

from __future__ import annotations

import pytest

from .conftest import check_oracles, outside, scalar

# (table, statements): each a change to the rows only, made outside pipe
BASE_WRITES = {
    "insert": ("RAW_INTERACTIONS", ["INSERT INTO RAW_INTERACTIONS SELECT * FROM RAW_INTERACTIONS LIMIT 7"]),
    "delete": ("RAW_INTERACTIONS", ["DELETE FROM RAW_INTERACTIONS WHERE rowid % 3 = 0"]),
    "update": ("MEMBERS", ["UPDATE MEMBERS SET REGION = 'Nowhere' WHERE MEMBER_ID % 10 = 1"]),
    "update-one-value": ("RESOURCES", ["UPDATE RESOURCES SET TOPIC = 'Other' WHERE RESOURCE_ID = 100"]),
    "delete-most": ("MEMBERS", ["DELETE FROM MEMBERS WHERE MEMBER_ID % 10 <> 0"]),
    "truncate-and-refill": ("RESOURCES", ["CREATE TEMP TABLE R AS SELECT * FROM RESOURCES",
                                          "DELETE FROM RESOURCES", "INSERT INTO RESOURCES SELECT * FROM R",
                                          "UPDATE RESOURCES SET ESTIMATED_MINUTES = ESTIMATED_MINUTES + 1 "
                                          "WHERE RESOURCE_ID = 101"]),
}
DYNAMIC_WRITES = {
    "delete-half": ("MEMBER_SESSIONS", ["DELETE FROM MEMBER_SESSIONS WHERE rowid % 2 = 0"]),
    "delete-all": ("ENGAGEMENT_DASHBOARD", ["DELETE FROM ENGAGEMENT_DASHBOARD"]),
    "insert-copy": ("MEMBER_ENGAGEMENT_SUMMARY",
                    ["INSERT INTO MEMBER_ENGAGEMENT_SUMMARY SELECT * FROM MEMBER_ENGAGEMENT_SUMMARY LIMIT 1"]),
    "update": ("RESOURCE_CATALOG", ["UPDATE RESOURCE_CATALOG SET TITLE = 'changed'"]),
    "update-deep": ("SESSION_ENGAGEMENT_DETAIL",
                    ["UPDATE SESSION_ENGAGEMENT_DETAIL SET MEMBER_TYPE = 'x' WHERE rowid < 5"]),
}


def _history(applied, *names):
    import json

    return json.loads(applied.pipe("history", *names, "--format", "json", ok=True).stdout)


@pytest.mark.parametrize("case", sorted(BASE_WRITES))
def test_an_outside_write_to_a_base_table_is_refreshed_through(fresh, case):
    table, statements = BASE_WRITES[case]
    outside(fresh.db, *statements)
    fresh.pipe("refresh", ok=True)
    check_oracles(fresh.db)


@pytest.mark.parametrize("case", sorted(DYNAMIC_WRITES))
def test_an_outside_write_to_a_dynamic_table_reinitialises_it_with_the_reason(fresh, case):
    table, statements = DYNAMIC_WRITES[case]
    outside(fresh.db, *statements)
    fresh.pipe("refresh", ok=True)
    latest = _history(fresh, table)[0]
    assert latest["REFRESH_ACTION"] == "REINITIALIZE", latest
    assert "changed outside pipe" in latest["STATE_MESSAGE"], latest
    check_oracles(fresh.db)
    # pipe's own writes after that are trusted again: the next refresh has nothing to do
    fresh.pipe("refresh", ok=True)
    assert _history(fresh, table)[0]["REFRESH_ACTION"] == "NO_DATA"


def test_apply_repairs_a_dynamic_table_changed_outside_instead_of_saying_nothing_changed(fresh):
    outside(fresh.db, "DELETE FROM MEMBER_SESSIONS WHERE rowid % 2 = 0")
    fresh.pipe("apply", "--yes", ok=True)
    assert _history(fresh, "MEMBER_SESSIONS")[0]["REFRESH_ACTION"] == "REINITIALIZE"
    check_oracles(fresh.db)


def _xor(db, table: str) -> int:
    """What the old signature hashed: the XOR of the rows' hashes."""
    return scalar(db, f"SELECT bit_xor(hash(t)) FROM {table} AS t")


def _duplicate_member_events(fresh) -> int:
    """Through pipe, write every event of one member a second time (logged, so pipe's signature
    follows); returns the member."""
    member = scalar(fresh.db, "SELECT min(MEMBER_ID) FROM RAW_INTERACTIONS")
    fresh.pipe("query", f"INSERT INTO RAW_INTERACTIONS SELECT * FROM RAW_INTERACTIONS WHERE MEMBER_ID = {member}", ok=True)
    fresh.pipe("refresh", ok=True)
    return member


def test_updating_both_copies_of_a_duplicated_row_is_noticed(fresh):
    member = _duplicate_member_events(fresh)
    before = _xor(fresh.db, "RAW_INTERACTIONS")
    # another client changes both copies of each of those events alike
    outside(fresh.db, f"UPDATE RAW_INTERACTIONS SET MEMBER_ID = MEMBER_ID + 1 WHERE MEMBER_ID = {member}")
    assert _xor(fresh.db, "RAW_INTERACTIONS") == before  # invisible to an XOR of row hashes
    fresh.pipe("refresh", ok=True)
    assert _history(fresh, "MEMBER_SESSIONS")[0]["REFRESH_ACTION"] != "NO_DATA"
    check_oracles(fresh.db)


def test_pipe_own_writes_are_never_taken_for_outside_ones(fresh):
    """stream, query writes and refreshes keep the signature in step: no REINITIALIZE follows."""
    fresh.pipe("stream", "--batches", "2", "--records", "40", "--delay", "0", ok=True)
    fresh.pipe("query", "DELETE FROM RAW_INTERACTIONS WHERE MEMBER_ID % 7 = 0", ok=True)
    fresh.pipe("query", "UPDATE MEMBERS SET REGION = 'West' WHERE MEMBER_ID % 5 = 0", ok=True)
    fresh.pipe("refresh", ok=True)
    fresh.pipe("refresh", ok=True)
    assert all(r["REFRESH_TRIGGER"] == "CREATION" for r in _history(fresh) if r["REFRESH_ACTION"] == "REINITIALIZE")
    latest = _history(fresh)[:5]
    assert {r["REFRESH_ACTION"] for r in latest} == {"NO_DATA"}
    check_oracles(fresh.db)
