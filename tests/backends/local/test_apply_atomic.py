"""A local apply is all-or-nothing: when any object fails, nothing of the apply remains."""

from __future__ import annotations

import json

from .conftest import Applied, pipeline_dir, table_names

# engagement.yaml's base tables and a dynamic table whose first refresh fails: an email is no number.
FAILING = """\
version: 1
name: failing
snowflake: {database: UNDERSTOOD_DEMO, schema: DYNAMIC_TABLES, warehouse: WH}
generators:
  gen_members:
    module: generators/engagement.py
    handler: Members
    args: {num_records: number}
    returns: {member_id: number, email: varchar, name: varchar, member_type: varchar, signup_date: date, region: varchar}
tables:
  MEMBERS: {generator: gen_members, args: [50]}
dynamic_tables:
  FINE:
    target_lag: 1 minute
    sql: SELECT member_id, region FROM MEMBERS
  BROKEN:
    target_lag: 1 minute
    sql: SELECT member_id, email::NUMBER AS n FROM FINE JOIN MEMBERS USING (member_id)
"""


def test_a_failed_apply_leaves_a_new_database_without_any_object(tmp_path):
    folder = pipeline_dir(tmp_path / "pipeline")
    (folder / "failing.yaml").write_text(FAILING)
    run = Applied(folder, tmp_path / "failing.duckdb")

    failed = run.pipe("apply", "--yes", file="failing.yaml", ok=False)
    assert failed.returncode == 1 and "BROKEN: create failed: Conversion Error" in failed.errors[0], str(failed)
    assert table_names(run.db) == set()  # neither MEMBERS nor FINE, created before BROKEN, remain
    status = json.loads(run.pipe("status", "--format", "json", file="failing.yaml", ok=True).stdout)
    assert {s["name"]: s["state"] for s in status} == {"MEMBERS": "NOT CREATED", "FINE": "NOT CREATED", "BROKEN": "NOT CREATED"}


def test_a_failed_apply_keeps_an_existing_database_as_it_was(tmp_path):
    folder = pipeline_dir(tmp_path / "pipeline")
    good = FAILING.replace("email::NUMBER AS n", "email AS n")
    (folder / "good.yaml").write_text(good)
    (folder / "failing.yaml").write_text(FAILING.replace("args: [50]", "args: [60]"))
    run = Applied(folder, tmp_path / "failing.duckdb")
    run.pipe("apply", "--yes", file="good.yaml", ok=True)
    before = json.loads(run.pipe("query", "SELECT * FROM BROKEN ORDER BY member_id", "--format", "json", file="good.yaml", ok=True).stdout)

    # Replaces MEMBERS (60 rows), then FINE and BROKEN, whose new query fails.
    failed = run.pipe("apply", "--yes", file="failing.yaml", ok=False)
    assert failed.returncode == 1 and "BROKEN: replace failed: Conversion Error" in failed.errors[0], str(failed)

    counts = json.loads(run.pipe("query", "SELECT COUNT(*) AS n FROM MEMBERS", "--format", "json", file="good.yaml", ok=True).stdout)
    assert counts == [{"N": 50}]  # the replaced base table is back as it was
    after = json.loads(run.pipe("query", "SELECT * FROM BROKEN ORDER BY member_id", "--format", "json", file="good.yaml", ok=True).stdout)
    assert after == before and len(after) == 50
    assert "no changes" in run.pipe("apply", "--yes", file="good.yaml", ok=True).stdout
