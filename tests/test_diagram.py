"""The DAG drawn: text diagram, Mermaid flowchart and Graphviz DOT."""

from __future__ import annotations

import re

import pytest

from engine import diagram
from engine.graph import build_graph
from engine.spec.loader import load_pipeline
from helpers import ENGAGEMENT, ENGAGEMENT_EDGES, SHOP, graph_of


# Written from the DESIGN's DAG: levels by longest path from a base table, each dynamic table
# with its lag, the refresh mode AUTO resolves to (CURRENT_DATE / CURRENT_TIMESTAMP in the
# select lists make RESOURCE_CATALOG and ENGAGEMENT_DASHBOARD full) and what it reads.
ENGAGEMENT_TEXT = """\
engagement: 3 tables → 5 dynamic tables

 0 MEMBERS                    table
   RESOURCES                  table
   RAW_INTERACTIONS           table
   │
   ▼
 1 MEMBER_SESSIONS            lag DOWNSTREAM, INCREMENTAL  ◄ RAW_INTERACTIONS
   RESOURCE_CATALOG           lag DOWNSTREAM, FULL         ◄ RESOURCES
   │
   ▼
 2 SESSION_ENGAGEMENT_DETAIL  lag DOWNSTREAM, INCREMENTAL  ◄ MEMBERS, MEMBER_SESSIONS, RESOURCE_CATALOG
   │
   ▼
 3 MEMBER_ENGAGEMENT_SUMMARY  lag DOWNSTREAM, INCREMENTAL  ◄ SESSION_ENGAGEMENT_DETAIL
   │
   ▼
 4 ENGAGEMENT_DASHBOARD       lag 1 minute, FULL           ◄ MEMBER_ENGAGEMENT_SUMMARY"""


@pytest.fixture(scope="module")
def engagement():
    return build_graph(load_pipeline(ENGAGEMENT))


def test_text(engagement):
    assert diagram.text(engagement) == ENGAGEMENT_TEXT


def test_text_shows_declared_modes_and_external_tables():
    text = diagram.text(build_graph(load_pipeline(SHOP)))
    assert re.search(r"FX_RATES +external table", text)
    # inputs are listed in create order: tables first
    assert re.search(r"REGION_REPORT +lag 10 minutes, FULL +◄ FX_RATES, RETURNS_LOG, CUSTOMER_TOTALS$", text, re.M)
    assert re.search(r"ORDER_ITEMS +lag DOWNSTREAM, INCREMENTAL +◄ ORDERS$", text, re.M)


def _mermaid_edges(text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^    (\S+) --> (\S+)$", text, re.M))


def test_mermaid(engagement):
    text = diagram.mermaid(engagement)
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    MEMBERS[("MEMBERS<br/>table")]' in lines  # cylinder: a stored table
    assert '    ENGAGEMENT_DASHBOARD["ENGAGEMENT_DASHBOARD<br/>lag 1 minute, FULL"]' in lines
    assert _mermaid_edges(text) == ENGAGEMENT_EDGES
    assert len(lines) == 1 + 8 + 7


def test_dot(engagement):
    text = diagram.dot(engagement)
    assert text.startswith('digraph "engagement" {') and text.endswith("}")
    assert text.count("{") == text.count("}")
    assert set(re.findall(r'^    "(\w+)" -> "(\w+)";$', text, re.M)) == ENGAGEMENT_EDGES
    assert '"MEMBERS" [shape=cylinder, label="MEMBERS\\ntable"];' in text
    assert '"MEMBER_SESSIONS" [shape=box, label="MEMBER_SESSIONS\\nlag DOWNSTREAM, INCREMENTAL"];' in text


def test_dollar_names_get_safe_mermaid_ids():
    g = graph_of(
        "version: 1\nname: t\nsnowflake: {database: DB, schema: SC, warehouse: WH}\n"
        "tables:\n  A$B: {columns: {x: number}}\n"
        "dynamic_tables:\n  C:\n    target_lag: 1 minute\n    sql: SELECT x FROM A$B\n"
    )
    text = diagram.mermaid(g)
    assert '    A_B[("A$B<br/>table")]' in text and "    A_B --> C" in text
