"""``pipe graph --format html``: the page of ``pipe ui`` as one self-contained, offline file.

The same ``index.html``, ``style.css`` and ``app.js`` as the live page, inlined, with the
declared DAG embedded as JSON: the script draws it once instead of polling a server.
"""

from __future__ import annotations

import json

from engine.graph import PipelineGraph
from engine.ui.state import graph_state

_STYLE_LINK = '<link rel="stylesheet" href="/static/style.css">'
_SCRIPT_TAG = '<script src="/static/app.js"></script>'


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
    for marker in (_STYLE_LINK, _SCRIPT_TAG):
        if marker not in page:  # pragma: no cover - guards edits of index.html
            raise RuntimeError(f"index.html no longer contains {marker}")
    style = _asset("style.css").replace("</style", "<\\/style")
    script = _asset("app.js").replace("</script", "<\\/script")
    state = _script_json(graph_state(graph))
    page = page.replace(_STYLE_LINK, f"<style>\n{style}</style>")
    page = page.replace(
        _SCRIPT_TAG,
        f'<script id="pipe-state" type="application/json">{state}</script>\n<script>\n{script}</script>',
    )
    title = f"<title>pipe · {_escape(graph.pipeline.name)}</title>"
    return page.replace("<title>pipe ui</title>", title).rstrip("\n")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
