"""The live local page of a pipeline (``pipe ui``) and its offline twin (``pipe graph --format html``).

    >>> import engine
    >>> from engine.ui import UiServer
    >>> project = engine.validate("pipelines/engagement.yaml")
    >>> with project.backend("local", db=".pipe/engagement.duckdb") as backend:
    ...     with UiServer(project, backend, port=0) as server:
    ...         print(server.url)
    ...         server.wait()  # until Ctrl-C

Modules: :mod:`~engine.ui.state` (the JSON the page shows, and its snapshots),
:mod:`~engine.ui.worker` (the one writer: lock, scheduler thread, snapshot thread, streams),
:mod:`~engine.ui.server` (waitress on 127.0.0.1), :mod:`~engine.ui.routes` (the HTTP routes),
:mod:`~engine.ui.owner` / :mod:`~engine.ui.client` / :mod:`~engine.ui.wire` (other pipe commands
reading the database through the process that holds it), :mod:`~engine.ui.page` (the
self-contained HTML), ``static/`` (the page: HTML, CSS, vanilla JS: ``dag.js``, ``panel.js``,
``app.js``).
"""

from __future__ import annotations

from engine.ui.page import standalone_html
from engine.ui.server import UiServer
from engine.ui.state import build_state, graph_state

__all__ = ["UiServer", "build_state", "graph_state", "standalone_html"]
