"""DESCRIBE TABLE / DESCRIBE DYNAMIC TABLE on the Snowflake double: the output Snowflake's own
documentation records, and what ``pipe query --target snowflake "DESCRIBE …"`` returns."""

from __future__ import annotations

import json

import pytest

from engine.errors import BackendError

from .snowflake_double import FakeSnowflake
from .test_snowflake_backend import FIXTURES, backend, deploy, mini_graph

RECORDED = json.loads((FIXTURES / "describe_table.json").read_text(encoding="utf-8"))
NULLS = (None,) * 6  # check, expression, comment, policy name, privacy domain, schema evolution record


def test_the_double_gives_the_documented_describe_output_for_the_documented_table():
    fake = FakeSnowflake()
    cursor = fake.connect().cursor()
    for statement in ("CREATE DATABASE IF NOT EXISTS DOCS", "CREATE SCHEMA IF NOT EXISTS DOCS.EXAMPLES",
                      "USE SCHEMA DOCS.EXAMPLES", RECORDED["statement"]):
        cursor.execute(statement)
    for statement in ("DESCRIBE TABLE desc_example", "DESC TABLE desc_example"):
        cursor.execute(statement)
        assert [d[0] for d in cursor.description] == RECORDED["columns"]
        assert [list(row) for row in cursor.fetchall()] == RECORDED["rows"]


def test_describe_through_the_backend_shows_generated_and_dynamic_tables():
    fake = FakeSnowflake()
    extra = "  REGIONS:\n    target_lag: 1 minute\n    sql: SELECT member_id::NUMBER(10,0) AS id, region FROM MEMBERS\n\nstream:\n"
    graph = mini_graph(("stream:\n", extra))
    deploy(fake, graph)
    with backend(fake, graph) as target:
        members = target.query("DESCRIBE TABLE MEMBERS")
        regions = target.query("DESC DYNAMIC TABLE REGIONS")
        with pytest.raises(BackendError) as info:
            target.query("DESCRIBE DYNAMIC TABLE MEMBERS")
    assert members.columns == regions.columns == RECORDED["columns"]
    # mini.yaml's gen_members returns {member_id: number, region: varchar}: NUMBER is NUMBER(38,0), a
    # VARCHAR without length the maximum, as the documented output spells types
    assert members.rows == [
        ("MEMBER_ID", "NUMBER(38,0)", "COLUMN", "Y", None, "N", "N", *NULLS),
        ("REGION", "VARCHAR(16777216)", "COLUMN", "Y", None, "N", "N", *NULLS),
    ]
    assert regions.rows == [
        ("ID", "NUMBER(10,0)", "COLUMN", "Y", None, "N", "N", *NULLS),
        ("REGION", "VARCHAR(16777216)", "COLUMN", "Y", None, "N", "N", *NULLS),
    ]
    assert "MEMBERS" in str(info.value) and "does not exist" in str(info.value)


def test_describe_is_a_read_only_statement_for_other_pipe_processes():
    from engine.ui.wire import NotReadOnly, check_read_only

    for statement in ("DESCRIBE TABLE MEMBERS", "DESC DYNAMIC TABLE MEMBER_SESSIONS", "DESCRIBE DYNAMIC TABLE X"):
        assert check_read_only(statement) is None  # answered through the process holding the database
    with pytest.raises(NotReadOnly):
        check_read_only("DROP DYNAMIC TABLE X")
