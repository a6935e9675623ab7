"""``pipe graph --format html``: the DAG as one self-contained file that needs no network."""

from __future__ import annotations

import dataclasses
import json
import re

from helpers import ENGAGEMENT

from engine.ui.page import standalone_html

from .conftest import EDGES, NODES


def test_writes_one_self_contained_file(run_pipe, tmp_path):
    out = tmp_path / "dag.html"
    result = run_pipe("graph", ENGAGEMENT, "--format", "html", "--out", out)
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dag.html"]
    html = out.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert not re.search(r"https?://", html), "no reference to any host"
    assert not re.search(r"""\b(src|href)\s*=\s*["'](?!data:|#)""", html), "nothing loaded from a file or URL"
    assert "@import" not in html and "url(" not in re.sub(r"url\(#[a-z-]+\)", "", html)  # only in-page markers
    assert "<style>" in html and '<script id="pipe-state" type="application/json">' in html
    for name in NODES:
        assert name in html


def test_embedded_state_is_the_dag(project):
    html = standalone_html(project.graph)
    blob = re.search(r'<script id="pipe-state" type="application/json">(.*?)</script>', html, re.S).group(1)
    state = json.loads(blob)
    assert {n["name"] for n in state["nodes"]} == NODES
    assert {(e["source"], e["target"]) for e in state["edges"]} == EDGES
    assert html.count("</script>") == 4  # the data and the three scripts: nothing closes early


def test_text_cannot_break_out_of_the_page(project):
    pipeline = project.pipeline.model_copy(update={"description": "</script><script>alert(1)</script> & <b>"})
    graph = dataclasses.replace(project.graph, pipeline=pipeline)
    html = standalone_html(graph)
    assert "alert(1)</script>" not in html
    assert html.count("</script>") == 4
