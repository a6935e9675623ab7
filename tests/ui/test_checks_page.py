"""The live page marks a table whose checks failed: red for an error check, amber for a warning,
with the failing checks' names in its side panel."""

from __future__ import annotations

import signal
from datetime import datetime, timezone

import pytest

from helpers import FIXTURES

from .conftest import new_page, screenshot, start_pipe

ORDERS = FIXTURES / "checks" / "orders.yaml"
NOW = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)


@pytest.fixture
def failing_db(tmp_path):
    """The orders fixture after a refresh that broke ORDER_LINES's error checks, and a pipe test run
    that found CUSTOMERS's warn check failing and ORDERS's passing."""
    import engine
    from engine.report import Silent

    project = engine.validate(ORDERS)
    db = tmp_path / "orders.duckdb"
    with project.backend("local", db=db) as backend:
        engine.apply(project, backend)
        engine.query(backend, "INSERT INTO CUSTOMERS VALUES (10, 'Ann', 'gold'), (12, 'Cy', 'bronze')")
        engine.query(backend, f"INSERT INTO ORDERS VALUES (1, 10, 5, '{NOW}'), (2, 12, 3, '{NOW}')")
        engine.refresh(project, backend, reporter=Silent())
        engine.run_tests(project, backend, ["CUSTOMERS", "ORDERS"])
    return db


@pytest.fixture
def page(browser):
    page = new_page(browser, 1400, 900)
    yield page
    page.context.close()


def test_a_node_with_a_failing_check_is_red_and_its_panel_names_the_checks(page, failing_db, tmp_path):
    proc, url = start_pipe(["ui", str(ORDERS), "--db", str(failing_db), "--port", "0", "--no-browser"], tmp_path)
    try:
        page.goto(url)
        page.wait_for_selector('svg#dag [data-node="ORDER_LINES"].state-check-failed')
        classes = {
            name: page.locator(f'svg#dag [data-node="{name}"]').get_attribute("class")
            for name in ("CUSTOMERS", "ORDERS", "ORDER_LINES", "CUSTOMER_TOTALS")
        }
        # Order 2's customer is of tier bronze: ORDER_LINES's accepted_values (an error check) fails.
        assert "state-check-failed" in classes["ORDER_LINES"]
        # CUSTOMERS's accepted_values is a warn check: amber, not red.
        assert "state-check-warned" in classes["CUSTOMERS"]
        # ORDERS's checks passed on pipe test, CUSTOMER_TOTALS's on the refresh.
        assert "state-check" not in classes["ORDERS"] and "state-check" not in classes["CUSTOMER_TOTALS"]
        red = page.eval_on_selector('svg#dag [data-node="ORDER_LINES"] .accent', "e => getComputedStyle(e).fill")
        amber = page.eval_on_selector('svg#dag [data-node="CUSTOMERS"] .accent', "e => getComputedStyle(e).fill")
        assert red == "rgb(220, 38, 38)" and amber == "rgb(245, 158, 11)"

        page.click('svg#dag [data-node="ORDER_LINES"]')
        page.wait_for_selector("#node-body [data-failed-checks]")
        failing = page.eval_on_selector_all(
            "#node-body [data-failed-checks] li", "items => items.map(i => [i.dataset.check, i.dataset.severity])"
        )
        assert failing == [["accepted_values(tier)", "error"]]
        assert "1 FAILED of 4" in page.locator("#node-body").text_content()
        screenshot(page, "checks_failed_node")
        assert page.problems == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
