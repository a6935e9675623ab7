"""``pipe graph --format html``: the page of ``pipe ui`` as one self-contained, offline file.

The same ``index.html``, ``style.css`` and scripts as the live page, inlined, with the
declared DAG (and each node's SQL and lineage, for its side panel) embedded as JSON: the script
draws it once instead of polling a server.
"""

from __future__ import annotations

import json
import re

from engine.graph import PipelineGraph
from engine.ui.state import declared_details, graph_state

_STYLE_LINK = '<link rel="stylesheet" href="/static/style.css">'
_SCRIPT_TAG = re.compile(r'<script src="/static/([a-z]+\.js)"></script>')


def _asset(name: str) -> str:
    from engine.ui.routes import static_file

    return static_file(name).decode("utf-8")


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element: no ``</script>`` or ``<!--`` can appear in it."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def standalone_html(graph: PipelineGraph) -> str:
    """One HTML file drawing the DAG of ``graph`` (kind, level, edges, target lag, refresh mode).

    It loads nothing from anywhere: styles, script and data are inline.
    """
    page = _asset("index.html")
    if _STYLE_LINK not in page or not _SCRIPT_TAG.search(page):  # pragma: no cover - guards edits of index.html
        raise RuntimeError("index.html no longer links style.css and its scripts")
    style = _asset("style.css").replace("</style", "<\\/style")
    state = graph_state(graph)
    state["details"] = declared_details(graph, {})
    first = True

    def inline(match: re.Match) -> str:
        nonlocal first
        script = _asset(match.group(1)).replace("</script", "<\\/script")
        data = f'<script id="pipe-state" type="application/json">{_script_json(state)}</script>\n' if first else ""
        first = False
        return f"{data}<script>\n{script}</script>"

    page = page.replace(_STYLE_LINK, f"<style>\n{style}</style>")
    page = _SCRIPT_TAG.sub(inline, page)
    title = f"<title>pipe · {_escape(graph.pipeline.name)}</title>"
    return page.replace("<title>pipe ui</title>", title).rstrip("\n")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
