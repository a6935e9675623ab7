"""pipe: declare Snowflake Dynamic Table pipelines in YAML, run them locally on DuckDB, deploy them
to Snowflake.

    >>> import engine
    >>> project = engine.validate("pipelines/engagement.yaml")
    >>> with project.backend("local", db=".pipe/engagement.duckdb") as backend:
    ...     plan, results = engine.apply(project, backend)

Names are imported on first use so that ``import engine`` (and ``pipe --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BackendError",
    "CycleError",
    "GraphError",
    "PipeError",
    "Plan",
    "PlanError",
    "Project",
    "Reporter",
    "SpecError",
    "SqlError",
    "apply",
    "build_graph",
    "destroy",
    "history",
    "load_pipeline",
    "plan",
    "query",
    "refresh",
    "run_tests",
    "status",
    "stream",
    "stream_settings",
    "validate",
]

_HOMES = {
    "BackendError": "engine.errors",
    "CycleError": "engine.errors",
    "GraphError": "engine.errors",
    "PipeError": "engine.errors",
    "PlanError": "engine.errors",
    "SpecError": "engine.errors",
    "SqlError": "engine.errors",
    "Plan": "engine.planner",
    "Reporter": "engine.report",
    "build_graph": "engine.graph",
    "load_pipeline": "engine.spec.loader",
    "Project": "engine.project",
    "apply": "engine.project",
    "destroy": "engine.project",
    "history": "engine.project",
    "plan": "engine.project",
    "query": "engine.project",
    "refresh": "engine.project",
    "status": "engine.project",
    "stream": "engine.project",
    "stream_settings": "engine.project",
    "validate": "engine.project",
    "run_tests": "engine.checks.run",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
