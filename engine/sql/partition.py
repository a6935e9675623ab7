"""Which output rows of a query a change to one of its inputs can touch.

For each input table ``I`` of a dynamic table's query we look for an output column ``O`` and an
expression ``e`` over ``I``'s columns such that every output row is computed only from rows
``x`` of ``I`` with ``e(x) = O``. Then a change to rows ``Δ`` of ``I`` can only touch output
rows whose ``O`` is in ``{e(x) : x ∈ Δ}``: recomputing exactly those rows refreshes the table
incrementally. The rules, over the query's scopes:

- a table read directly is partitioned by any expression over its columns;
- a derived table (CTE, subquery in FROM) passes on what its output columns are partitioned by;
- in a SELECT, columns equated by inner-join or WHERE equalities form one class; a LEFT JOIN
  equality links the nullable side to the preserved side, whose column must carry the key;
- with GROUP BY the key must be a grouping key (or a function of one); window functions need it
  in every PARTITION BY; a global aggregate has no key.

Anything else (set operations, RIGHT/FULL joins, keys found on some paths only) has no key, and
the table refreshes fully for that input, with the reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from engine import names
from engine.sql.parsing import text

DIALECT = "snowflake"


@dataclass(frozen=True)
class KeyMap:
    """Output column ``output`` holds ``tree`` (a Snowflake expression over the input's columns)."""

    output: str
    tree: exp.Expression

    @property
    def expression(self) -> str:
        """``tree`` as Snowflake SQL, to show it."""
        return text(self.tree)


@dataclass
class Partitioning:
    """For each input table, its key map, or the reason it has none."""

    keys: dict[str, KeyMap] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


class _NoKey(Exception):
    pass


# A relation's partitioning: output column -> {input table -> expression over the input's columns}
Parts = dict[str, dict[str, exp.Expression]]


@dataclass
class _Source:
    parts: Parts
    inputs: set[str]
    nullable: bool = False


def analyze(query: str | exp.Expression, schema: dict[str, list[str]], *, qualified: bool = False) -> Partitioning:
    """Key maps for every input of ``query`` (a Snowflake query, parsed or as text) given the input
    tables' columns; ``qualified``: ``query`` is already qualified against them (a compiled query's
    bound tree), so it is not qualified again."""
    result = Partitioning()
    try:
        if qualified:
            tree = query  # only read: key expressions are copied before they are changed
        else:
            tree = sqlglot.parse_one(query, read=DIALECT) if isinstance(query, str) else query.copy()
        tree = tree if qualified else qualify(
            tree,
            schema=names.schema({t: {c: "VARCHAR" for c in cols} for t, cols in schema.items()}),
            dialect=DIALECT,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except Exception as exc:  # noqa: BLE001 - any failure means: no key, refresh fully
        for table in schema:
            result.reasons[table] = f"query not analysable ({type(exc).__name__})"
        return result
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}
    try:
        parts, inputs = _query_parts(tree, schema, ctes)
    except _NoKey as exc:
        for table in schema:
            result.reasons[table] = str(exc)
        return result
    outputs = _output_names(tree)
    for table in sorted(inputs):
        for column in outputs:
            expr = parts.get(column, {}).get(table)
            if expr is not None:
                result.keys[table] = KeyMap(column, expr)
                break
        else:
            result.reasons[table] = f"no output column identifies the rows that depend on {table}"
    return result


def _output_names(query: exp.Expression) -> list[str]:
    select = query if isinstance(query, exp.Select) else query.find(exp.Select)
    return [e.alias_or_name for e in select.expressions] if select else []


def _query_parts(query: exp.Expression, schema, ctes) -> tuple[Parts, set[str]]:
    if isinstance(query, exp.Subquery):
        return _query_parts(query.this, schema, ctes)
    if not isinstance(query, exp.Select):
        raise _NoKey(f"{query.key.upper()} is not incrementally maintained locally")
    if query.args.get("limit") or query.args.get("offset"):
        raise _NoKey("LIMIT")
    return _select_parts(query, schema, ctes)


def _sources(select: exp.Select, schema, ctes) -> dict[str, _Source]:
    sources: dict[str, _Source] = {}
    from_ = select.args.get("from_") or select.args.get("from")
    items = [(from_.this, None)] if from_ is not None else []
    items += [(j.this, j) for j in select.args.get("joins") or []]
    for node, join in items:
        side = (join.side or "").upper() if join is not None else ""
        if side in ("RIGHT", "FULL"):
            raise _NoKey(f"{side} JOIN")
        alias = node.alias_or_name
        sources[alias] = _source(node, schema, ctes)
        sources[alias].nullable = side == "LEFT"
    return sources


def _source(node: exp.Expression, schema, ctes) -> _Source:
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
        name = node.name
        if name in ctes and not node.db:
            parts, inputs = _query_parts(ctes[name], schema, ctes)
            return _Source(parts, inputs)
        columns = schema.get(name, [])
        return _Source({c: {name: exp.column(c, quoted=names.needs_quotes(c))} for c in columns}, {name})
    if isinstance(node, exp.Subquery):
        parts, inputs = _query_parts(node.this, schema, ctes)
        return _Source(parts, inputs)
    if isinstance(node, exp.Lateral) and isinstance(node.this, exp.Explode):
        return _Source({}, set())  # FLATTEN: rows of the row it expands, no table of its own
    raise _NoKey(f"{node.key.upper()} in FROM")


class _Classes:
    """Union-find over expressions (by their SQL text)."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.nodes: dict[str, exp.Expression] = {}

    def add(self, node: exp.Expression) -> str:
        key = text(node)
        self.parent.setdefault(key, key)
        self.nodes.setdefault(key, node)
        return key

    def find(self, key: str) -> str:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: exp.Expression, b: exp.Expression) -> None:
        ka, kb = self.find(self.add(a)), self.find(self.add(b))
        self.parent[ka] = kb

    def members(self, node: exp.Expression) -> list[exp.Expression]:
        if not self.parent:
            return [node]  # no equality joined anything: each expression is alone (no SQL text needed)
        root = self.find(self.add(node))
        return [self.nodes[k] for k in self.parent if self.find(k) == root]


def _equalities(condition: exp.Expression | None) -> list[exp.EQ]:
    if condition is None:
        return []
    if isinstance(condition, exp.And):
        return _equalities(condition.left) + _equalities(condition.right)
    if isinstance(condition, exp.Paren):
        return _equalities(condition.this)
    return [condition] if isinstance(condition, exp.EQ) else []


def _select_parts(select: exp.Select, schema, ctes) -> tuple[Parts, set[str]]:
    sources = _sources(select, schema, ctes)
    inputs = set().union(*(s.inputs for s in sources.values())) if sources else set()
    classes = _Classes()
    where = select.args.get("where")
    for eq in _equalities(where.this if where is not None else None):
        classes.union(eq.left, eq.right)
    for join in select.args.get("joins") or []:
        for eq in _equalities(join.args.get("on")):
            classes.union(eq.left, eq.right)
    has_aggregate = any(_aggregates(e) for e in select.expressions)
    group = select.args.get("group")
    group_keys = [text(g) for g in group.expressions] if group else []
    if has_aggregate and not group_keys:
        return {}, inputs  # one global row: no key
    windows = [w for w in select.find_all(exp.Window) if _scope_of(w) is select]
    parts: Parts = {}
    for item in select.expressions:
        name = item.alias_or_name
        node = item.this if isinstance(item, exp.Alias) else item
        parts[name] = {}
        for table in inputs:
            expr = _key_expression(node, table, sources, classes, group_keys, windows)
            if expr is not None:
                parts[name][table] = expr
    return parts, inputs


def _aggregates(node: exp.Expression) -> list[exp.AggFunc]:
    """Aggregate calls in ``node`` that are not window functions."""
    return [a for a in node.find_all(exp.AggFunc) if a.find_ancestor(exp.Window) is None and not isinstance(a.parent, exp.Window)]


def _scope_of(node: exp.Expression) -> exp.Expression | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        parent = parent.parent
    return parent


def _unwrap_casts(node: exp.Expression) -> tuple[exp.Expression, list[exp.Expression]]:
    casts = []
    while isinstance(node, (exp.Cast, exp.TryCast)):
        casts.append(node)
        node = node.this
    return node, casts


def _key_expression(node, table, sources, classes, group_keys, windows) -> exp.Expression | None:
    """The expression over ``table``'s columns that output expression ``node`` equals, or None."""
    core, casts = _unwrap_casts(node)
    candidates = [node] if core is node else [node, core]
    for candidate in candidates:
        expr = _class_key(candidate, table, sources, classes, group_keys, windows)
        if expr is not None:
            if candidate is core:
                for cast in reversed(casts):
                    wrapped = cast.copy()
                    wrapped.set("this", expr)
                    expr = wrapped
            return expr
    return None


def _class_key(node, table, sources, classes, group_keys, windows) -> exp.Expression | None:
    members = classes.members(node) if _is_atom(node) else [node]
    member_sql = {text(m) for m in members} if group_keys or windows else set()  # read by these checks only
    if group_keys and not (member_sql & set(group_keys) or _function_of(node, group_keys)):
        return None
    for window in windows:
        partition = {text(p) for p in window.args.get("partition_by") or []}
        if not member_sql & partition and not _function_of(node, list(partition)):
            return None
    found: exp.Expression | None = None
    for alias, source in sources.items():
        if table not in source.inputs:
            continue
        exprs = [e for e in (_over_source(m, alias, source, table) for m in members) if e is not None]
        if not exprs:
            return None
        if source.nullable and not any(
            _source_alias(m) in sources and not sources[_source_alias(m)].nullable for m in members
        ):
            return None
        expr = exprs[0]
        if found is not None and text(found) != text(expr):
            return None
        found = expr
    if found is not None and _source_alias(node) in sources and sources[_source_alias(node)].nullable:
        return None  # the output would be NULL for unmatched rows
    return found


def _is_atom(node: exp.Expression) -> bool:
    return not node.find(exp.AggFunc) and not node.find(exp.Window)


def _function_of(node: exp.Expression, keys: list[str]) -> bool:
    """Every column of ``node`` lies inside one of the grouping expressions ``keys``."""
    if not keys or node.find(exp.AggFunc):
        return False
    key_set = set(keys)

    def covered(n: exp.Expression) -> bool:
        if text(n) in key_set:
            return True
        if isinstance(n, exp.Column):
            return False
        return all(covered(child) for child in n.iter_expressions())

    return bool(node.find(exp.Column)) and covered(node)


def _source_alias(node: exp.Expression) -> str | None:
    tables = {c.table for c in node.find_all(exp.Column) if c.table}
    return tables.pop() if len(tables) == 1 else None


def _over_source(node, alias, source: _Source, table) -> exp.Expression | None:
    """``node`` (over columns of source ``alias``) rewritten over ``table``'s columns."""
    columns = list(node.find_all(exp.Column))
    if not columns or any((c.table or "") != alias for c in columns):
        return None
    if node.find(exp.AggFunc) or node.find(exp.Window):
        return None
    if isinstance(node, exp.Column):  # the column itself: its expression over the table, as it is
        inner = source.parts.get(node.name, {}).get(table)
        return None if inner is None else inner.copy()
    rewritten = node.copy()
    for column in list(rewritten.find_all(exp.Column)):
        inner = source.parts.get(column.name, {}).get(table)
        if inner is None:
            return None
        if column is rewritten:
            return inner.copy()
        column.replace(inner.copy())
    return rewritten
