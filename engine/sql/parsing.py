"""Parsing Snowflake SQL with sqlglot, and finding what a query reads."""

from __future__ import annotations

import functools
import re
from collections import deque
from copy import deepcopy

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from engine import names
from engine.errors import SqlError
from engine.sql.facts import TableRef
from engine.sql.limits import MAX_DEPTH, allow_deep_queries

DIALECT = "snowflake"


def parse_select(sql: str) -> exp.Query:
    """Parse one Snowflake query (SELECT, WITH … SELECT, set operations).

    Raises:
        SqlError: a syntax error (with its line and column), several statements, or not a query.
    """
    allow_deep_queries()
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect()) if s is not None]
    except RecursionError:
        raise _too_deep(sql, None) from None
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        # sqlglot names its node classes ("<class 'sqlglot.expressions.core.EQ'>"): keep the name.
        description = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", first.get("description", str(exc)))
        raise SqlError(
            f"SQL syntax error: {description}",
            sql=sql,
            sql_line=first.get("line"),
            sql_column=first.get("col"),
            hint="fix the query",
        ) from None
    except TokenError as exc:
        raise SqlError(f"SQL syntax error: {exc}", sql=sql, hint="check quotes and brackets") from None
    if not statements:
        raise SqlError("empty SQL", sql=sql, hint="write a SELECT")
    if len(statements) > 1:
        raise SqlError("the SQL holds several statements", sql=sql, hint="a dynamic table is one SELECT")
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise SqlError(
            f"a dynamic table's SQL must be a SELECT, not {query.key.upper()}", sql=sql, hint="write a SELECT"
        )
    found, unquoted = _survey(query)
    if found > MAX_DEPTH:
        raise _too_deep(sql, found)
    if unquoted is not None:
        raise _unquoted_error(unquoted, sql)
    return query


NODE = "pipe_at"
"""Meta key of each node of a parsed query: its number in the tree as parsed. Copies keep it, so a
copy that was qualified or typed can be matched back to the nodes of another copy (the types the
compile found are given to the translation's nodes: :func:`engine.sql.dialect_annotate.annotate`)."""


class _Meta(dict):
    """A parsed node's meta (its :data:`NODE` number, sqlglot's token positions): copied with the
    node without Python's general deep copy, which walked each node's dict item by item and was the
    most costly part of copying a tree. Values that are not plain (a type a stage noted) are still
    deep-copied."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict) -> _Meta:
        copy = _Meta(self)
        for key, value in self.items():
            if type(value) not in _PLAIN:
                copy[key] = deepcopy(value, memo)
        return copy


_PLAIN = frozenset({int, str, bool, float, type(None)})


def depth(tree: exp.Expression) -> int:
    """How many levels the syntax tree of ``tree`` nests (counted without recursion)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.iter_expressions())
    return deepest


def _survey(query: exp.Expression) -> tuple[int, exp.Identifier | None]:
    """One walk of a parsed query (breadth first, as ``find_all``): number each node (:data:`NODE`),
    and find how deep it nests and its first unquoted name that Snowflake refuses."""
    deepest, queue, count, unquoted = 0, deque([(query, 1)]), 0, None
    while queue:
        node, level = queue.popleft()
        meta = node._meta  # (sqlglot's own; set to a dict of ours, its copies are cheap)
        node._meta = meta = _Meta() if meta is None else _Meta(meta)
        meta[NODE] = count
        count += 1
        deepest = max(deepest, level)
        if unquoted is None and isinstance(node, exp.Identifier) and not node.quoted and not node.name.isascii():
            unquoted = node
        queue.extend((child, level + 1) for child in node.iter_expressions())
    return deepest, unquoted


def _too_deep(sql: str, found: int | None) -> SqlError:
    what = f"nests {found} levels deep" if found else "nests too deeply to parse"
    return SqlError(
        f"the query {what}; pipe compiles queries up to {MAX_DEPTH} levels (about 500 nested subqueries)",
        sql=sql,
        hint="flatten it: name the inner queries with WITH … AS and select from those",
    )


def _unquoted_error(node: exp.Identifier, sql: str) -> SqlError:
    """Snowflake's unquoted identifiers are ASCII (sql-reference/identifiers-syntax): sqlglot reads
    ``café`` as a name, Snowflake refuses it."""
    meta = node.meta or {}
    return SqlError(
        f"{node.name} is not a valid unquoted Snowflake identifier (unquoted names are letters A-Z, "
        "digits, _ and $)",
        sql=sql,
        sql_line=meta.get("line"),
        sql_column=start_column(meta),
        hint=f'quote it: "{node.name}" (quoted names keep their case)',
    )


def table_refs(query: exp.Expression) -> list[TableRef]:
    """Every table a query reads, excluding CTE names and table functions."""
    found = list(query.find_all(exp.CTE, exp.Table))  # one walk for both
    ctes = {names.of(cte.args["alias"].this) for cte in found if isinstance(cte, exp.CTE)}
    refs = []
    for table in found:
        if not isinstance(table, exp.Table):
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # TABLE(fn(...)) and other table functions
        if not table.db and names.of(table.this) in ctes:
            continue
        # Point at the start of the name as written: its database or schema part when qualified.
        first = table.args.get("catalog") or table.args.get("db") or table.this
        meta = first.meta or {}
        refs.append(
            TableRef(
                name=_ident(table.this),
                schema=_ident(table.args.get("db")),
                database=_ident(table.args.get("catalog")),
                line=meta.get("line"),
                column=start_column(meta),
            )
        )
    return refs


def _ident(node: exp.Expression | None) -> str | None:
    return None if node is None else names.of(node)


def start_column(meta: dict) -> int | None:
    """sqlglot records the column of an identifier's last character; we want its first."""
    col, start, end = meta.get("col"), meta.get("start"), meta.get("end")
    if col is None:
        return None
    if start is not None and end is not None:
        return max(col - (end - start), 1)
    return col


@functools.cache
def dialect() -> Dialect:
    """Snowflake's sqlglot dialect, made once: sqlglot makes one per call when given its name."""
    return Dialect.get_or_raise(DIALECT)


def text(node: exp.Expression) -> str:
    """``node`` as Snowflake SQL, as ``node.sql(dialect="snowflake")`` gives it without making a
    dialect each time (the key analysis compares many expressions by their text)."""
    return dialect().generate(node)


def normalize_sql(sql: str | exp.Expression) -> str:
    """A canonical form of a query (as text, or already parsed) for comparisons: whitespace,
    keyword and identifier case, comments and a trailing semicolon do not matter.
    """
    try:
        from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

        if isinstance(sql, exp.Expression):
            tree = sql.copy()
        else:
            tree = sqlglot.parse_one(sql.strip().rstrip(";"), read=DIALECT)
        tree = normalize_identifiers(tree, dialect=DIALECT)
        for node in tree.walk():
            node.comments = None
        return tree.sql(dialect=DIALECT, comments=False)
    except (ParseError, TokenError):
        return " ".join(sql.split()).rstrip(";").strip()
