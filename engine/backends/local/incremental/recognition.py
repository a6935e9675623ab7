"""Aggregate-state recognition: which grouped queries aggregate state can maintain, and how.

A query is recognised as a chain of grouped SELECTs (:class:`Node`): the query itself and the
grouped CTEs it reads, each over one input table or one such CTE, optionally joined to grouped
CTEs on a grouping key to look up one row per group. Each aggregate gets a kind (COUNT, SUM,
MIN, …) and an argument; :mod:`.aggstate` keeps and moves their state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from engine import names
from engine.sql.partition import Partitioning

# Aggregates kept in the group row, and merged by the rows changed.
BY_ROWS = {"COUNT", "COUNT_IF", "SUM", "AVG"}
# Aggregates kept in the group row, and merged by the values that appear or disappear.
BY_VALUES = {"COUNT_DISTINCT", "SUM_DISTINCT", "MIN", "MAX"}
PAIRED = {"SUM", "AVG", "SUM_DISTINCT"}  # kept as a sum and a count of non-NULL values
EXTREMES = {"MIN": "least", "MAX": "greatest"}
EXACT_SUMS = {"SUM", "AVG", "SUM_DISTINCT"}  # kept in the group row only for exact numbers


class Unsupported(Exception):
    """The query is not of a shape aggregate state can maintain."""


@dataclass
class Lookup:
    node: Node
    alias: str  # the alias the query gives it
    column: str  # its output column joined to a grouping key
    group: int  # index of that grouping key


@dataclass
class Node:
    """One grouped SELECT: the query itself or a grouped CTE."""

    index: int
    name: str  # CTE name, or "" for the query itself
    source_table: str | None  # the input table it reads, or
    source_node: Node | None  # the grouped CTE it reads
    alias: str  # alias of its source in the query
    where: exp.Expression | None
    groups: list[exp.Expression]  # grouping expressions (over the source)
    args: list[exp.Expression] = field(default_factory=list)  # aggregate arguments (over the source)
    aggs: list[tuple[str, int | None]] = field(default_factory=list)  # (kind, argument index)
    lookups: list[Lookup] = field(default_factory=list)
    items: list[exp.Expression] = field(default_factory=list)  # output expressions over __S and lookups
    columns: list[str] = field(default_factory=list)  # output column names
    inexact: set[int] = field(default_factory=set)  # arguments of a floating-point type
    group_text: list[str] = field(default_factory=list)  # ``groups`` as DuckDB SQL, to compare
    arg_text: list[str] = field(default_factory=list)  # ``args`` as DuckDB SQL, to compare

    def kept(self, j: int) -> bool:
        """Aggregate ``j`` is kept in the group row (else read off its value table)."""
        kind, arg = self.aggs[j]
        if kind in EXACT_SUMS and arg in self.inexact:
            return False
        return kind in BY_ROWS or kind in BY_VALUES

    def valued(self) -> list[int]:
        """The arguments that need a value table."""
        return sorted(
            {a for j, (k, a) in enumerate(self.aggs) if a is not None and (not self.kept(j) or k in BY_VALUES)}
        )


@dataclass
class Shape:
    """A query aggregate state can maintain."""

    nodes: list[Node]  # sources before the queries reading them; the last is the query
    key: exp.Expression  # the output key, over the query's grouping keys "__G<i>"
    output: str  # the output column the key is


def recognise(con, query: exp.Expression, inputs: list[str], partitioning: Partitioning) -> Shape | None:
    """The shape of ``query`` (a DuckDB tree, not changed), or None when aggregate state cannot
    maintain it. ``con`` types the arguments summed (see :func:`_inexact_arguments`)."""
    tree = query.copy()
    if not isinstance(tree, exp.Select):
        return None
    with_ = tree.args.get("with_") or tree.args.get("with")
    ctes = {names.of(cte.args["alias"].this): cte.this for cte in (with_.expressions if with_ else [])}
    builder = _Builder(ctes, set(inputs))
    try:
        top = builder.node(tree, "")
    except Unsupported:
        return None
    keys = {partitioning.keys[t].output for t in inputs if t in partitioning.keys}
    if len(keys) != 1 or len(partitioning.keys) != len(inputs):
        return None
    output = keys.pop()
    for item, column in zip(top.items, top.columns):
        if column != output:
            continue
        key = item.copy()
        refs = list(key.find_all(exp.Column))
        if not refs or any(c.table != "__S" or not c.name.startswith("__G") for c in refs):
            return None  # the key is not a function of the grouping keys alone
        for ref in refs:
            ref.set("table", None)
        for node in builder.nodes:
            node.inexact = _inexact_arguments(con, with_, node)
        return Shape(builder.nodes, key, output)
    return None


_FLOATS = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"}


def _inexact_arguments(con, with_: exp.Expression | None, node: Node) -> set[int]:
    """The arguments of ``node`` summed or averaged whose type is floating-point (or unknown):
    their sums are read off the values each time rather than moved by differences, which
    would drift."""
    summed = sorted({a for kind, a in node.aggs if kind in EXACT_SUMS and a is not None})
    if not summed:
        return set()
    source = exp.to_identifier(node.source_table or node.source_node.name, quoted=True)
    probe = exp.select(*[node.args[a].copy() for a in summed]).limit(0)
    probe = probe.from_(exp.alias_(exp.table_(source), exp.to_identifier(node.alias, quoted=True), table=True))
    if with_ is not None:
        probe.set(with_.arg_key, with_.copy())
    try:
        types = [str(d[1]).upper() for d in con.execute(probe.sql(dialect="duckdb")).description]
    except Exception:  # noqa: BLE001 - unknown types are treated as inexact
        return set(summed)
    return {a for a, t in zip(summed, types) if t in _FLOATS}


class _Builder:
    def __init__(self, ctes: dict[str, exp.Expression], inputs: set[str]):
        self.ctes = ctes
        self.inputs = inputs
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}

    def node(self, select: exp.Expression, name: str) -> Node:
        if name in self.by_name:
            return self.by_name[name]
        if not isinstance(select, exp.Select) or select.args.get("group") is None:
            raise Unsupported("not a grouped SELECT")
        for part in ("having", "qualify", "distinct", "order", "limit", "offset"):
            if select.args.get(part):
                raise Unsupported(part)
        if name and (select.args.get("with_") or select.args.get("with")):
            raise Unsupported("WITH inside a CTE")
        if any(select.find_all(exp.Window, exp.Subquery, exp.Lateral, exp.Unnest)):
            raise Unsupported("window or subquery")
        from_ = select.args.get("from_") or select.args.get("from")
        table = from_.this if from_ is not None else None
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise Unsupported("FROM is not a table")
        alias = table.alias or table.name
        source_name = names.of(table)
        source_node = None
        if source_name in self.ctes and not table.db:
            source_node = self.node(self.ctes[source_name], source_name)
        elif source_name not in self.inputs:
            raise Unsupported(f"{source_name} is not an input")
        owner = _alias(table)  # what the query's columns of the source are qualified with
        lookups = self._lookups(select, owner)
        lookup_aliases = {_alias(lk.table) for lk in lookups}
        node = Node(
            index=-1,
            name=name,
            source_table=None if source_node else source_name,
            source_node=source_node,
            alias=alias,
            where=None,
            groups=[g.copy() for g in select.args["group"].expressions],
            group_text=[g.sql(dialect="duckdb") for g in select.args["group"].expressions],
        )
        for group in select.args["group"].expressions:
            self._own_columns(group, owner, lookup_aliases)
        where = select.args.get("where")
        if where is not None:
            self._own_columns(where.this, owner, lookup_aliases)
            node.where = where.this.copy()
        for lookup in lookups:
            on_groups = [i for i, g in enumerate(node.group_text) if g == lookup.column_sql]
            if not on_groups:
                raise Unsupported("a lookup joined on something other than a grouping key")
            node.lookups.append(Lookup(lookup.node, lookup.alias, lookup.column, on_groups[0]))
        for item in select.expressions:
            node.columns.append(names.of(item.args["alias"]) if isinstance(item, exp.Alias) else names.of(item))
            node.items.append(self._item(item.this if isinstance(item, exp.Alias) else item, node, owner, lookup_aliases))
        node.index = len(self.nodes)
        self.nodes.append(node)
        self.by_name[name] = node
        return node

    def _lookups(self, select: exp.Select, alias: str) -> list:
        found = []
        for join in select.args.get("joins") or []:
            if join.side or (join.kind or "").upper() not in ("", "INNER") or join.args.get("using"):
                raise Unsupported("only inner joins to grouped CTEs")
            table = join.this
            if not isinstance(table, exp.Table) or names.of(table) not in self.ctes or table.db:
                raise Unsupported("a join to something other than a grouped CTE")
            lookup = self.node(self.ctes[names.of(table)], names.of(table))
            if len(lookup.groups) != 1:
                raise Unsupported("a lookup grouped by more than one key")
            on = join.args.get("on")
            if not isinstance(on, exp.EQ):
                raise Unsupported("a lookup joined on more than one equality")
            join_alias = _alias(table)
            sides = [on.left, on.right]
            mine = [s for s in sides if isinstance(s, exp.Column) and _owner(s) == join_alias]
            if len(mine) != 1:
                raise Unsupported("a lookup join that is not column = column")
            other = sides[1] if mine[0] is sides[0] else sides[0]
            column = names.of(mine[0])
            key_columns = [c for c, item in zip(lookup.columns, lookup.items) if item == _group_ref(0)]
            if column not in key_columns:
                raise Unsupported("a lookup joined on a column that is not its grouping key")
            self._own_columns(other, alias, set())
            found.append(_PendingLookup(lookup, table.alias or table.name, column, other.sql(dialect="duckdb"), table))
        return found

    @staticmethod
    def _own_columns(node: exp.Expression, alias: str, lookups: set[str]) -> None:
        """Raise Unsupported unless every column of ``node`` is qualified by ``alias`` (resolved) or none."""
        for column in node.find_all(exp.Column):
            owner = _owner(column)
            if owner in lookups or (owner and owner != alias):
                raise Unsupported(f"{column.sql()} is not a column of {alias}")
            if not owner and lookups:
                raise Unsupported("an unqualified column next to a lookup")

    def _item(self, expression: exp.Expression, node: Node, alias: str, lookups: set[str]) -> exp.Expression:
        if node.group_text and expression.sql(dialect="duckdb") in node.group_text:
            return _group_ref(node.group_text.index(expression.sql(dialect="duckdb")))
        tree = exp.Paren(this=expression.copy())  # a parent, so that the item itself can be replaced
        for agg in [a for a in tree.find_all(exp.AggFunc) if a.find_ancestor(exp.AggFunc) is None]:
            call = agg
            if isinstance(agg, exp.ArrayAgg):
                kind, argument = _array_agg(agg)
                call = agg.parent
            else:
                if isinstance(call.parent, (exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls)):
                    raise Unsupported("an aggregate with FILTER, WITHIN GROUP or NULLS")
                kind, argument = _classify(agg)
            owners = {_owner(c) for c in (argument.find_all(exp.Column) if argument is not None else [])}
            if owners and owners <= lookups and len(owners) == 1 and kind in ("MIN", "MAX"):
                call.replace(argument.copy())  # one lookup row per group: its value
                continue
            if argument is not None:
                self._own_columns(argument, alias, lookups)
            call.replace(exp.column(f"__A{self._aggregate(node, kind, argument)}", table="__S", quoted=True))
        for i, group in enumerate(node.group_text):
            for sub in list(tree.find_all(exp.Expression)):
                if sub is not tree and sub.find(exp.Column) and sub.sql(dialect="duckdb") == group:
                    sub.replace(_group_ref(i))
        for column in tree.find_all(exp.Column):
            if column.table != "__S" and _owner(column) not in lookups:
                raise Unsupported(f"{column.sql()} is neither grouped nor aggregated")
        return tree.this

    @staticmethod
    def _aggregate(node: Node, kind: str, argument: exp.Expression | None) -> int:
        if argument is None:
            entry = (kind, None)
        else:
            text = argument.sql(dialect="duckdb")
            if text not in node.arg_text:
                node.args.append(argument.copy())
                node.arg_text.append(text)
            entry = (kind, node.arg_text.index(text))
        if entry not in node.aggs:
            node.aggs.append(entry)
        return node.aggs.index(entry)


@dataclass
class _PendingLookup:
    node: Node
    alias: str
    column: str
    column_sql: str  # the other side of the join equality, over the source
    table: exp.Table  # as the query joins it


def _alias(table: exp.Table) -> str:
    """The resolved name a query gives ``table``: its alias, else its name."""
    alias = table.args.get("alias")
    return names.of(alias.this) if alias is not None and alias.this is not None else names.of(table)


def _owner(column: exp.Column) -> str:
    """The resolved qualifier of ``column`` (``""`` when it has none)."""
    qualifier = column.args.get("table")
    return names.of(qualifier) if qualifier is not None else ""


def _array_agg(agg: exp.ArrayAgg) -> tuple[str, exp.Expression]:
    """ARRAY_AGG(DISTINCT x ORDER BY x) FILTER (WHERE NOT x IS NULL), as ARRAY_AGG(DISTINCT x)
    is translated: the values present, in order."""
    order, where = agg.this, agg.parent.args.get("expression") if isinstance(agg.parent, exp.Filter) else None
    if not isinstance(order, exp.Order) or not isinstance(order.this, exp.Distinct) or where is None:
        raise Unsupported("ARRAY_AGG other than ARRAY_AGG(DISTINCT x)")
    values = order.this.expressions
    keys = order.expressions
    condition = where.this
    if (
        len(values) != 1
        or len(keys) != 1
        or keys[0].this != values[0]
        or keys[0].args.get("desc")
        or not isinstance(condition, exp.Not)
        or not isinstance(condition.this, exp.Is)
        or condition.this.this != values[0]
        or not isinstance(condition.this.expression, exp.Null)
    ):
        raise Unsupported("ARRAY_AGG other than ARRAY_AGG(DISTINCT x)")
    return "ARRAY_AGG_DISTINCT", values[0]


def _classify(agg: exp.AggFunc) -> tuple[str, exp.Expression | None]:
    """The kind of an aggregate call and its argument."""
    this = agg.this
    distinct = isinstance(this, exp.Distinct)
    if distinct:
        if len(this.expressions) != 1:
            raise Unsupported("DISTINCT over several expressions")
        this = this.expressions[0]
    if isinstance(agg, exp.Count):
        if isinstance(this, exp.Star):
            return "COUNT_STAR", None
        return ("COUNT_DISTINCT" if distinct else "COUNT"), this
    if isinstance(agg, exp.Sum):
        return ("SUM_DISTINCT" if distinct else "SUM"), this
    if isinstance(agg, exp.Avg):
        return ("AVG_DISTINCT" if distinct else "AVG"), this
    if isinstance(agg, (exp.Min, exp.Max)) and not agg.expressions:
        return type(agg).__name__.upper(), this
    if isinstance(agg, exp.CountIf) and not distinct:
        return "COUNT_IF", this
    if isinstance(agg, exp.Mode) and isinstance(this, exp.Order) and not distinct:
        order = this.expressions
        if len(order) == 1 and order[0].this == this.this and not order[0].args.get("desc"):
            return "MODE", this.this
    raise Unsupported(f"{agg.sql(dialect='duckdb')} has no aggregate state")


def _group_ref(i: int) -> exp.Column:
    return exp.column(f"__G{i}", table="__S", quoted=True)
