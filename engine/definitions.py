"""What each object of a plan is made from: a generator's function, a base table, a dynamic table.

The planner attaches these to the actions that create, replace or alter an object; a backend that
does not run the Snowflake statements (the local one) carries the action out from them, so what
it makes is what the plan showed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from engine import names
from engine.kinds import RefreshMode
from engine.properties import DynamicTableProperties
from engine.sql.render import Statements, function_source

if TYPE_CHECKING:
    from engine.graph import PipelineGraph


@dataclass(frozen=True)
class FunctionDefinition:
    """What a generator's function is made from, and what pipe records of it."""

    generator: str  # its name in the file
    fingerprint: str
    arg_types: str  # ``NUMBER, NUMBER``: a DROP FUNCTION needs them
    source: str  # the module the UDTF embeds: plan shows how it changed

    def record(self) -> dict[str, str]:
        """What a target keeps of the function (its ``ObjectState.properties``)."""
        return {"fingerprint": self.fingerprint, "arg_types": self.arg_types, "source": self.source}


@dataclass(frozen=True)
class TableDefinition:
    """A base table's columns and what fills it."""

    columns: tuple[tuple[str, str], ...]  # (name as Snowflake stores it, Snowflake type), in order
    fingerprint: str
    generator: str | None = None
    args: tuple = ()
    seed: int | None = None
    order_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class DynamicTableDefinition:
    """A dynamic table's declared properties, its compiled query and its resolved refresh mode."""

    properties: DynamicTableProperties
    query: Any = field(compare=False, repr=False)  # engine.sql.compiler.CompiledQuery
    refresh_mode: RefreshMode  # what Snowflake resolves the declared mode to (FULL or INCREMENTAL)
    refresh_mode_reason: str
    # The compiled query's DuckDB translation, made on first use (only the local engine needs it).
    duckdb: Callable[[], str] = field(compare=False, repr=False)


Definition = FunctionDefinition | TableDefinition | DynamicTableDefinition


def function_definition(sql: Statements, name: str) -> FunctionDefinition:
    """Generator ``name``'s function as the file declares it."""
    return FunctionDefinition(
        generator=name,
        fingerprint=sql.function_fingerprint(name),
        arg_types=", ".join(sql.function_arg_types(name)),
        source=function_source(sql.pipeline, name),
    )


def table_definition(sql: Statements, name: str) -> TableDefinition:
    """Base table ``name`` as the file declares it."""
    pipeline = sql.pipeline
    table = pipeline.tables[name]
    columns = pipeline.generator(table.generator).returns if table.generator else table.columns
    return TableDefinition(
        columns=tuple((names.resolve(column), kind) for column, kind in columns.items()),
        fingerprint=sql.table_fingerprint(name),
        generator=table.generator,
        args=tuple(table.args),
        seed=pipeline.seed,
        order_by=tuple(names.resolve(c) for c in table.order_by),
    )


def dynamic_table_definition(graph: PipelineGraph, name: str) -> DynamicTableDefinition:
    """Dynamic table ``name`` as the file declares it, with its compiled query and what its
    declared refresh mode resolves to."""
    compiled = graph.queries[name]
    properties = DynamicTableProperties.declared(graph.pipeline, name, lambda: compiled.tree)
    mode, reason = compiled.snowflake_mode(graph.pipeline.dynamic_tables[name].refresh_mode)
    return DynamicTableDefinition(properties, compiled, mode, reason, partial(graph.duckdb_sql, name))
