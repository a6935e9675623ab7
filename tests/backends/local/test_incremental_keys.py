"""Incremental refresh finds the rows of the affected keys whatever the key's type, and when a
table has a column named ROWID (which hides DuckDB's row id)."""

from __future__ import annotations

import pytest

from engine import project as api
from engine.report import Reporter

from .test_incremental_property import assert_tables_equal_queries

pytestmark = pytest.mark.usefixtures("aggregate_state_kept")

KEYS = {
    "K_TEXT": "varchar",
    "K_INT": "number",
    "K_DEC": "number(10,2)",
    "K_DATE": "date",
    "K_TS": "timestamp",
    "K_BOOL": "boolean",
}

PIPELINE = """\
version: 1
name: keys
snowflake: {database: KEYS, schema: DATA, warehouse: WH}
tables:
  EVENTS:
    columns: {id: number, k_text: varchar, k_int: number, k_dec: 'number(10,2)', k_date: date,
              k_ts: timestamp, k_bool: boolean, amount: number}
  LABELS:
    columns: {id: number, rowid: number, label: varchar}
dynamic_tables:
%s
  LABELLED:
    target_lag: downstream
    sql: SELECT l.rowid, l.label, e.id, e.amount FROM LABELS l JOIN EVENTS e ON e.id = l.id
  LABEL_TOTALS:
    target_lag: downstream
    sql: |
      SELECT t.rowid, t.label, SUM(t.amount) AS total, MAX(l.label) AS other
      FROM LABELLED t JOIN LABELS l ON l.rowid = t.rowid
      GROUP BY t.rowid, t.label
"""

# Per key type: a grouped table kept as a pre-aggregation (ARRAY_AGG of every row has no
# aggregate state), one kept as aggregate state, and a joined one recomputed from its
# restricted inputs.
PER_KEY = """\
  BY_{name}:
    target_lag: downstream
    sql: SELECT {col}, COUNT(*) AS n, ARRAY_AGG(amount) AS amounts FROM EVENTS GROUP BY {col}
  KEPT_{name}:
    target_lag: downstream
    sql: SELECT {col}, COUNT(*) AS n, COUNT(DISTINCT amount) AS amounts, MAX(amount) AS top FROM EVENTS GROUP BY {col}
  JOINED_{name}:
    target_lag: downstream
    sql: |
      SELECT e.{col}, COUNT(*) AS n, SUM(e.amount) AS total, MAX(l.label) AS label
      FROM EVENTS e LEFT JOIN LABELS l ON l.id = e.id
      GROUP BY e.{col}
"""

ROWS = [
    (1, "it's", 1, "1.50", "2026-01-01", "2026-01-01 10:00:00", True, 5),
    (2, 'say "hi"', -9007199254740993, "-0.01", "1999-12-31", "2026-01-01 10:00:00.123456", False, 7),
    (3, "", 0, "0.00", "2026-02-28", "1970-01-01 00:00:00", True, 11),
    (4, None, None, None, None, None, None, 13),
    (5, "it's", 1, "1.50", "2026-01-01", "2026-01-01 10:00:00", True, 17),
    (6, "ünï\\cödé", 42, "99999999.99", "2026-12-31", "2026-12-31 23:59:59.999999", False, 19),
]


def _values(rows) -> str:
    def sql(value, kind):
        if value is None:
            return "NULL"
        if kind == "varchar":
            return "'" + value.replace("'", "''") + "'"
        if kind in ("date", "timestamp"):
            return f"'{value}'::{kind.upper()}"
        return str(value).upper()

    kinds = ["number", *KEYS.values(), "number"]
    return ", ".join("(" + ", ".join(sql(v, k) for v, k in zip(row, kinds)) + ")" for row in rows)


@pytest.fixture
def backend(tmp_path):
    per_key = "".join(PER_KEY.format(name=c[2:], col=c.lower()) for c in KEYS)
    path = tmp_path / "keys.yaml"
    path.write_text(PIPELINE % per_key)
    project = api.validate(path)
    with project.backend("local", db=tmp_path / "keys.duckdb") as backend:
        api.apply(project, backend)
        backend.query(f"INSERT INTO EVENTS VALUES {_values(ROWS[:3])}")
        backend.query("INSERT INTO LABELS VALUES (1, 100, 'a'), (2, 200, 'b'), (3, 100, 'c'), (2, NULL, 'd')")
        api.refresh(project, backend, reporter=Reporter())
        plans = backend.refresher.incremental.plan
        assert all(plans(f"BY_{c[2:]}").pre is not None for c in KEYS)
        assert all(plans(f"KEPT_{c[2:]}").state is not None for c in KEYS)
        yield project, backend


PER_KEY_TABLES = {f"{kind}_{c[2:]}" for c in KEYS for kind in ("BY", "KEPT", "JOINED")}


@pytest.mark.parametrize(
    "writes, incremental",
    [
        ([f"INSERT INTO EVENTS VALUES {_values(ROWS[3:])}"], PER_KEY_TABLES),
        (["UPDATE EVENTS SET amount = amount + 1 WHERE id IN (1, 2)", "DELETE FROM EVENTS WHERE id = 3"], PER_KEY_TABLES),
        ([f"INSERT INTO EVENTS VALUES {_values(ROWS[3:4])}"], PER_KEY_TABLES),
        (
            [f"INSERT INTO EVENTS VALUES {_values(ROWS[3:5])}", "UPDATE EVENTS SET amount = 0 WHERE id IN (4, 5)"],
            PER_KEY_TABLES,
        ),
        (["UPDATE EVENTS SET amount = 1 WHERE id = 1"], {"LABELLED", "LABEL_TOTALS"}),
        (["UPDATE LABELS SET label = 'z' WHERE rowid IS NULL"], {"LABELLED", "LABEL_TOTALS"}),
    ],
    ids=["insert", "update-delete", "null-key", "written-twice", "rowid-column", "rowid-input"],
)
def test_incremental_refresh_matches_keys_of_every_type(backend, writes, incremental):
    project, backend = backend
    for statement in writes:
        backend.query(statement)
    records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
    for name in incremental:
        assert records[name].refresh_action == "INCREMENTAL", (name, records[name].state_message)
    assert_tables_equal_queries(project, backend)
