"""A dynamic table's properties, one type for every side that reads or compares them.

The planner builds them from the file (:meth:`DynamicTableProperties.declared`) and from what a
target reports (:meth:`DynamicTableProperties.from_record`: the local store's record, or a SHOW
DYNAMIC TABLES row read by ``backends/snowflake/diff.py``), and asks :meth:`differences` what
differs; the local applier records the declared ones (:meth:`record`). Which property needs
CREATE OR REPLACE and which an ALTER follows sql-reference/sql/alter-dynamic-table: TARGET_LAG
and WAREHOUSE are SET (data kept), the query and REFRESH_MODE cannot be altered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.kinds import Initialize, RefreshMode
from engine.lag import format_lag, parse_lag

# The properties only CREATE OR REPLACE changes, and those ALTER … SET changes.
REPLACED = ("query", "refresh_mode")
ALTERED = ("target_lag", "warehouse")


@dataclass(frozen=True)
class Difference:
    """One property whose value on the target is not the declared one."""

    property: str
    current: str | None
    desired: str | None


@dataclass(frozen=True)
class DynamicTableProperties:
    """What a dynamic table is declared with, in the terms Snowflake shows them.

    Attributes:
        query: the defining query as written (None when the target's cannot be read).
        target_lag: ``'5 minutes'`` or ``DOWNSTREAM``, as the file writes it.
        warehouse: the warehouse it refreshes on.
        refresh_mode: the declared REFRESH_MODE (AUTO, FULL or INCREMENTAL; None when a target
            shows a value pipe does not know).
        initialize: INITIALIZE (ON_CREATE or ON_SCHEDULE; None likewise).
        comment: the file's comment (without pipe's fingerprint).
        tree: the query already parsed (the compiled model's tree), or a function returning it
            (called only to compare), so that comparing does not parse it again; not part of
            equality.
    """

    query: str | None
    target_lag: str | None = None
    warehouse: str | None = None
    refresh_mode: RefreshMode | None = RefreshMode.AUTO
    initialize: Initialize | None = Initialize.ON_CREATE
    comment: str | None = None
    tree: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def declared(cls, pipeline, name: str, tree: Any = None) -> DynamicTableProperties:
        """Dynamic table ``name`` as the pipeline file declares it (``tree``: its parsed query)."""
        dt = pipeline.dynamic_tables[name]
        return cls(
            query=dt.sql,
            target_lag=format_lag(dt.target_lag),
            warehouse=dt.warehouse or pipeline.snowflake.warehouse,
            refresh_mode=RefreshMode.of(dt.refresh_mode),
            initialize=Initialize.of(dt.initialize),
            comment=dt.comment or None,
            tree=tree,
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> DynamicTableProperties:
        """The properties a target reports, keyed as :meth:`record` writes them (``sql``,
        ``target_lag``, ``warehouse``, ``refresh_mode``, ``initialize``, ``comment``); missing
        or empty values are None, or the Snowflake default."""
        return cls(
            query=record.get("sql") or None,
            target_lag=record.get("target_lag") or None,
            warehouse=record.get("warehouse") or None,
            refresh_mode=_known(RefreshMode, record.get("refresh_mode")),
            initialize=_known(Initialize, record.get("initialize")),
            comment=record.get("comment") or None,
        )

    def record(self) -> dict[str, str | None]:
        """The properties as a target's record keeps them (see :meth:`from_record`)."""
        return {
            "sql": self.query,
            "target_lag": self.target_lag,
            "warehouse": self.warehouse,
            "refresh_mode": _text(self.refresh_mode),
            "comment": self.comment,
            "initialize": _text(self.initialize),
        }

    def differences(self, desired: DynamicTableProperties) -> tuple[Difference, ...]:
        """What differs from ``desired``, in the order plan shows it: query, refresh mode (see
        :data:`REPLACED`), target lag, warehouse (:data:`ALTERED`), comment.

        ``60 seconds`` and ``1 minute`` are the same lag; warehouses compare case-insensitively
        (unquoted identifiers); queries compare in a canonical form (whitespace, keyword and
        identifier case, comments do not matter). INITIALIZE is not compared: a target does not
        show it, and it only matters at creation.
        """
        from engine.sql.parsing import normalize_sql

        found = []
        if normalize_sql(self._parsed()) != normalize_sql(desired._parsed()):
            found.append(Difference("query", self.query, desired.query))
        if self.refresh_mode is not desired.refresh_mode:
            found.append(Difference("refresh_mode", _text(self.refresh_mode), _text(desired.refresh_mode)))
        if not same_lag(self.target_lag, desired.target_lag):
            found.append(Difference("target_lag", self.target_lag, desired.target_lag))
        if (self.warehouse or "").upper() != (desired.warehouse or "").upper():
            found.append(Difference("warehouse", self.warehouse, desired.warehouse))
        if self.comment != desired.comment:
            found.append(Difference("comment", self.comment, desired.comment))
        return tuple(found)

    def _parsed(self) -> Any:
        tree = self.tree() if callable(self.tree) else self.tree
        return tree or self.query or ""


def same_lag(current: str | None, desired: str | None) -> bool:
    """Whether two lags mean the same: ``60 seconds`` is ``1 minute``."""
    if current is None or desired is None:
        return current == desired
    try:
        return parse_lag(current) == parse_lag(desired)
    except ValueError:
        return False


def _known(kind, text: Any):
    """``kind.of(text)``, or None for a value that is not one of ``kind``'s."""
    try:
        return kind.of(text)
    except ValueError:
        return None


def _text(value) -> str | None:
    return None if value is None else value.value
