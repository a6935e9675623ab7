"""The seam between pipe and a target: a small abstract backend and the records it returns.

Backends are looked up by name and imported lazily, so that ``pipe --help`` and commands on
one target never import another target's driver.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from engine import names
from engine.errors import BackendError
from engine.graph import PipelineGraph
from engine.kinds import ObjectKind
from engine.planner import Action, Plan, TargetState
from engine.report import Reporter


@dataclass(frozen=True)
class ActionResult:
    """What applying one action did."""

    action: Action
    rows: int | None = None
    seconds: float = 0.0
    refresh_action: str | None = None


@dataclass(frozen=True)
class ObjectStatus:
    """One object as ``pipe status`` shows it."""

    name: str
    kind: ObjectKind | str
    rows: int | None
    target_lag: str | None = None
    refresh_mode: str | None = None
    refresh_mode_reason: str | None = None
    data_timestamp: datetime | None = None
    state: str | None = None
    last_refresh_action: str | None = None
    lag_seconds: float | None = None
    checks: str | None = None  # the latest result of its checks, e.g. "5 passed" or "1 FAILED of 5"
    failed_checks: tuple[tuple[str, str], ...] = ()  # (check, severity) of each whose latest result failed


@dataclass(frozen=True)
class RefreshRecord:
    """One row of the refresh history, with Snowflake's DYNAMIC_TABLE_REFRESH_HISTORY columns."""

    name: str
    state: str
    state_message: str | None
    refresh_action: str | None
    refresh_trigger: str
    data_timestamp: datetime | None
    refresh_start_time: datetime | None
    refresh_end_time: datetime | None
    inserted_rows: int | None = None
    deleted_rows: int | None = None

    @property
    def milliseconds(self) -> float | None:
        """How long the refresh took."""
        if self.refresh_start_time and self.refresh_end_time:
            return (self.refresh_end_time - self.refresh_start_time).total_seconds() * 1000
        return None

    def as_snowflake_row(self) -> dict[str, Any]:
        """The record keyed by Snowflake's column names."""
        return {
            "NAME": self.name,
            "STATE": self.state,
            "STATE_MESSAGE": self.state_message,
            "REFRESH_ACTION": self.refresh_action,
            "REFRESH_TRIGGER": self.refresh_trigger,
            "DATA_TIMESTAMP": self.data_timestamp,
            "REFRESH_START_TIME": self.refresh_start_time,
            "REFRESH_END_TIME": self.refresh_end_time,
            "STATISTICS": {"numInsertedRows": self.inserted_rows, "numDeletedRows": self.deleted_rows},
        }


@dataclass(frozen=True)
class QueryResult:
    """Columns and rows of a query."""

    columns: list[str]
    rows: list[tuple]
    types: list[str] = field(default_factory=list)


class Backend(ABC):
    """A target pipe can plan against and run a pipeline on.

    Args:
        graph: the checked pipeline graph.
        options: target-specific settings (``db`` for local, ``connection`` for snowflake).
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, graph: PipelineGraph, **options: Any):
        self.graph = graph
        self.pipeline = graph.pipeline
        self.options = options

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release connections and locks."""

    def resolved(self, typed: Sequence[str]) -> list[str]:
        """Object names typed by a user (``members``, ``"Région totals"``, or ``Région totals`` from a
        shell), as the pipeline stores them (:func:`engine.names.pick`, else :func:`engine.names.key`)."""
        known = self.graph.pipeline.object_names
        return [names.pick(n, known) or names.key(n) for n in typed]

    @abstractmethod
    def read_state(self) -> TargetState:
        """What exists on the target now."""

    @abstractmethod
    def apply(self, plan: Plan, reporter: Reporter) -> list[ActionResult]:
        """Run the plan's actions in order, stopping at the first failure."""

    @abstractmethod
    def status(self) -> list[ObjectStatus]:
        """Every declared object's status, in create order."""

    @abstractmethod
    def history(self, *, names: Sequence[str] = (), limit: int | None = None) -> list[RefreshRecord]:
        """Refresh history, newest first."""

    @abstractmethod
    def refresh(self, names: Sequence[str], *, full: bool = False, reporter: Reporter) -> list[RefreshRecord]:
        """Refresh ``names`` (all dynamic tables when empty) and their upstream at one data timestamp."""

    @abstractmethod
    def query(self, sql: str) -> QueryResult:
        """Run one Snowflake SQL statement on the target."""

    @abstractmethod
    def insert_batch(self, table: str, generator: str, args: list) -> int:
        """Insert one batch of generated rows into a base table; returns the rows inserted."""

    def batch_checks(self) -> list:
        """The results of the checks the last :meth:`insert_batch` ran on its rows; none by default
        (on Snowflake, the table's data metric functions watch its changes)."""
        return []

    def interrupt(self) -> None:
        """Cancel the statement running now, from any thread; nothing when none runs.

        By default nothing: the driver notices a KeyboardInterrupt itself when the statement ends
        or polls.
        """

    def recover(self, reporter: Reporter) -> list[RefreshRecord]:
        """Finish work an interrupted apply left pending; nothing by default."""
        return []

    def row_count(self, table: str) -> int | None:
        """How many rows ``table`` has now."""
        result = self.query(f"SELECT COUNT(*) FROM {names.sql(table)}")
        return result.rows[0][0] if result.rows else None

    def tick(self, reporter: Reporter) -> list[RefreshRecord]:
        """Let the target's scheduler run: refresh what the target lags call for now.

        Remote targets schedule refreshes themselves; this returns what they did since the last call.
        """
        return []

    def settle(self, reporter: Reporter) -> list[RefreshRecord]:
        """Bring every dynamic table up to date with the latest changes, as a scheduler would."""
        return self.tick(reporter)


_REGISTRY: dict[str, str] = {
    "local": "engine.backends.local:LocalBackend",
    "snowflake": "engine.backends.snowflake:SnowflakeBackend",
}


def backend_names() -> list[str]:
    """The names ``--target`` accepts."""
    return list(_REGISTRY)


def get_backend(name: str) -> Callable[..., Backend]:
    """The backend class registered as ``name``, imported on first use."""
    try:
        module_name, _, cls = _REGISTRY[name].partition(":")
    except KeyError:
        raise BackendError(
            f"unknown target {name!r}", hint=f"use one of: {', '.join(_REGISTRY)}"
        ) from None
    return getattr(importlib.import_module(module_name), cls)
