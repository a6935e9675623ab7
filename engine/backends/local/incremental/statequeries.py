"""The queries that compute and read aggregate state, as sqlglot trees.

Pure builders: each returns a tree over the recognised query's expressions (grouping keys,
aggregate arguments, WHERE, output items: trees of the model) and the state tables' columns,
whose names pipe makes: ``__G<i>`` grouping keys, ``__H`` / ``__GH`` / ``__KH`` hashes of a row's
key, of its group, of its output key, ``__N`` a row count, ``__S<j>`` / ``__C<j>`` an aggregate's
running value and count, ``__F<j>`` a MIN or MAX to read again, ``__V`` a value, ``__A<j>`` an
aggregate's value. :mod:`.aggstate` runs them.
"""

from __future__ import annotations

from sqlglot import exp

from engine.backends.local.incremental.recognition import Node
from engine.backends.local.incremental.trees import column, fill

SIGN = column("__SIGN")  # a change log row's sign (engine.backends.local.changes.SIGN)


def alias(node: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(node, exp.to_identifier(name, quoted=True))


def bigint(node: exp.Expression) -> exp.Cast:
    return exp.cast(node, "BIGINT")


def call(name: str, *args: exp.Expression) -> exp.Anonymous:
    """DuckDB function ``name`` as written (not mapped by sqlglot)."""
    return exp.Anonymous(this=name, expressions=list(args))


def filtered(aggregate: exp.Expression, condition: exp.Expression) -> exp.Filter:
    """``aggregate FILTER (WHERE condition)``."""
    return exp.Filter(this=aggregate, expression=exp.Where(this=condition))


def distinct(node: exp.Expression) -> exp.Distinct:
    return exp.Distinct(expressions=[node])


def group_columns(node: Node, table: str | None = None) -> list[exp.Column]:
    return [column(f"__G{i}", table) for i in range(len(node.groups))]


def same(a: str, b: str, hashed: str, columns: list[str]) -> exp.Expression:
    """Rows ``a`` and ``b`` have the same key: equal hashes, then every key column equal, NULLs
    included."""
    terms = [column(hashed, a).eq(column(hashed, b))]
    terms += [exp.NullSafeEQ(this=column(c, a), expression=column(c, b)) for c in columns]
    return exp.and_(*terms)


def group_names(node: Node) -> list[str]:
    return [f"__G{i}" for i in range(len(node.groups))]


def grouped(node: Node, columns: list[exp.Expression], source: exp.Expression,
            having: exp.Expression | None = None) -> exp.Select:
    """``columns`` (aggregates) per group of ``source``, with the group keys and their hash."""
    keys = [alias(g.copy(), f"__G{i}") for i, g in enumerate(node.groups)]
    inner = exp.select(*keys, *columns).from_(exp.alias_(source, exp.to_identifier(node.alias, quoted=True), table=True))
    if node.where is not None:
        inner = inner.where(node.where.copy())
    inner = inner.group_by(*[exp.Literal.number(i + 1) for i in range(len(keys))])
    if having is not None:
        inner = inner.having(having)
    return _hashed(call("hash", *group_columns(node)), group_columns(node), inner)


def _hashed(row_hash: exp.Expression, groups: list[exp.Column], inner: exp.Select) -> exp.Select:
    return exp.select(alias(row_hash, "__H"), alias(call("hash", *groups), "__GH"), exp.Star()).from_(inner.subquery())


def group_rows(node: Node, source: exp.Expression) -> list[exp.Expression]:
    """The aggregates a group row keeps, computed from the rows of ``source``."""
    columns = [alias(bigint(exp.Count(this=exp.Star())), "__N")]
    for j, (kind, arg) in enumerate(node.aggs):
        if not node.kept(j):
            continue
        x = node.args[arg].copy() if arg is not None else None
        s, c = f"__S{j}", f"__C{j}"
        if kind == "COUNT":
            columns.append(alias(bigint(exp.Count(this=x)), s))
        elif kind == "COUNT_IF":
            columns.append(alias(bigint(filtered(exp.Count(this=exp.Star()), x)), s))
        elif kind in ("SUM", "AVG"):
            columns += [alias(exp.Sum(this=x), s), alias(bigint(exp.Count(this=x.copy())), c)]
        elif kind == "COUNT_DISTINCT":
            columns.append(alias(bigint(exp.Count(this=distinct(x))), s))
        elif kind == "SUM_DISTINCT":
            columns += [alias(exp.Sum(this=distinct(x)), s), alias(bigint(exp.Count(this=distinct(x.copy()))), c)]
        elif kind == "MIN":
            columns.append(alias(exp.Min(this=x), s))
        elif kind == "MAX":
            columns.append(alias(exp.Max(this=x), s))
    return columns


DISTINCT_KINDS = ("COUNT_DISTINCT", "SUM_DISTINCT")


def grouped_with_values(node: Node, source: exp.Expression, values: dict[int, exp.Expression]) -> exp.Select:
    """The group rows of ``source``, as :func:`grouped` of :func:`group_rows` gives them (same
    columns, same order), with the DISTINCT aggregates read off the value tables ``values``
    (argument -> its table, just built from the same rows) instead of from ``source``: a value
    table holds each group's distinct values already, so the group rows need no hash table of
    distinct values per group, which costs more than every other aggregate of the group."""
    read: dict[int, dict[str, exp.Expression]] = {}  # argument -> column -> its aggregate of "__V"
    for j, (kind, arg) in enumerate(node.aggs):
        if node.kept(j) and kind in DISTINCT_KINDS:
            if kind == "COUNT_DISTINCT":
                read.setdefault(arg, {})[f"__S{j}"] = bigint(exp.Count(this=column("__V")))
            else:
                read.setdefault(arg, {}).update({f"__S{j}": exp.Sum(this=column("__V")),
                                                 f"__C{j}": bigint(exp.Count(this=column("__V")))})
    rows = group_rows(node, source)
    if not read or not set(read) <= set(values):
        return grouped(node, rows, source)
    from_values = {name: arg for arg, columns in read.items() for name in columns}
    names = ["__H", "__GH", *group_names(node), *[c.alias for c in rows]]
    query = grouped(node, [c for c in rows if c.alias not in from_values], source).subquery("__R")
    joined = exp.select(*[column(n, f"__J{from_values[n]}") if n in from_values else column(n, "__R") for n in names])
    joined = joined.from_(query)
    for arg, columns in sorted(read.items()):
        per_group = exp.select(column("__GH"), *group_columns(node), *[alias(e, n) for n, e in columns.items()])
        per_group = per_group.from_(values[arg].copy()).group_by(*[exp.Literal.number(i + 1) for i in range(len(node.groups) + 1)])
        on = same(f"__J{arg}", "__R", "__GH", group_names(node))
        joined = joined.join(per_group.subquery(f"__J{arg}"), on=on, join_type="LEFT")
    return joined


def group_moves(node: Node) -> list[exp.Expression]:
    """How the aggregates a group row keeps move with a change's rows (``__SIGN`` ±1)."""
    columns = [alias(exp.Sum(this=SIGN.copy()), "__N")]
    for j, (kind, arg) in enumerate(node.aggs):
        if not node.kept(j) or kind not in ("COUNT", "COUNT_IF", "SUM", "AVG"):
            continue
        x = node.args[arg]
        if kind == "COUNT":
            columns.append(alias(filtered(exp.Sum(this=SIGN.copy()), x.copy().is_(exp.null()).not_()), f"__S{j}"))
        elif kind == "COUNT_IF":
            columns.append(alias(filtered(exp.Sum(this=SIGN.copy()), x.copy()), f"__S{j}"))
        else:
            columns.append(alias(exp.Sum(this=exp.Mul(this=SIGN.copy(), expression=exp.paren(x.copy()))), f"__S{j}"))
            columns.append(alias(filtered(exp.Sum(this=SIGN.copy()), x.copy().is_(exp.null()).not_()), f"__C{j}"))
    return columns


def keyed(node: Node, last: bool, key: exp.Expression, rows: exp.Select) -> exp.Select:
    """``rows`` of the query's group table (``last``) with their output key and its hash, by
    which the groups of changed keys are found."""
    if not last:
        return rows
    with_key = exp.select(exp.Star(), alias(key.copy(), "__K")).from_(rows.subquery())
    return exp.select(exp.Star(), alias(call("hash", column("__K")), "__KH")).from_(with_key.subquery())


def counts(node: Node, arg: int, source: exp.Expression, count: exp.Expression,
           having: exp.Expression | None = None) -> exp.Select:
    """Rows per group and value of argument ``arg`` of ``source``, with their hashes."""
    keys = [alias(g.copy(), f"__G{i}") for i, g in enumerate(node.groups)] + [alias(node.args[arg].copy(), "__V")]
    inner = exp.select(*keys, alias(bigint(count), "__N"))
    inner = inner.from_(exp.alias_(source, exp.to_identifier(node.alias, quoted=True), table=True))
    if node.where is not None:
        inner = inner.where(node.where.copy())
    inner = inner.group_by(*[exp.Literal.number(i + 1) for i in range(len(keys))])
    if having is not None:
        inner = inner.having(having)
    return _hashed(call("hash", *group_columns(node), column("__V")), group_columns(node), inner)


def value_moves(node: Node, i: int) -> list[exp.Expression]:
    """How the aggregates of argument ``i`` kept in the group row move with the values that
    appeared (``__OLD`` = 0, ``__TOTAL`` > 0) or went (``__OLD`` > 0, ``__TOTAL`` = 0)."""
    moves: list[exp.Expression] = [alias(exp.Literal.number(0), "__PIPE_NOTHING")]
    appeared = fill('"__V" IS NOT NULL AND "__OLD" = 0 AND "__TOTAL" > 0')
    went = fill('"__V" IS NOT NULL AND "__OLD" > 0 AND "__TOTAL" = 0')

    def counted(up: exp.Expression, down: exp.Expression, otherwise: exp.Expression | None) -> exp.Expression:
        case = exp.Case().when(appeared.copy(), up).when(went.copy(), down)
        return exp.Sum(this=case.else_(otherwise) if otherwise is not None else case)

    one, minus_one, zero = exp.Literal.number(1), exp.Literal.number(-1), exp.Literal.number(0)
    for j, (kind, arg) in enumerate(node.aggs):
        if arg != i or not node.kept(j) or kind not in ("COUNT_DISTINCT", "SUM_DISTINCT", "MIN", "MAX"):
            continue
        if kind == "COUNT_DISTINCT":
            moves.append(alias(counted(one.copy(), minus_one.copy(), zero.copy()), f"__S{j}"))
        elif kind == "SUM_DISTINCT":
            moves.append(alias(counted(column("__V"), exp.Neg(this=column("__V")), None), f"__S{j}"))
            moves.append(alias(counted(one.copy(), minus_one.copy(), zero.copy()), f"__C{j}"))
        else:  # MIN, MAX: the best new value; read again if a value went
            best = exp.Max if kind == "MAX" else exp.Min
            moves.append(alias(filtered(best(this=column("__V")), fill('"__N" > 0 AND "__TOTAL" > 0')), f"__S{j}"))
            moves.append(alias(call("bool_or", went.copy()), f"__F{j}"))
    return moves


# Aggregates read off a value table ("__V" the value, "__N" how many rows hold it).
FROM_VALUES = {
    "SUM": 'SELECT sum("__V" * "__N")',
    "SUM_DISTINCT": 'SELECT sum("__V")',
    "AVG": 'SELECT CAST(sum("__V" * "__N") AS DOUBLE) / sum("__N") FILTER (WHERE "__V" IS NOT NULL)',
    "AVG_DISTINCT": 'SELECT avg("__V")',
    "ARRAY_AGG_DISTINCT": 'SELECT array_agg("__V" ORDER BY "__V" ASC) FILTER (WHERE "__V" IS NOT NULL)',
    # the most frequent value, the smallest on a tie: as the translated MODE(x ORDER BY x)
    "MODE": 'SELECT (list("__V" ORDER BY "__N" DESC, "__V" ASC) FILTER (WHERE "__V" IS NOT NULL))[1]',
}


def from_values(kind: str) -> exp.Expression:
    """Aggregate ``kind`` read off a value table."""
    return fill(FROM_VALUES[kind]).selects[0]


def kept_values(node: Node) -> list[exp.Expression]:
    """The aggregates a group row ``s`` holds, as ``__A<j>``."""
    selected: list[exp.Expression] = []
    for j, (kind, _) in enumerate(node.aggs):
        s, c = column(f"__S{j}", "s"), column(f"__C{j}", "s")
        positive = c.copy() > exp.Literal.number(0)
        if kind == "COUNT_STAR":
            selected.append(alias(column("__N", "s"), f"__A{j}"))
        elif node.kept(j) and kind in ("SUM", "SUM_DISTINCT"):
            selected.append(alias(exp.Case().when(positive, s), f"__A{j}"))
        elif node.kept(j) and kind == "AVG":
            quotient = exp.Div(this=exp.cast(s, "DOUBLE"), expression=c)
            selected.append(alias(exp.Case().when(positive, quotient), f"__A{j}"))
        elif node.kept(j):
            selected.append(alias(s, f"__A{j}"))
    return selected
