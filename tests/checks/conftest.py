"""Fixtures of the checks tests: the orders fixture pipeline applied to a fresh local database."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine.report import Silent

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "tests" / "fixtures" / "checks"
ORDERS = CHECKS / "orders.yaml"


class Orders:
    """The orders pipeline on a local database: insert rows, refresh, read check results."""

    def __init__(self, db: Path):
        self.project = engine.validate(ORDERS)
        self.backend = self.project.backend("local", db=db)
        engine.apply(self.project, self.backend)

    def insert(self, table: str, *rows: str) -> None:
        """Insert rows given as SQL tuples, e.g. ``"(1, 'Ann', 'gold')"``."""
        engine.query(self.backend, f"INSERT INTO {table} VALUES {', '.join(rows)}")

    def refresh(self):
        return engine.refresh(self.project, self.backend, reporter=Silent())

    def results(self, trigger: str = "REFRESH") -> list[tuple]:
        """(table, check, status, failing rows, scope) of every recorded result, in order."""
        return self.backend.store.con.execute(
            "SELECT TABLE_NAME, CHECK_NAME, STATUS, FAILING_ROWS, SCOPE FROM _PIPE.CHECK_RESULTS "
            "WHERE TRIGGER = ? ORDER BY rowid",
            [trigger],
        ).fetchall()

    def failed(self, trigger: str = "REFRESH") -> dict[tuple[str, str], int]:
        return {(t, c): n for t, c, status, n, _ in self.results(trigger) if status != "PASSED"}


@pytest.fixture
def orders(tmp_path):
    shop = Orders(tmp_path / "orders.duckdb")
    yield shop
    shop.backend.close()
