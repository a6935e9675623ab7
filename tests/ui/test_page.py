"""The live page as a debugging tool, in Chromium at 1400x900: legible, each table openable, the
history in view, pan and zoom on 40 tables, honest wording on any pipeline.

Each test leaves a screenshot in tests/ui/screenshots/ for review.
"""

from __future__ import annotations


import pytest

from engine.ui import UiServer
from helpers import ENGAGEMENT

from .conftest import WIDE, new_page, screenshot, wait_for

# ENGAGEMENT_DASHBOARD's columns, read off its SELECT list in engagement.yaml.
DASHBOARD_COLUMNS = [
    "REPORT_GENERATED_AT", "ACTIVE_MEMBERS", "TOTAL_SESSIONS", "TOTAL_RESOURCE_VIEWS", "TOTAL_ENGAGEMENT_HOURS",
    "AVG_ENGAGEMENT_MINUTES_PER_MEMBER", "MOST_POPULAR_TOPIC", "MOST_POPULAR_CONTENT_TYPE", "PREMIUM_MEMBERS",
    "REGISTERED_MEMBERS", "FREE_MEMBERS", "MEMBERS_BY_REGION",
]

# Every visible piece of text: its rendered size in CSS pixels (SVG text scaled by the zoom).
TEXT_SIZES = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest('title, script, style')) continue;
    if (!el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let size = parseFloat(style.fontSize);
    if (el instanceof SVGElement) size *= el.getScreenCTM().a;
    out.push([node.textContent.trim().slice(0, 40), Math.round(size * 10) / 10]);
  }
  return out;
}"""

NODE_BOXES = """() => [...document.querySelectorAll('svg#dag [data-node]')].map(g => {
  const name = g.querySelector('.name'), card = g.querySelector('.card');
  return {node: g.dataset.node, text: name.textContent, squeezed: name.hasAttribute('textLength'),
          name: name.getBBox().width, x: name.getBBox().x, card: card.getBBox().width,
          box: g.getBoundingClientRect().toJSON()};
})"""


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def serve():
    """Serve a pipeline's page from this process: ``serve(project, db) -> UiServer``."""
    running = []

    def start(project, db):
        backend = project.backend("local", db=db)
        server = UiServer(project, backend, port=0)
        server.start()
        running.append((server, backend))
        return server

    yield start
    for server, backend in running:
        server.close()
        backend.close()


def open_page(page, server):
    page.goto(server.url)
    page.wait_for_selector("#history tbody tr[data-key]")
    page.wait_for_selector("#live.on")


def node_line(page, name: str) -> str:
    return page.locator(f'svg#dag [data-node="{name}"] .line.first').text_content()


def latest(server, name: str):
    return server.backend.history(names=[name], limit=1)[0]


def shown(record) -> str:
    """How a node's first line states ``record``: the action that ran, rows inserted and deleted."""
    return f"{record.refresh_action} +{record.inserted_rows:,} −{record.deleted_rows:,}"


@pytest.mark.parametrize("which", ["engagement", "wide"])
def test_text_is_legible_and_boxes_fit_their_names(page, serve, which, project, applied_db, wide_project, wide_db):
    server = serve(project, applied_db) if which == "engagement" else serve(wide_project, wide_db)
    open_page(page, server)
    screenshot(page, f"legible-{which}")
    small = [t for t in page.evaluate(TEXT_SIZES) if t[1] < 12]
    assert small == [], f"text under 12 px: {small[:10]}"
    boxes = page.evaluate(NODE_BOXES)
    assert len(boxes) == len(server.graph.create_order)
    for box in boxes:
        assert box["text"] == box["node"] and not box["squeezed"], box  # whole names, never squeezed
        assert box["x"] + box["name"] <= box["card"] - 40, box  # room for the badge
    for a in boxes:  # no two boxes overlap
        for b in boxes:
            if a["node"] < b["node"]:
                ra, rb = a["box"], b["box"]
                apart = (ra["right"] <= rb["left"] or rb["right"] <= ra["left"]
                         or ra["bottom"] <= rb["top"] or rb["bottom"] <= ra["top"])
                assert apart, (a["node"], b["node"])
    assert page.problems == []


def test_a_node_shows_its_last_refresh_until_the_next_one(page, serve, project, applied_db):
    server = serve(project, applied_db)
    open_page(page, server)

    def shows_the_latest():  # the scheduler may refresh it meanwhile: the page follows
        record = latest(server, "MEMBER_SESSIONS")
        return record if node_line(page, "MEMBER_SESSIONS") == shown(record) else None

    # After apply, MEMBER_SESSIONS is predicted INCREMENTAL, but what ran was its creation (FULL),
    # or since then a scheduled refresh that found no change (NO_DATA): the page says what ran.
    assert project.graph.decisions["MEMBER_SESSIONS"].mode == "INCREMENTAL"
    created = wait_for(shows_the_latest, timeout=10, every=0.3)
    assert created.refresh_action in ("FULL", "NO_DATA")
    assert "INCREMENTAL" not in node_line(page, "MEMBER_SESSIONS")

    rows_before = server.backend.row_count("MEMBER_SESSIONS")
    page.click("#stream-button")
    page.wait_for_selector("#stream-status:has-text('done')", timeout=30_000)
    screenshot(page, "last-refresh-after-a-batch")
    ran = wait_for(shows_the_latest, timeout=10, every=0.3)
    since = [r for r in server.backend.history(names=["MEMBER_SESSIONS"], limit=50)
             if r.refresh_start_time > created.refresh_start_time]
    assert "INCREMENTAL" in {r.refresh_action for r in since}  # what the page showed, at least until the next one
    # An independent count: the table grew by what its refreshes inserted less what they deleted.
    grown = server.backend.row_count("MEMBER_SESSIONS") - rows_before
    assert grown == sum(r.inserted_rows - r.deleted_rows for r in since) > 0
    page.wait_for_timeout(3000)  # three polls later, with no new refresh of it, it still says so
    if latest(server, "MEMBER_SESSIONS") == ran:
        assert node_line(page, "MEMBER_SESSIONS") == shown(ran)
    assert page.problems == []


def test_clicking_a_node_opens_its_sql_columns_and_refreshes(page, serve, project, applied_db):
    server = serve(project, applied_db)
    open_page(page, server)
    page.click('svg#dag [data-node="ENGAGEMENT_DASHBOARD"]')
    page.wait_for_selector("#node-panel:not([hidden]) pre.sql")
    assert page.locator("#node-title").text_content() == "ENGAGEMENT_DASHBOARD"
    sql = page.locator("#node-body pre.sql").text_content()
    assert sql == project.pipeline.dynamic_tables["ENGAGEMENT_DASHBOARD"].sql.strip()
    keywords = page.eval_on_selector_all("#node-body pre.sql .sql-keyword", "els => els.map(e => e.textContent)")
    assert {"SELECT", "FROM", "AS", "CROSS", "JOIN", "GROUP", "BY"} <= set(keywords)
    strings = page.eval_on_selector_all("#node-body pre.sql .sql-string", "els => els.map(e => e.textContent)")
    assert strings == ["'premium'", "'registered'", "'free'"]
    # Focused lineage: the clicked node, what it reads (transitively), nothing dimmed on a chain upstream.
    assert "selected" in page.locator('[data-node="ENGAGEMENT_DASHBOARD"]').get_attribute("class")
    assert "lineage" in page.locator('[data-node="RAW_INTERACTIONS"]').get_attribute("class")
    screenshot(page, "panel-sql")

    page.click("#node-body [data-tab=columns]")
    columns = page.eval_on_selector_all("#node-body tr[data-column]", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [c[0] for c in columns] == DASHBOARD_COLUMNS
    assert all(c[1] for c in columns)
    types = dict(columns)
    # Snowflake's types, as the compiled query infers them (COUNT(DISTINCT …) is a NUMBER)
    assert types["ACTIVE_MEMBERS"] == "NUMBER(38,0)" and types["MOST_POPULAR_TOPIC"] == "VARCHAR"
    screenshot(page, "panel-columns")

    page.click("#node-body [data-tab=refreshes]")

    def same_as_the_backend():  # the scheduler may refresh meanwhile: the panel follows within a poll or two
        rows = page.eval_on_selector_all(
            "#node-body table.node-history tr[data-action]",
            "rows => rows.map(r => [r.dataset.action, r.dataset.state, r.cells[6].textContent])")
        records = server.backend.history(names=["ENGAGEMENT_DASHBOARD"], limit=25)
        return rows if [(r[0], r[1]) for r in rows] == [(r.refresh_action, r.state) for r in records] else None

    rows = wait_for(same_as_the_backend, timeout=10, every=0.5)
    assert all(r[2] for r in rows if r[0] in ("FULL", "REINITIALIZE")), "every FULL refresh says why"
    assert "Why FULL" in page.locator("#node-body .summary").text_content() or rows[0][0] != "FULL"
    screenshot(page, "panel-refreshes")
    page.keyboard.press("Escape")
    assert page.locator("#node-panel").is_hidden()
    assert page.problems == []


def test_history_is_in_view_without_scrolling(page, serve, project, applied_db):
    server = serve(project, applied_db)
    server.worker.refresh()  # more history rows than the pane holds
    server.worker.refresh()
    open_page(page, server)
    sizes = page.evaluate("() => [document.documentElement.scrollHeight, innerHeight, document.documentElement.scrollWidth, innerWidth]")
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[3], f"the page scrolls: {sizes}"
    rows = page.locator("#history tbody tr[data-key]").all()
    assert len(rows) >= 10
    for row in rows[:10]:
        box = row.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 900
    screenshot(page, "history-in-view")


def test_forty_tables_pan_and_zoom(page, serve, wide_project, wide_db):
    server = serve(wide_project, wide_db)
    open_page(page, server)
    svg = page.locator("svg#dag").bounding_box()
    scale = float(page.locator("svg#dag").get_attribute("data-scale"))
    assert scale >= 0.93, "the starting view is readable"
    assert page.locator("svg#dag [data-node]").count() == 40

    def position(name):
        return page.locator(f'svg#dag [data-node="{name}"]').bounding_box()

    before = position("EVENTS")
    page.mouse.move(svg["x"] + svg["width"] / 2, svg["y"] + 30)
    page.mouse.down()
    page.mouse.move(svg["x"] + svg["width"] / 2 + 120, svg["y"] + 90, steps=6)
    page.mouse.up()
    after = position("EVENTS")
    assert (round(after["x"] - before["x"]), round(after["y"] - before["y"])) == (120, 60)
    assert page.locator("#node-panel").is_hidden(), "a drag is not a click"

    page.mouse.move(svg["x"] + svg["width"] / 2, svg["y"] + svg["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_function(f"document.querySelector('svg#dag').dataset.scale < {scale}")
    page.click("#zoom-fit")
    for box in page.evaluate(NODE_BOXES):  # everything in view
        b = box["box"]
        assert b["left"] >= svg["x"] - 1 and b["right"] <= svg["x"] + svg["width"] + 1, box["node"]
        assert b["top"] >= svg["y"] - 1 and b["bottom"] <= svg["y"] + svg["height"] + 1, box["node"]
    screenshot(page, "wide-fit")

    page.click("#zoom-reset")
    far = "COMBINED_REGIONAL_ENGAGEMENT_COMPARISON_05"
    page.click(f'#history a[data-open="{far}"]')  # open a table from its history row: the DAG brings it in view
    page.wait_for_selector("#node-panel:not([hidden]) pre.sql")
    box = position(far)
    assert float(page.locator("svg#dag").get_attribute("data-scale")) >= 0.93
    assert box["x"] >= svg["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"]
    assert box["y"] >= svg["y"] and box["y"] + box["height"] <= svg["y"] + svg["height"]
    screenshot(page, "wide-open-far-node")
    assert page.problems == []


def test_wording_fits_a_pipeline_with_several_sinks(page, serve, wide_project, wide_db):
    server = serve(wide_project, wide_db)
    open_page(page, server)
    assert page.locator("#sinks-title").text_content() == "Sinks"
    assert page.locator("#sinks-note").text_content() == "3 dynamic tables nothing reads"
    boards = page.eval_on_selector_all("#dashboard [data-board]", "els => els.map(e => e.dataset.board)")
    assert boards == ["KPI_1", "KPI_2", "KPI_3"]
    text = page.locator("body").inner_text()
    assert "dashboard" not in text.lower() and "apply" not in text.lower()
    # KPI_3 is declared FULL: what the node says is what ran, and its panel says why.
    wait_for(lambda: node_line(page, "KPI_3").startswith(latest(server, "KPI_3").refresh_action + " "), timeout=10)
    page.click('#history a[data-open="KPI_3"]')
    page.wait_for_selector("#node-panel:not([hidden]) .summary")
    summary = page.locator("#node-body .summary").text_content()
    assert "FULL" in summary and "declared in the file" in summary
    screenshot(page, "wide-sinks")
    assert page.problems == []


def test_before_apply_the_page_says_to_apply(page, serve, wide_project, tmp_path):
    server = serve(wide_project, tmp_path / "empty.duckdb")
    page.goto(server.url)
    page.wait_for_selector("#live.on")
    message = page.locator("#dashboard .sinks-message").text_content()
    assert message == "No dynamic table exists on this target yet: run pipe apply on the pipeline file."
    assert "state-missing" in page.locator('[data-node="KPI_1"]').get_attribute("class")
    screenshot(page, "before-apply")
    assert page.problems == []


def test_the_offline_graph_opens_a_node_too(page, run_pipe, tmp_path):
    out = tmp_path / "dag.html"
    assert run_pipe("graph", WIDE, "--format", "html", "--out", out).code == 0
    page.goto(out.as_uri())
    page.wait_for_selector("svg#dag [data-node]")
    assert page.locator("svg#dag [data-node]").count() == 40
    small = [t for t in page.evaluate(TEXT_SIZES) if t[1] < 12]
    assert small == []
    page.click('svg#dag [data-node="EVENTS"]')  # in the starting view
    page.wait_for_selector("#node-panel:not([hidden])")
    assert "filled from generator gen_events" in page.locator("#node-body").text_content()
    columns = page.eval_on_selector_all("#node-body tr[data-column]", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert columns == [["EVENT_ID", "NUMBER"], ["ACCOUNT_ID", "NUMBER"], ["PRODUCT_ID", "NUMBER"], ["AMOUNT", "NUMBER"]]
    screenshot(page, "offline-node")
    assert page.requests == [out.as_uri()] and page.problems == []


def test_engagement_offline_graph_is_legible(page, run_pipe, tmp_path):
    out = tmp_path / "dag.html"
    assert run_pipe("graph", ENGAGEMENT, "--format", "html", "--out", out).code == 0
    page.goto(out.as_uri())
    page.wait_for_selector("svg#dag [data-node]")
    assert [t for t in page.evaluate(TEXT_SIZES) if t[1] < 12] == []
