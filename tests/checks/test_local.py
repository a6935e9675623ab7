"""Checks run after each local refresh, from the refresh's change where the kind allows it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import engine
from engine.checks.declared import declared_checks
from engine.checks.local import CHANGE, LocalChecks, _on_change
from engine.report import Silent
from .conftest import CHECKS

NOW = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)  # local timestamps are UTC


def _seed(orders):
    orders.insert("CUSTOMERS", "(10, 'Ann', 'gold')", "(11, 'Bo', 'silver')")
    orders.insert("ORDERS", f"(1, 10, 5.5, '{NOW}')", f"(2, 11, 7, '{NOW}')")
    orders.refresh()


def test_clean_data_passes_every_check_after_each_refresh(orders):
    _seed(orders)
    results = orders.results()
    # ORDER_LINES has 4 checks and CUSTOMER_TOTALS 3: each ran once, on this refresh.
    assert len(results) == 7
    assert orders.failed() == {}
    lines = [r for r in results if r[0] == "ORDER_LINES"]
    # not_null, unique and accepted_values looked only at the rows the refresh inserted, and so
    # did the custom check: it filters ORDER_LINES row by row.
    assert {(c, scope) for _, c, _, _, scope in lines} == {
        ("not_null(order_id, tier)", "change"), ("unique(order_id)", "change"),
        ("accepted_values(tier)", "change"), ("no_negative_amounts", "change"),
    }


def test_a_bad_change_fails_the_check_and_keeps_the_data(orders):
    _seed(orders)
    # A third customer of an unknown tier, and a second row for order 1: both reach ORDER_LINES.
    orders.insert("CUSTOMERS", "(12, 'Cy', 'bronze')")
    orders.insert("ORDERS", f"(3, 12, 2, '{NOW}')", f"(1, 11, -4, '{NOW}')")
    records = orders.refresh()

    failed = {k: n for k, n in orders.failed().items()}
    assert failed[("ORDER_LINES", "accepted_values(tier)")] == 1  # order 3, tier bronze
    assert failed[("ORDER_LINES", "unique(order_id)")] == 1  # one key (order 1) held twice
    assert failed[("ORDER_LINES", "no_negative_amounts")] == 1
    assert failed[("CUSTOMER_TOTALS", "row_count")] == 1  # 3 (customer, tier) groups > max 2
    # The refresh succeeded and says which checks failed; the rows are there.
    line = next(r for r in records if r.name == "ORDER_LINES")
    assert line.state == "SUCCEEDED" and "check failed: " in line.state_message
    assert "accepted_values(tier)" in line.state_message
    history = engine.history(orders.backend, names=["ORDER_LINES"], limit=1)[0]
    assert history.state_message == line.state_message
    rows = engine.query(orders.backend, "SELECT order_id FROM ORDER_LINES ORDER BY order_id, amount").rows
    assert [r[0] for r in rows] == [1, 1, 2, 3]
    status = {s.name: s.checks for s in engine.status(orders.backend)}
    assert status["ORDER_LINES"] == "3 FAILED of 4"


def test_change_scope_judges_new_keys_against_the_whole_table(orders):
    """An incremental check looks at the refresh's inserted rows only, and a key they carry is
    looked up in the whole table: a duplicate of an old row is found."""
    _seed(orders)
    orders.insert("ORDERS", f"(1, 11, 1, '{NOW}')")  # duplicates order 1 already in ORDER_LINES
    orders.refresh()
    last = [r for r in orders.results() if r[1] == "unique(order_id)"][-1]
    assert last[2:] == ("FAILED", 1, "change")
    item = next(i for i in declared_checks(orders.project.pipeline) if i.name == "unique(order_id)")
    full = LocalChecks(orders.backend.store, orders.project.pipeline).run(item)
    assert (full.status, full.failing_rows, full.sample) == ("FAILED", 1, [{"ORDER_ID": 1, "DUPLICATES": 2}])


def test_no_data_refresh_runs_no_checks(orders):
    _seed(orders)
    before = len(orders.results())
    records = orders.refresh()
    assert {r.refresh_action for r in records} == {"NO_DATA"}
    assert len(orders.results()) == before


def test_freshness_of_a_dynamic_table_is_its_data_timestamp(orders):
    _seed(orders)
    item = next(i for i in declared_checks(orders.project.pipeline, ["CUSTOMER_TOTALS"]) if i.name == "freshness")
    runner = LocalChecks(orders.backend.store, orders.project.pipeline)
    stamp = orders.backend.store.data_timestamp("CUSTOMER_TOTALS")
    assert runner.run(item, now=stamp + timedelta(minutes=4)).status == "PASSED"
    late = runner.run(item, now=stamp + timedelta(minutes=6))
    assert late.status == "FAILED" and late.message == "data is 360s old; at most 300s allowed"


def test_freshness_of_a_column_and_relationships_on_base_tables(orders):
    _seed(orders)
    orders.insert("ORDERS", f"(5, 77, 1, '{NOW - timedelta(hours=3)}')")
    report = engine.run_tests(orders.project, orders.backend, ["ORDERS"])
    by_name = {r.check: r for r in report.checks}
    assert by_name["relationships(customer_id)"].failing_rows == 1
    assert by_name["relationships(customer_id)"].sample[0]["CUSTOMER_ID"] == 77
    # The newest placed_at is NOW (orders 1 and 2): fresh within an hour.
    assert by_name["freshness(placed_at)"].status == "PASSED"
    assert not report.ok  # relationships is an error check


def test_relationships_over_a_whole_table_count_every_unmatched_row_and_skip_nulls(orders):
    _seed(orders)  # customers 10 and 11
    orders.insert("ORDERS", f"(5, 77, 1, '{NOW}')", f"(6, 77, 2, '{NOW}')", f"(7, NULL, 3, '{NOW}')",
                  f"(8, 10, 4, '{NOW}')")
    report = engine.run_tests(orders.project, orders.backend, ["ORDERS"])
    result = next(r for r in report.checks if r.check == "relationships(customer_id)")
    # customer ids 10, 11, 77, 77, NULL, 10: both rows of 77 have no customer; NULL is not compared
    assert result.failing_rows == 2
    assert sorted(row["ORDER_ID"] for row in result.sample) == [5, 6]


def test_a_failed_check_is_judged_on_the_whole_table_until_it_passes(orders):
    _seed(orders)
    orders.insert("ORDERS", f"(1, 11, 1, '{NOW}')")  # a second row for order 1
    orders.refresh()
    orders.insert("ORDERS", f"(4, 10, 1, '{NOW}')")  # a clean change: order 1 is still duplicated
    orders.refresh()
    last = [r for r in orders.results() if r[1] == "unique(order_id)"][-1]
    assert last[2:] == ("FAILED", 1, "table")
    status = {s.name: s.checks for s in engine.status(orders.backend)}
    assert status["ORDER_LINES"] == "1 FAILED of 4"
    engine.query(orders.backend, "DELETE FROM ORDERS WHERE order_id = 1 AND customer_id = 11")
    orders.refresh()
    last = [r for r in orders.results() if r[1] == "unique(order_id)"][-1]
    assert last[2:] == ("PASSED", 0, "table")  # judged on every row once more, then back to changes
    orders.insert("ORDERS", f"(5, 10, 1, '{NOW}')")
    orders.refresh()
    assert [r for r in orders.results() if r[1] == "unique(order_id)"][-1][2:] == ("PASSED", 0, "change")


def test_a_check_that_cannot_run_leaves_the_refresh_committed(tmp_path):
    """A runtime error in a check aborts the transaction it runs in: the refresh is done again
    without it, the check runs after the commit and is recorded as ERROR, and later refreshes run
    it after their commit straight away."""
    project = engine.validate(CHECKS / "broken_check.yaml")
    with project.backend("local", db=tmp_path / "broken.duckdb") as backend:
        engine.apply(project, backend)
        engine.query(backend, "INSERT INTO CODES VALUES (1, '5'), (2, 'x')")
        record = engine.refresh(project, backend, reporter=Silent())[0]
        assert (record.state, record.refresh_action, record.inserted_rows) == ("SUCCEEDED", "INCREMENTAL", 2)
        assert "numeric_codes_positive: the check could not run" in record.state_message
        assert engine.query(backend, "SELECT id FROM CODE_LINES ORDER BY id").rows == [(1,), (2,)]
        engine.query(backend, "INSERT INTO CODES VALUES (3, 'y')")
        record = engine.refresh(project, backend, reporter=Silent())[0]
        assert (record.state, record.inserted_rows) == ("SUCCEEDED", 1)
        results = backend.store.con.execute(
            "SELECT CHECK_NAME, STATUS, SCOPE FROM _PIPE.CHECK_RESULTS WHERE TRIGGER = 'REFRESH' ORDER BY rowid"
        ).fetchall()
        assert results == [
            ("not_null(id)", "PASSED", "change"), ("numeric_codes_positive", "ERROR", "table"),
            ("not_null(id)", "PASSED", "change"), ("numeric_codes_positive", "ERROR", "table"),
        ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('SELECT "A" FROM "T" AS "X" WHERE "A" < 0', f'SELECT "A" FROM {CHANGE} AS "X" WHERE "A" < 0'),
        ('SELECT a, b FROM T WHERE b IS NULL', f'SELECT a, b FROM {CHANGE} AS "T" WHERE b IS NULL'),
        ("SELECT count(*) FROM T HAVING count(*) > 5", None),  # an aggregate over every row
        ("SELECT a FROM T GROUP BY a", None),
        ("SELECT DISTINCT a FROM T", None),
        ("SELECT a FROM T LIMIT 3", None),
        ("SELECT a FROM T WHERE a NOT IN (SELECT b FROM U)", None),  # reads another table
        ("SELECT t.a FROM T t JOIN U u ON u.b = t.a", None),
        ("SELECT a FROM U WHERE a < 0", None),  # not the guarded table
        ("SELECT a, row_number() OVER (ORDER BY a) FROM T", None),
    ],
)
def test_which_custom_checks_read_the_change_alone(sql, expected):
    assert _on_change(sql, "T") == expected


def test_a_key_of_several_columns_is_looked_up_for_the_changed_keys_only(orders):
    from engine.checks.declared import DeclaredCheck
    from engine.spec.checks import Check

    orders.insert("ORDERS", *(f"({o}, {c}, 1, '{NOW}')" for o, c in [(1, 10), (1, 10), (1, 11), (2, 11), (2, 11)]))
    item = DeclaredCheck("ORDERS", 0, Check(unique=["order_id", "customer_id"]), "tables")
    runner = LocalChecks(orders.backend.store, orders.project.pipeline)
    # Held twice: (1, 10) and (2, 11). A change carrying order 1's rows finds (1, 10) only.
    changed = runner.run(item, "SELECT * FROM ORDERS WHERE order_id = 1")
    assert (changed.status, changed.failing_rows, changed.scope) == ("FAILED", 1, "change")
    assert changed.sample == [{"ORDER_ID": 1, "CUSTOMER_ID": 10, "DUPLICATES": 2}]
    whole = runner.run(item)
    assert (whole.failing_rows, whole.scope) == (2, "table")
    assert runner.run(item, "SELECT * FROM ORDERS WHERE false").status == "PASSED"


def test_relationships_on_a_change_look_up_its_values_alone(orders):
    orders.insert("CUSTOMERS", "(10, 'Ann', 'gold')", "(11, 'Bo', 'silver')")
    orders.insert("ORDERS", *(f"({o}, {c}, 1, '{NOW}')" for o, c in [(1, 10), (2, 77), (3, 'NULL'), (4, 11), (5, 77)]))
    item = next(i for i in declared_checks(orders.project.pipeline, ["ORDERS"]) if i.name == "relationships(customer_id)")
    runner = LocalChecks(orders.backend.store, orders.project.pipeline)
    # Customer 77 is unknown: orders 2 and 5 break the check; a NULL customer is not judged.
    changed = runner.run(item, "SELECT * FROM ORDERS WHERE order_id >= 2")
    assert (changed.status, changed.failing_rows, changed.scope) == ("FAILED", 2, "change")
    assert sorted(r["ORDER_ID"] for r in changed.sample) == [2, 5]
    assert runner.run(item, "SELECT * FROM ORDERS WHERE order_id IN (1, 3, 4)").status == "PASSED"
    whole = runner.run(item)
    assert (whole.failing_rows, whole.scope) == (2, "table")
