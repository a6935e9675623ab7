"""What the page shows, as JSON: the DAG, each object's state, the refresh history, the dashboard.

:func:`graph_state` needs only the pipeline graph (it feeds ``pipe graph --format html``);
:func:`build_state` adds what a backend says now (it feeds ``GET /api/state``). Every value
is JSON-ready: timestamps are ISO 8601 in UTC, decimals are numbers, JSON text is parsed.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from engine import names
from engine.backends.base import Backend
from engine.errors import PipeError
from engine.graph import DYNAMIC_TABLE, PipelineGraph
from engine.lag import format_lag

HISTORY_LIMIT = 40
"""Refresh history rows sent to the page, newest first."""
DASHBOARD_MAX_ROWS = 5
"""A sink with more rows than this is too big to show as a dashboard."""
NODE_HISTORY = 25
"""Refreshes kept per object for its side panel."""
HISTORY_SCAN = 1000
"""Refreshes read at once to find each object's latest ones (older ones are asked per object)."""


def graph_state(graph: PipelineGraph) -> dict[str, Any]:
    """The pipeline and its DAG as declared: no target needed.

    Returns:
        ``{"pipeline": {...}, "nodes": [...], "edges": [...]}``; each node has its name, kind,
        dependency level, declared target lag and refresh mode, what it reads, and ``None`` for
        everything only a target knows (rows, state, data timestamp…).
    """
    pipeline = graph.pipeline
    levels = graph.levels()
    nodes = []
    for name in graph.create_order:
        node: dict[str, Any] = {
            "name": name,
            "kind": graph.kind(name),
            "level": levels[name],
            "reads": graph.upstream(name),
            "comment": None,
            "rows": None,
            "target_lag": None,
            "effective_lag_seconds": None,
            "refresh_mode": None,
            "refresh_mode_reason": None,
            "data_timestamp": None,
            "lag_seconds": None,
            "state": None,
            "last_refresh_action": None,
            "last_refresh": None,
            "checks": None,  # e.g. "5 passed" or "1 FAILED of 5"
            "failed_checks": [],  # [{name, severity}] of the checks whose latest result failed
        }
        if graph.kind(name) == DYNAMIC_TABLE:
            dt = pipeline.dynamic_tables[name]
            decision = graph.decisions[name]
            node.update(
                comment=dt.comment,
                target_lag=format_lag(dt.target_lag),
                effective_lag_seconds=graph.effective_lag(name),
                refresh_mode=decision.mode if dt.refresh_mode == "auto" else dt.refresh_mode.upper(),
                refresh_mode_reason=decision.reason if dt.refresh_mode == "auto" else "declared in the file",
            )
        else:
            node["comment"] = pipeline.tables[name].comment
        nodes.append(node)
    position = {name: i for i, name in enumerate(graph.create_order)}
    edges = [
        {"source": source, "target": target}
        for source, target in sorted(graph.graph.edges, key=lambda e: (position[e[1]], position[e[0]]))
    ]
    return {
        "pipeline": {
            "name": pipeline.name,
            "description": pipeline.description,
            "database": pipeline.snowflake.database,
            "schema": pipeline.snowflake.schema_name,
        },
        "nodes": nodes,
        "edges": edges,
    }


def build_state(graph: PipelineGraph, backend: Backend, *, history_limit: int = HISTORY_LIMIT) -> dict[str, Any]:
    """The DAG with what ``backend`` says now: the payload of ``GET /api/state``.

    Callers sharing one backend between threads must hold its lock around this call.

    Returns:
        :func:`graph_state` plus each node's rows, state, data timestamp, lag, last refresh
        action and the checks whose latest result failed; ``history`` (the latest refreshes, newest first, keyed by Snowflake's
        DYNAMIC_TABLE_REFRESH_HISTORY column names); ``dashboard`` (the rows of each dynamic
        table nothing reads, when small); ``generated_at``; ``target``.

    Raises:
        PipeError: the backend cannot be read (e.g. the local database does not exist).
    """
    state = graph_state(graph)
    by_name = {node["name"]: node for node in state["nodes"]}
    for status in backend.status():
        node = by_name[status.name]
        node.update(
            rows=status.rows,
            state=status.state,
            data_timestamp=_iso(status.data_timestamp),
            lag_seconds=None if status.lag_seconds is None else round(status.lag_seconds, 1),
            last_refresh_action=status.last_refresh_action,
            checks=status.checks,
            failed_checks=[{"name": check, "severity": severity} for check, severity in status.failed_checks],
        )
        if status.target_lag:
            node["target_lag"] = status.target_lag
        if status.refresh_mode:
            node["refresh_mode"] = status.refresh_mode
            node["refresh_mode_reason"] = status.refresh_mode_reason
    state["history"] = [jsonable(r.as_snowflake_row()) for r in backend.history(limit=history_limit)]
    state["dashboard"] = dashboard(graph, backend, by_name)
    state["target"] = backend.name
    state["generated_at"] = _iso(datetime.now(timezone.utc))
    return state


def dashboard(graph: PipelineGraph, backend: Backend, nodes: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """The rows of each dynamic table nothing reads, when it has at most a few rows.

    Returns:
        One ``{"name", "columns", "rows"}`` per small sink (rows as lists, JSON-ready).
    """
    result = []
    for name in graph.dynamic_tables:
        if graph.downstream(name):
            continue
        node = (nodes or {}).get(name)
        if node is not None and (node["state"] in (None, "NOT CREATED") or node["rows"] is None):
            continue
        try:
            rows = backend.query(f"SELECT * FROM {names.sql(name)} LIMIT {DASHBOARD_MAX_ROWS + 1}")
        except PipeError:
            continue  # not created yet, or dropped behind pipe's back: nothing to show
        if 0 < len(rows.rows) <= DASHBOARD_MAX_ROWS:
            result.append({"name": name, "columns": list(rows.columns), "rows": [jsonable(list(r)) for r in rows.rows]})
    return result


def jsonable(value: Any) -> Any:
    """``value`` with timestamps as UTC ISO text, decimals as numbers and JSON text parsed."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with an explicit offset; naive timestamps are UTC (how pipe stores them)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def last_refresh(record) -> dict[str, Any]:
    """What the page shows of a node's latest refresh: action, state, rows in and out, why."""
    return {
        "action": record.refresh_action,
        "state": record.state,
        "trigger": record.refresh_trigger,
        "inserted": record.inserted_rows,
        "deleted": record.deleted_rows,
        "started": _iso(record.refresh_start_time),
        "message": record.state_message,
    }


class SnapshotBuilder:
    """Builds what the page reads, keeping the slow parts (columns, per-node history) until they change.

    Args:
        graph: the pipeline's graph.
    """

    def __init__(self, graph: PipelineGraph):
        self.graph = graph
        self._key: Any = None
        self._details: dict[str, dict[str, Any]] = {}
        self._latest: dict[str, dict[str, Any] | None] = {}

    def build(self, backend: Backend) -> dict[str, Any]:
        """:func:`build_state` plus, per node, its last refresh; ``details`` holds each node's panel.

        The caller holds the backend's lock.
        """
        state = build_state(self.graph, backend)
        newest = state["history"][0] if state["history"] else None
        key = (
            None if newest is None else (newest["NAME"], newest["REFRESH_START_TIME"], newest["REFRESH_END_TIME"]),
            tuple((n["name"], n["state"], n["rows"]) for n in state["nodes"]),
        )
        if key != self._key:
            self._details, self._latest = self._read_details(backend, state)
            self._key = key
        for node in state["nodes"]:
            node["last_refresh"] = self._latest.get(node["name"])
        state["details"] = self._details
        state["error"] = None
        return state

    def unreadable(self, message: str, target: str) -> dict[str, Any]:
        """The declared DAG with ``message``, for when the backend cannot be read."""
        state = graph_state(self.graph)
        state.update(history=[], dashboard=[], target=target, generated_at=None, error=message)
        state["details"] = self._details or declared_details(self.graph, {})
        return state

    def _read_details(self, backend: Backend, state: dict[str, Any]):
        by_name: dict[str, list] = {}
        for record in backend.history(limit=HISTORY_SCAN):
            records = by_name.setdefault(record.name, [])
            if len(records) < NODE_HISTORY:
                records.append(record)
        created = {n["name"] for n in state["nodes"] if n["state"] not in (None, "NOT CREATED")}
        for name in self.graph.dynamic_tables:
            if name in created and name not in by_name:
                by_name[name] = backend.history(names=[name], limit=NODE_HISTORY)
        # Snowflake's types as the file declares them or the compiled queries infer them; the
        # local catalog only for a table whose columns the file does not say (e.g. external)
        columns = {name: _columns(backend, name) for name in created if not _declared_columns(self.graph, name)}
        details = declared_details(self.graph, columns)
        for name, records in by_name.items():
            if name in details:
                details[name]["history"] = [jsonable(r.as_snowflake_row()) for r in records]
        latest = {name: last_refresh(records[0]) for name, records in by_name.items() if records}
        return details, latest


def _columns(backend: Backend, name: str) -> list[dict[str, str]]:
    """``[{name, type}]`` of a table as the target's catalog describes it (locally: DuckDB's types)."""
    try:
        result = backend.query(f"SELECT * FROM {names.quoted(name)} LIMIT 0")
    except PipeError:
        return []
    types = list(result.types) or [None] * len(result.columns)
    return [{"name": column, "type": kind} for column, kind in zip(result.columns, types)]


def declared_details(graph: PipelineGraph, columns: dict[str, list]) -> dict[str, dict[str, Any]]:
    """Each node's side panel as the file declares it: SQL or definition, lineage, mode and why."""
    pipeline = graph.pipeline
    details = {}
    for name in graph.create_order:
        detail: dict[str, Any] = {
            "name": name,
            "kind": graph.kind(name),
            "reads": graph.upstream(name),
            "read_by": graph.downstream(name),
            "sql": None,
            "definition": None,
            "columns": _declared_columns(graph, name) or columns.get(name) or [],
            "history": [],
        }
        if graph.kind(name) == DYNAMIC_TABLE:
            dt = pipeline.dynamic_tables[name]
            decision = graph.decisions[name]
            detail.update(
                sql=dt.sql.strip(),
                comment=dt.comment,
                target_lag=format_lag(dt.target_lag),
                declared_mode=dt.refresh_mode.upper(),
                refresh_mode=decision.mode if dt.refresh_mode == "auto" else dt.refresh_mode.upper(),
                refresh_mode_reason=decision.reason if dt.refresh_mode == "auto" else "declared in the file",
            )
        else:
            table = pipeline.tables[name]
            detail["comment"] = table.comment
            if table.external:
                detail["definition"] = "external: an existing table pipe never creates or drops"
            elif table.generator:
                args = ", ".join(json.dumps(a) if isinstance(a, str) else str(a) for a in table.args)
                detail["definition"] = f"filled from generator {table.generator}({args})"
            else:
                detail["definition"] = "an empty table with the declared columns"
        details[name] = detail
    return details


def _declared_columns(graph: PipelineGraph, name: str) -> list[dict[str, str]]:
    """Columns known without a target, with Snowflake types: a base table's declared columns or its
    generator's ``returns``; a dynamic table's output as its compiled query infers it."""
    return [{"name": column, "type": kind.upper()} for column, kind in graph.types().get(name, {}).items()]
