"""The local scheduler: target lags, DOWNSTREAM tables, failures and suspension, streaming."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine import project as api
from engine.backends.local.store import META, utcnow
from engine.report import Reporter

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "tests" / "fixtures" / "incremental" / "shop.yaml"


@pytest.fixture()
def shop(tmp_path):
    project = api.validate(SHOP)
    backend = project.backend("local", db=tmp_path / "shop.duckdb")
    api.apply(project, backend)
    backend.query("INSERT INTO CUSTOMERS VALUES (1, 'ann', 'West'), (2, 'bo', 'East')")
    backend.query("INSERT INTO ORDERS VALUES (1, 1, 10.5, 'ok', '2026-01-01'::TIMESTAMP)")
    yield project, backend
    backend.close()


def _age(backend, seconds: float) -> None:
    """Pretend every dynamic table was last refreshed ``seconds`` ago."""
    backend.store.con.execute(
        f"UPDATE {META}.DYNAMIC_TABLES SET DATA_TIMESTAMP = ?", [utcnow() - timedelta(seconds=seconds)]
    )


def test_nothing_is_due_while_within_half_the_target_lag(shop):
    project, backend = shop
    _age(backend, 10)
    assert backend.tick(Reporter()) == []


def test_time_lagged_tables_refresh_with_their_upstream_and_not_unneeded_downstream_ones(shop):
    project, backend = shop
    _age(backend, 45)  # over half of the 1-minute lag of REGION_TOTALS, STATUS_MIX and "grosses Régions"
    records = backend.tick(Reporter())
    refreshed = {r.name for r in records}
    # The 1-minute tables and the DOWNSTREAM tables they read, at one data timestamp …
    assert refreshed == {
        "CUSTOMER_ORDERS", "ORDER_DETAIL", "REGION_TOTALS", "STATUS_MIX", "Clients par région", "grosses Régions",
    }
    assert len({r.data_timestamp for r in records}) == 1
    # … and not TOP_ORDERS: DOWNSTREAM, and no time-lagged table reads it.
    assert "TOP_ORDERS" not in refreshed
    for status in backend.status():
        if status.name in refreshed:
            assert status.lag_seconds < 60


def test_a_failing_refresh_marks_failed_then_upstream_failed_then_suspends(shop, tmp_path):
    project, backend = shop
    # Break ORDER_DETAIL's input so that its query fails: the column it reads disappears.
    backend.store.con.execute(f"ALTER TABLE {backend.store.qualified('CUSTOMERS')} RENAME COLUMN NAME TO FULL_NAME")
    before = backend.store.con.execute(f"SELECT count(*) FROM {backend.store.qualified('ORDER_DETAIL')}").fetchall()
    for attempt in range(5):
        _age(backend, 45)
        records = {r.name: r for r in backend.tick(Reporter())}
        assert records["ORDER_DETAIL"].state == "FAILED"
        assert "ORDER_DETAIL" in records["ORDER_DETAIL"].state_message
        assert records["STATUS_MIX"].state == "UPSTREAM_FAILED"
    states = {s.name: s.state for s in backend.status()}
    assert states["ORDER_DETAIL"] == "SUSPENDED"
    # The failed table kept its previous contents.
    after = backend.store.con.execute(f"SELECT count(*) FROM {backend.store.qualified('ORDER_DETAIL')}").fetchall()
    assert before == after


def test_stream_with_no_delay_ends_with_every_table_refreshed_after_the_last_batch(tmp_path):
    source = ROOT / "pipelines"
    project = api.validate(source / "engagement.yaml")
    with project.backend("local", db=tmp_path / "engagement.duckdb") as backend:
        api.apply(project, backend)
        settings = api.stream_settings(project, batches=2, records=40, delay=0)
        refreshes = api.stream(project, backend, settings, reporter=Reporter())
        last_batch = utcnow()
        by_table = {}
        for record in refreshes:
            by_table[record.name] = record
        assert set(by_table) == set(project.pipeline.dynamic_tables)
        assert all(r.state == "SUCCEEDED" for r in by_table.values())
        assert backend.row_count("RAW_INTERACTIONS") == 10_080
        assert by_table["MEMBER_SESSIONS"].refresh_action == "INCREMENTAL"
        assert all(r.refresh_end_time <= last_batch for r in by_table.values())


def test_until_fresh_returns_once_every_table_is_within_its_lag(tmp_path):
    project = api.validate(SHOP)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        api.apply(project, backend)
        _age(backend, 90)  # every table is behind the 1-minute lag
        behind = [s.name for s in backend.status() if s.target_lag == "1 minute" and s.lag_seconds > 60]
        assert behind == ["REGION_TOTALS", "STATUS_MIX", "grosses Régions"]
        api._wait_until_fresh(project, backend, Reporter(), clock=lambda: 0.0, sleep=lambda seconds: None)
        assert all(s.lag_seconds < 60 for s in backend.status() if s.target_lag == "1 minute")


def test_transient_errors_are_retried_by_the_scheduler(shop, monkeypatch):
    from engine.errors import BackendError

    project, backend = shop
    _age(backend, 45)
    real = backend.refresher.refresh
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise BackendError("write-write conflict", transient=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(backend.refresher, "refresh", flaky)
    records = backend.tick(Reporter())
    assert len(calls) == 2
    assert {r.state for r in records} == {"SUCCEEDED"}
