"""Compiling through the cache: what a second ``validate`` or ``plan`` of an unchanged file reads
back instead of parsing.

Each dynamic table's compile is a pure function of its SQL, the columns of the tables it reads and
the code (:mod:`engine.sql.cache` keys on all three). What validate and plan need of it is kept as
plain values (:mod:`engine.sql.facts`): the tables it names, its output columns, the refresh mode
AUTO resolves to. A query read back is a :class:`RecalledQuery`; its trees are parsed and bound
again only when a later stage reads them (the local engine, the UI, a plan against a target that
has the table), so a warm ``validate`` does not import sqlglot. A query Snowflake would reject is
never kept: its errors are found again each time.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from engine.kinds import RefreshMode
from engine.sql import cache
from engine.sql.compiler import Column, CompiledQuery, compile_query, parse
from engine.sql.facts import Finding, RefreshDecision, TableRef


class RecalledQuery(CompiledQuery):
    """A compiled query made from the cache's facts: its trees are made again on first read."""

    def __init__(self, name: str, sql: str, reads: list[TableRef], facts: dict[str, Any], catalog: dict):
        decision = facts["decision"]
        super().__init__(
            name, sql, None, reads,
            columns=None if facts["columns"] is None else tuple(Column(*c) for c in facts["columns"]),
            decision=RefreshDecision(
                RefreshMode(decision["mode"]),
                decision["reason"],
                tuple(Finding(*f) for f in decision["findings"]),
                tuple(Finding(*f) for f in decision["warnings"]),
            ),
            catalog=catalog,
        )
        del self.tree, self.bound  # made by the properties below when first read

    @cached_property
    def tree(self):
        return parse(self.sql)[0]

    @cached_property
    def bound(self):
        from engine.sql.binder import bind

        return bind(self.tree, self.catalog)[0]

    def _bound_if_made(self):
        return self.__dict__.get("bound")  # binding again costs more than the key analysis saves


def table_refs(sql: str, trees: dict[str, Any]) -> list[TableRef]:
    """The tables ``sql`` names, as :func:`engine.sql.compiler.parse` finds them, kept in the cache.
    A query parsed here leaves its tree in ``trees`` (SQL -> tree) for :func:`compiled`.

    Raises:
        SqlError: the query does not parse (never kept).
    """

    def find() -> list[list]:
        tree, refs = parse(sql)
        trees[sql] = tree
        return [[r.name, r.schema, r.database, r.line, r.column] for r in refs]

    return [TableRef(*ref) for ref in cache.cached("table_refs", (sql,), find)]


def compiled(name: str, sql: str, reads: list[TableRef], catalog: dict, trees: dict[str, Any]) -> CompiledQuery:
    """:func:`engine.sql.compiler.compile_query` of ``sql`` against ``catalog``, or the same read
    back from the cache (a :class:`RecalledQuery`)."""
    catalog = {r.name: catalog[r.name] for r in reads if r.name in catalog}
    # Column order matters (``SELECT *``): the key lists each table's columns in order.
    parts = (sql, {table: None if columns is None else list(columns.items()) for table, columns in catalog.items()})
    path = cache.slot("compiled", parts)
    facts = cache.read(path)
    if facts is not cache.MISSING:
        return RecalledQuery(name, sql, reads, facts, catalog)
    tree = trees[sql] if sql in trees else parse(sql)[0]
    result = compile_query(name, sql, tree, reads, catalog)
    if not result.problems:
        cache.write(path, _facts(result))
    return result


def _facts(compiled: CompiledQuery) -> dict[str, Any]:
    decision = compiled.decision
    return {
        "columns": None if compiled.columns is None else [[c.name, c.type] for c in compiled.columns],
        "decision": {
            "mode": decision.mode.value,
            "reason": decision.reason,
            "findings": [[f.construct, f.reason, f.line, f.column] for f in decision.findings],
            "warnings": [[f.construct, f.reason, f.line, f.column] for f in decision.warnings],
        },
    }
