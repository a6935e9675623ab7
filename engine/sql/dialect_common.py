"""Shared pieces of the Snowflake -> DuckDB translation passes.

The passes rewrite one sqlglot tree in place. They share three things: a way to say "this
cannot run locally" that keeps the offending node (so the caller can point at its line and
column), DuckDB snippets written as SQL text with placeholders, and a mark on the nodes that
hold a VARIANT (stored locally as DuckDB JSON).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import sqlglot
from sqlglot import exp

_VARIANT = "pipe_variant"
_NATIVE = "pipe_native"

# Snowflake's *undefined*: an ARRAY element that holds no value -- a SQL NULL put in an ARRAY
# (ARRAY_CONSTRUCT, [...], ARRAY_APPEND, ARRAY_INSERT), a missing element of parsed text
# ('[1,,3]'). Snowflake prints it ``undefined`` and tells it from a JSON null
# (sql-reference/data-types-semistructured; array_construct, array_compact, array_sort,
# parse_json pages). JSON has no such value, so locally it is this reserved JSON string (a NUL
# character then ``undefined``), the JSON text the translation of every ARRAY function, path
# and FLATTEN honours, and that is shown as ``undefined`` (engine.sql.variant_text).
UNDEFINED = '"\\u0000undefined"'
UNDEFINED_JSON = f"CAST('{UNDEFINED}' AS JSON)"


class Untranslatable(Exception):
    """A construct the local engine cannot run; translate.py turns it into a SqlError.

    Args:
        construct: what it is, as a user would name it (``MATCH_RECOGNIZE``, ``function FOO``).
        node: where it is in the tree, for the line and column.
        hint: how to fix it.
        keyword: text to look for in the SQL when no node of the construct carries a position.
    """

    def __init__(self, construct: str, node: exp.Expression | None = None, *, hint: str | None = None,
                 keyword: str | None = None):
        super().__init__(construct)
        self.construct = construct
        self.node = node
        self.hint = hint
        self.keyword = keyword


def mark_variant(node: exp.Expression) -> exp.Expression:
    """Flag ``node`` as producing a VARIANT (a DuckDB JSON value) and return it."""
    node.meta[_VARIANT] = True
    return node


def is_marked_variant(node: exp.Expression) -> bool:
    """Whether ``node`` (under any parentheses) was flagged by :func:`mark_variant`."""
    while isinstance(node, exp.Paren):
        node = node.this
    return bool(node.meta.get(_VARIANT))


@functools.cache
def _parsed(template: str) -> exp.Expression:
    return sqlglot.parse_one(template, read="duckdb")


def duck(template: str, **parts: exp.Expression) -> exp.Expression:
    """Build a DuckDB expression from SQL text, replacing columns named ``__NAME`` by ``parts``.

    Each placeholder occurrence receives its own copy of the part, so one part may appear
    several times. The nodes of the template (not the parts) are flagged as DuckDB already,
    so the later passes leave them alone (see :func:`is_native`).
    """
    tree = _parsed(template).copy()
    for node in tree.walk():
        node.meta[_NATIVE] = True
    for column in list(tree.find_all(exp.Column)):
        if column.name.startswith("__") and not column.table:
            column.replace(parts[column.name[2:].lower()].copy())
    return tree


def mark_native(node: exp.Expression) -> exp.Expression:
    """Flag ``node`` itself (not its children) as DuckDB already, as :func:`duck` does, and return it."""
    node.meta[_NATIVE] = True
    return node


def is_native(node: exp.Expression) -> bool:
    """Whether ``node`` was written in DuckDB SQL by :func:`duck` (so is not Snowflake SQL)."""
    return bool(node.meta.get(_NATIVE))


def json_text(node: exp.Expression) -> exp.Expression:
    """A VARIANT as Snowflake casts it to VARCHAR: strings unquoted, anything else as JSON text."""
    return exp.Anonymous(this="json_extract_string", expressions=[node, exp.Literal.string("$")])


def shown(value: object) -> object:
    """A VARIANT read from DuckDB (JSON text) as Snowflake prints it: undefined elements as ``undefined``."""
    return value.replace(UNDEFINED, "undefined") if isinstance(value, str) else value


def rewrite_bottom_up(tree: exp.Expression, rule: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Apply ``rule`` to every node, children before parents, replacing a node by what it returns.

    Rules see their children already rewritten, so a rule can ask whether a child is a VARIANT.
    """
    for node in reversed(list(tree.walk(bfs=False))):
        new = rule(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def start_offset(node: exp.Expression) -> int | None:
    """The smallest source offset recorded on ``node`` or below it, if the parser kept one."""
    offsets = [n.meta["start"] for n in node.walk() if "start" in n.meta]
    return min(offsets) if offsets else None
