"""Maintenance statements as sqlglot trees.

Each statement the incremental engine runs is pipe's own DuckDB SQL (a template, parsed once)
with the query's expressions put in as trees: a template names each slot ``__X_<slot>`` where
a column, a table or an identifier would be, and :func:`fill` replaces it with the node (or
list of nodes) given for it. Nothing is pasted as text; the tree is printed once, to run it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import sqlglot
from sqlglot import exp

_SLOT = "__X_"


@lru_cache(maxsize=None)
def _template(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def fill(template: str | exp.Expression, **slots) -> exp.Expression:
    """``template`` (DuckDB SQL, or a tree: not changed) with each slot ``__X_<name>`` replaced by
    ``slots[name]``.

    A slot stands for a column or expression, a table (its alias is kept), or an identifier
    (an alias or a column of an INSERT list); a list of nodes fills a slot inside a list (a select
    list, ``IN (…)``, ``GROUP BY``, ``hash(…)``). Identifiers given as text are quoted.
    """
    tree = (_template(template) if isinstance(template, str) else template).copy()
    for node in list(tree.find_all(exp.Column, exp.Table, exp.Identifier)):
        if node.parent is None and node is not tree:
            continue  # inside a slot replaced already
        if isinstance(node, exp.Identifier):
            if isinstance(node.parent, (exp.Column, exp.Table)) or not node.name.startswith(_SLOT):
                continue
            _put(node, slots[node.name[len(_SLOT):]], identifier=True)
        elif isinstance(node, exp.Column) and not node.table and node.name.startswith(_SLOT):
            _put(node, slots[node.name[len(_SLOT):]])
        elif isinstance(node, exp.Table) and not node.db and node.name.startswith(_SLOT):
            value = _fresh(slots[node.name[len(_SLOT):]])
            alias = node.args.get("alias")
            if alias is not None:
                value = exp.Subquery(this=value, alias=alias) if isinstance(value, exp.Query) else value
                value.set("alias", alias)
            elif isinstance(value, exp.Query):
                value = exp.Subquery(this=value)
            node.replace(value)
    return tree


def _fresh(value: exp.Expression) -> exp.Expression:
    """``value``, copied when it is part of a tree already."""
    return value.copy() if value.parent is not None else value


def _put(node: exp.Expression, value, *, identifier: bool = False) -> None:
    def convert(v):
        if isinstance(v, str):
            return exp.to_identifier(v, quoted=True) if identifier else exp.column(v, quoted=True)
        return _fresh(v)

    if not isinstance(value, (list, tuple)):
        node.replace(convert(value))
        return
    parent, key = node.parent, node.arg_key
    siblings = parent.args.get(key)
    if not isinstance(siblings, list):
        raise ValueError(f"slot {node.sql()} cannot take a list")
    index = next(i for i, s in enumerate(siblings) if s is node)
    parent.set(key, siblings[:index] + [convert(v) for v in value] + siblings[index + 1:])


def sql(tree: exp.Expression, *, identify: bool = False) -> str:
    """The DuckDB SQL of ``tree`` (``identify``: every identifier quoted, as a translation is printed)."""
    return tree.sql(dialect="duckdb", identify=identify)


def run(con, template: str, params: list | None = None, **slots):
    """Fill ``template`` and execute it on ``con``; returns the cursor."""
    text = sql(fill(template, **slots))
    return con.execute(text, params) if params is not None else con.execute(text)


class Statements:
    """Statements printed once: most maintenance statements of a table are the same at every
    refresh, given its plan (only lists of hashes and row ids change, and those statements go
    through :func:`run`), so each is built and printed the first time its ``key`` is run."""

    def __init__(self):
        self._texts: dict = {}

    def text(self, key, build: Callable[[], exp.Expression], *, identify: bool = False) -> str:
        """The SQL of ``build()``, built the first time ``key`` is asked for."""
        found = self._texts.get(key)
        if found is None:
            found = self._texts[key] = sql(build(), identify=identify)
        return found

    def run(self, con, key, build: Callable[[], exp.Expression], params: list | None = None):
        """Execute :meth:`text` on ``con``; returns the cursor."""
        text = self.text(key, build)
        return con.execute(text, params) if params is not None else con.execute(text)


def column(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference."""
    return exp.column(name, table=table, quoted=True)


def columns(names) -> list[exp.Column]:
    """Quoted column references."""
    return [column(n) for n in names]


def numbers(values) -> exp.Literal:
    """Integers for ``IN (…)`` (``NULL`` when there are none): DuckDB answers a constant list on
    an indexed column by point lookups. The lists hold pipe's own hashes and row ids, up to
    thousands of them: they are one node printed as is, since a node per value costs more to
    build and print than the statement takes to run."""
    return exp.Literal(this=", ".join(str(int(v)) for v in values) or "NULL", is_string=False)


def table_slot(name: str, alias: exp.Identifier | str) -> exp.Table:
    """A table slot for :func:`fill`, under ``alias`` (quoted)."""
    return exp.alias_(exp.table_(_SLOT + name), exp.to_identifier(alias, quoted=True), table=True)


def temp(name: str) -> exp.Table:
    """A temporary table of the engine's own (``__PIPE_…``)."""
    return exp.table_(name)
