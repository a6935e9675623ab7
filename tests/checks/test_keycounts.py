"""Uniqueness checks after incremental refreshes judge the changed keys from kept key counts:
the results must be those of counting the table's rows, old rows included."""

from __future__ import annotations

from datetime import datetime, timezone

import engine
from engine.checks.keycounts import state_name

NOW = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
UNIQUE = "unique(order_id)"


def _order(order_id: int, customer_id: int, amount: float = 1) -> str:
    return f"({order_id}, {customer_id}, {amount}, '{NOW}')"


def _refresh(orders) -> dict[str, str]:
    return {r.name: r.refresh_action for r in orders.refresh()}


def _last(orders, check: str = UNIQUE) -> tuple:
    """(status, failing rows, scope) of ``check``'s latest result on ORDER_LINES."""
    return [r for r in orders.results() if r[:2] == ("ORDER_LINES", check)][-1][2:]


def _held_twice(orders) -> list[tuple]:
    """The order ids ORDER_LINES holds more than once, counted on its rows."""
    return orders.backend.store.con.execute(
        'SELECT ORDER_ID, count(*) FROM SHOP.SALES.ORDER_LINES GROUP BY 1 HAVING count(*) > 1 ORDER BY 1'
    ).fetchall()


def _sample(orders) -> str:
    return orders.backend.store.con.execute(
        "SELECT SAMPLE FROM _PIPE.CHECK_RESULTS WHERE CHECK_NAME = ? ORDER BY rowid DESC LIMIT 1", [UNIQUE]
    ).fetchone()[0]


def _seeded(orders) -> None:
    orders.insert("CUSTOMERS", "(10, 'Ann', 'gold')", "(11, 'Bo', 'silver')")
    orders.insert("ORDERS", _order(1, 10), _order(2, 11))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    orders.insert("ORDERS", _order(3, 10))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _last(orders) == ("PASSED", 0, "change")


def test_a_change_duplicating_an_old_row_fails_the_check(orders):
    _seeded(orders)
    # Order 1 has been in ORDER_LINES for two refreshes; a change brings a second row for it.
    orders.insert("ORDERS", _order(1, 11, 9))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == [(1, 2)]
    assert _last(orders) == ("FAILED", 1, "change")
    assert _sample(orders) == '[{"ORDER_ID": 1, "DUPLICATES": 2}]'


def test_a_delete_removing_the_duplicate_restores_the_check(orders):
    _seeded(orders)
    orders.insert("ORDERS", _order(2, 10, 9))
    _refresh(orders)
    assert _last(orders)[:2] == ("FAILED", 1)
    engine.query(orders.backend, "DELETE FROM ORDERS WHERE order_id = 2 AND customer_id = 11")
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == []
    assert _last(orders) == ("PASSED", 0, "table")  # judged whole once after a failure
    # The counts followed the delete: order 2 gone and inserted again is held once.
    engine.query(orders.backend, "DELETE FROM ORDERS WHERE order_id = 2")
    _refresh(orders)
    orders.insert("ORDERS", _order(2, 11))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == []
    assert _last(orders) == ("PASSED", 0, "change")


def test_writes_made_while_checks_were_off_are_counted_at_the_next_check(orders):
    _seeded(orders)
    checks = orders.backend.refresher.checks
    declared, checks.by_table = checks.by_table, {}  # this write is not checked
    orders.insert("ORDERS", _order(3, 11, 2))
    _refresh(orders)
    checks.by_table = declared
    orders.insert("ORDERS", _order(4, 10))  # a clean change: the earlier one is still counted
    _refresh(orders)
    assert _held_twice(orders) == [(3, 2)]
    assert _last(orders) == ("FAILED", 1, "change")


def test_counts_lost_or_stale_are_counted_again_from_the_table(orders):
    _seeded(orders)
    store = orders.backend.store
    state = store.kept_table(state_name("ORDER_LINES", ["order_id"])).sql(dialect="duckdb")
    store.con.execute(f"DROP TABLE {state}")
    orders.insert("ORDERS", _order(1, 11))
    _refresh(orders)
    assert _held_twice(orders) == [(1, 2)]
    assert _last(orders) == ("FAILED", 1, "change")
    # The counts were made again: one key counted twice, the others once.
    counts = store.con.execute(f"SELECT sum(__N) FROM {state} GROUP BY __H ORDER BY 1").fetchall()
    assert counts == [(1,), (1,), (2,)]


def test_a_suspected_key_is_confirmed_on_the_table(orders):
    """Keys are counted by hash: two keys sharing one would be suspected, never reported, as the
    table is read for the suspects before a check fails."""
    _seeded(orders)
    store = orders.backend.store
    state = store.kept_table(state_name("ORDER_LINES", ["order_id"])).sql(dialect="duckdb")
    kind = store.con.execute("SELECT typeof(ORDER_ID) FROM SHOP.SALES.ORDER_LINES LIMIT 1").fetchone()[0]
    store.con.execute(f"INSERT INTO {state} SELECT hash(CAST(7 AS {kind})), 1")  # as if another key shared 7's hash
    orders.insert("ORDERS", _order(7, 10))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == []
    assert _last(orders) == ("PASSED", 0, "change")


def test_counts_match_the_table_after_inserts_updates_and_deletes(orders):
    _seeded(orders)
    orders.insert("ORDERS", _order(4, 11), _order(5, 10))
    _refresh(orders)
    engine.query(orders.backend, "UPDATE ORDERS SET amount = 3 WHERE order_id = 4")
    _refresh(orders)
    engine.query(orders.backend, "DELETE FROM ORDERS WHERE order_id IN (1, 5)")
    orders.insert("ORDERS", _order(6, 10), _order(6, 11))
    _refresh(orders)
    assert _last(orders)[:2] == ("FAILED", 1)
    store = orders.backend.store
    state = store.kept_table(state_name("ORDER_LINES", ["order_id"])).sql(dialect="duckdb")
    counted = store.con.execute(
        f"SELECT __H, sum(__N) FROM {state} GROUP BY 1 HAVING sum(__N) <> 0 ORDER BY 1"
    ).fetchall()
    table = store.con.execute(
        "SELECT hash(ORDER_ID), count(*) FROM SHOP.SALES.ORDER_LINES GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counted == table
    assert sorted(n for _, n in table) == [1, 1, 1, 2]  # orders 2, 3 and 4 once, 6 twice


def test_destroy_drops_the_key_counts(orders):
    _seeded(orders)
    store = orders.backend.store
    assert {"UNIQUE_ORDER_LINES_ORDER_ID", "UNIQUE_CUSTOMER_TOTALS_CUSTOMER_ID_TIER"} <= store.kept_tables()
    engine.destroy(orders.project, orders.backend)
    assert not any(t.startswith("UNIQUE_") and t != "UNIQUE_COUNTS" for t in store.kept_tables())


def test_written_keys_looked_up_by_index_find_the_same_duplicates(orders, monkeypatch):
    # Counts many for the keys written are read through an index on their hash column; made
    # to hold here for a handful of rows, the results are those of the scan above.
    from engine.backends.local.incremental import aggstate

    monkeypatch.setattr(aggstate, "SCAN_ROWS_PER_KEY", 0)
    _seeded(orders)
    indexes = orders.backend.store.kept_indexes()
    assert f"{state_name('ORDER_LINES', ['order_id'])}_H" in indexes
    orders.insert("ORDERS", _order(1, 11, 9), _order(4, 10))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == [(1, 2)]
    assert _last(orders) == ("FAILED", 1, "change")
    assert _sample(orders) == '[{"ORDER_ID": 1, "DUPLICATES": 2}]'
    engine.query(orders.backend, "DELETE FROM ORDERS WHERE order_id = 1 AND customer_id = 11")
    _refresh(orders)
    orders.insert("ORDERS", _order(5, 11))
    assert _refresh(orders)["ORDER_LINES"] == "INCREMENTAL"
    assert _held_twice(orders) == []
    assert _last(orders) == ("PASSED", 0, "change")
