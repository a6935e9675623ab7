"""The page in a real browser: Playwright driving Debian's Chromium, headless, on loopback.

Playwright's own browser download is not used (nor available in CI): the suite launches the
system ``chromium``. Skipped, with the reason shown, when either is missing.
"""

from __future__ import annotations

import signal

import pytest

from helpers import ENGAGEMENT

from .conftest import DYNAMIC, EDGES, NODES, new_page, start_pipe

LEVELS = [
    {"MEMBERS", "RESOURCES", "RAW_INTERACTIONS"},
    {"MEMBER_SESSIONS", "RESOURCE_CATALOG"},
    {"SESSION_ENGAGEMENT_DETAIL"},
    {"MEMBER_ENGAGEMENT_SUMMARY"},
    {"ENGAGEMENT_DASHBOARD"},
]


@pytest.fixture
def page(browser):
    page = new_page(browser, 1440, 1000)
    yield page
    page.context.close()


@pytest.fixture
def pipe_ui(applied_db, tmp_path):
    """``pipe ui`` running as a user starts it, on a free loopback port; its URL."""
    proc, url = start_pipe(["ui", str(ENGAGEMENT), "--db", str(applied_db), "--port", "0", "--no-browser"], tmp_path)
    yield url
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 130, proc.stderr.read()  # Ctrl-C: one line of what was kept, exit 130


def drawn_dag(page) -> tuple[dict, set]:
    """The nodes drawn (name -> bounding box) and the edges drawn (source, target)."""
    nodes = {}
    for node in page.locator("svg#dag [data-node]").all():
        nodes[node.get_attribute("data-node")] = node.bounding_box()
    edges = {
        (edge.get_attribute("data-source"), edge.get_attribute("data-target"))
        for edge in page.locator("svg#dag [data-edge]").all()
    }
    return nodes, edges


def assert_laid_out_by_level(nodes: dict) -> None:
    for upper, lower in zip(LEVELS, LEVELS[1:]):
        bottom = max(nodes[n]["y"] + nodes[n]["height"] for n in upper)
        assert all(nodes[n]["y"] > bottom for n in lower), f"{lower} is not below {upper}"
    for level in LEVELS:
        assert len({round(nodes[n]["y"]) for n in level}) == 1, f"{level} is not on one row"


def test_live_page_shows_the_dag_and_a_streamed_batch_without_reloading(page, pipe_ui):
    page.goto(pipe_ui)
    page.wait_for_selector("#history tbody tr[data-key]")
    nodes, edges = drawn_dag(page)
    assert set(nodes) == NODES and len(nodes) == 8
    assert edges == EDGES and page.locator("svg#dag [data-edge]").count() == 7
    assert_laid_out_by_level(nodes)
    for name in DYNAMIC:
        # On a loaded machine a 1-minute table can be behind when the page opens; the page's
        # scheduler refreshes it and the node turns active without a reload.
        page.wait_for_selector(f'svg#dag [data-node="{name}"].state-active', timeout=90_000)
        node = page.locator(f'svg#dag [data-node="{name}"]')
        assert "ACTIVE" in node.text_content() and "lag" in node.text_content()
    assert page.locator('[data-kpi="ACTIVE_MEMBERS"] .kpi-value').text_content().strip() != ""

    page.evaluate("window.__samePage = true")  # gone if the page reloads
    before = set(page.eval_on_selector_all("#history tbody tr[data-key]", "rows => rows.map(r => r.dataset.key)"))
    raw_before = page.locator('svg#dag [data-node="RAW_INTERACTIONS"]').text_content()
    page.click("#stream-button")

    # A batch is a change to MEMBER_SESSIONS' input: its refresh is not NO_DATA.
    page.wait_for_function(
        """before => [...document.querySelectorAll('#history tbody tr[data-key]')].some(
             r => !before.includes(r.dataset.key) && r.dataset.name === 'MEMBER_SESSIONS'
                  && r.dataset.action !== 'NO_DATA' && r.dataset.state === 'SUCCEEDED')""",
        arg=sorted(before),
        timeout=30_000,
    )
    assert page.evaluate("window.__samePage") is True
    page.wait_for_function(
        "before => document.querySelector('[data-node=\"RAW_INTERACTIONS\"]').textContent !== before",
        arg=raw_before,
        timeout=10_000,
    )
    page.wait_for_selector("#stream-status:has-text('done')", timeout=30_000)
    assert page.evaluate("window.__samePage") is True
    base = pipe_ui.rstrip("/")
    assert all(url.startswith(base + "/") for url in page.requests), "the page fetched something elsewhere"
    assert page.problems == []


def test_standalone_html_draws_the_same_dag_offline(page, run_pipe, tmp_path):
    out = tmp_path / "dag.html"
    assert run_pipe("graph", ENGAGEMENT, "--format", "html", "--out", out).code == 0
    page.goto(out.as_uri())
    page.wait_for_selector("svg#dag [data-node]")
    nodes, edges = drawn_dag(page)
    assert set(nodes) == NODES and edges == EDGES
    assert_laid_out_by_level(nodes)
    assert page.requests == [out.as_uri()], "one file: nothing else is loaded"
    assert page.problems == []
