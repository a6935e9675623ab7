"""Binding a dynamic table's query against the pipeline's catalog, as Snowflake does at CREATE.

Every column reference is resolved to the table, CTE, subquery or FLATTEN it reads; what Snowflake
would reject (an unknown or ambiguous column, an alias that names no table of the FROM clause, set
operations of different widths) becomes a :class:`Problem` at the position of the offending token.
Nothing Snowflake accepts is refused: VARIANT paths are untyped, select aliases may be reused later in
the select list and in WHERE/GROUP BY/HAVING/QUALIFY, ``USING`` joins, ``GROUP BY ALL`` and star
expansion all bind, and a table whose columns are unknown (an external table declared without
``columns:``) accepts any column.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from engine import names
from engine.errors import did_you_mean
from engine.sql.parsing import DIALECT, dialect, start_column

# The columns of LATERAL FLATTEN's output (sql-reference/functions/flatten, "Output").
FLATTEN_COLUMNS = ("SEQ", "KEY", "PATH", "INDEX", "VALUE", "THIS")

# Metadata columns (METADATA$ROW_LAST_COMMIT_TIME, user-guide/data-engineering/row-timestamps; and the
# like) are not declared with a table's columns: any source may offer them.
METADATA_PREFIX = "METADATA$"

Catalog = dict[str, "dict[str, str] | None"]
"""Table name -> its columns (name -> Snowflake type), or None when they are not declared."""


@dataclass(frozen=True)
class Problem:
    """Something Snowflake would reject, with its SQL position."""

    message: str
    hint: str | None = None
    line: int | None = None
    column: int | None = None


def bind(tree: exp.Query, catalog: Catalog) -> tuple[exp.Query, list[Problem]]:
    """Qualify every column of ``tree`` (a parsed Snowflake query) against ``catalog``.

    Returns the qualified tree (a copy; identifiers normalised as Snowflake resolves them) and the
    problems found, in the order they appear in the SQL.
    """
    written = tree
    tree = _normalized(written)
    problems = _set_operation_widths(tree) + _self_named_ctes(tree)
    problems += _qualified_references(tree, catalog)
    if problems:
        return tree, _ordered(problems)
    try:
        qualified = qualify(
            tree,  # qualified in place: a query that does not qualify is normalized again below
            schema=names.schema(catalog),
            dialect=dialect(),
            validate_qualify_columns=False,
            allow_partial_qualification=True,  # alias.column is checked above; METADATA$… binds anywhere
            quote_identifiers=False,
            identify=False,
        )
    except OptimizeError as exc:
        tree = _normalized(written)
        if any(catalog.get(t.name, {}) is None for t in tree.find_all(exp.Table)):
            return tree, []  # it reads a table of unknown columns: Snowflake decides at CREATE
        return tree, [Problem(f"the query does not bind: {exc}", "check its column and table names")]
    problems = _unresolved(qualified, catalog)
    if not problems:
        problems = _ungrouped(qualified) + _duplicate_outputs(qualified)
    return qualified, _ordered(problems)


def _normalized(tree: exp.Query) -> exp.Query:
    """A copy of ``tree`` with identifiers normalised as Snowflake resolves them and VALUES columns named."""
    tree = normalize_identifiers(tree.copy(), dialect=dialect())
    _name_values_columns(tree)
    return tree


def _duplicate_outputs(qualified: exp.Query) -> list[Problem]:
    """A dynamic table is a table: two output columns of one name are rejected at CREATE."""
    problems, seen = [], set()
    for projection in qualified.selects:
        name = projection.alias_or_name
        if name in seen:
            problems.append(
                Problem(
                    f"duplicate column name {name} in the output",
                    "give one of them another name with AS",
                    *_start(projection),
                )
            )
        seen.add(name)
    return problems


def _name_values_columns(tree: exp.Query) -> None:
    """Name the columns of each aliased VALUES clause without a column list as Snowflake does:
    COLUMN1, COLUMN2, … (sql-reference/constructs/values)."""
    for values in tree.find_all(exp.Values):
        alias = values.args.get("alias")
        rows = values.expressions
        if (isinstance(alias, exp.TableAlias) and alias.columns) or not rows:
            continue
        if not isinstance(alias, exp.TableAlias):
            alias = exp.TableAlias()
            values.set("alias", alias)
        width = len(rows[0].expressions) if isinstance(rows[0], exp.Tuple) else 1
        alias.set("columns", [exp.to_identifier(f"COLUMN{i}") for i in range(1, width + 1)])


def output_names(bound: exp.Query, tree: exp.Query, sql: str) -> list[str]:
    """The names of ``bound``'s output columns as Snowflake gives them.

    An expression selected without an alias is named by its text as written, upper-cased
    (``COUNT(*)``, ``SRC:DEALERSHIP``, ``$2``: the result headers of sql-reference/constructs/group-by,
    user-guide/querying-semistructured, sql-reference/constructs/values). ``tree`` is the query as
    parsed from ``sql``; the other columns keep the names binding gave them.
    """
    names = [s.alias_or_name for s in bound.selects]
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.left
    if not isinstance(select, exp.Select) or all(
        isinstance(s, (exp.Alias, exp.Column, exp.Star)) for s in select.selects
    ):
        return names  # every column is named already: no need to read the text
    texts = _select_item_texts(sql)
    stars = [i for i, s in enumerate(select.selects) if isinstance(s, exp.Star) or s.is_star]
    if texts is None or len(texts) != len(select.selects) or len(stars) > 1:
        return names
    for i, projection in enumerate(select.selects):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        at = i if not stars or i < stars[0] else len(names) - (len(select.selects) - i)
        names[at] = texts[i].upper()
    return names


_CLAUSE_ENDS = {"FROM", "WHERE", "GROUP_BY", "HAVING", "QUALIFY", "ORDER_BY", "LIMIT", "UNION", "EXCEPT", "INTERSECT"}


def _select_item_texts(sql: str) -> list[str] | None:
    """The text of each item of the first SELECT list outside brackets (the outermost query's, or its
    first branch's), or None when it cannot be told."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except Exception:  # noqa: BLE001 - the query parsed already; without tokens names stay as bound
        return None
    depth, start = 0, None
    for index, token in enumerate(tokens):
        kind = token.token_type.name
        if kind in ("L_PAREN", "L_BRACKET", "L_BRACE"):
            depth += 1
        elif kind in ("R_PAREN", "R_BRACKET", "R_BRACE"):
            depth -= 1
        elif kind == "SELECT" and depth == 0:
            start = index + 1
            break
    if start is None:
        return None
    while start < len(tokens) and tokens[start].token_type.name in ("DISTINCT", "ALL"):
        start += 1
    if start < len(tokens) and tokens[start].token_type.name == "TOP":
        start += 2
    items: list[list] = [[]]
    depth = 0
    for token in tokens[start:]:
        kind = token.token_type.name
        if depth == 0 and kind in _CLAUSE_ENDS:
            break
        if kind in ("L_PAREN", "L_BRACKET", "L_BRACE"):
            depth += 1
        elif kind in ("R_PAREN", "R_BRACKET", "R_BRACE"):
            depth -= 1
        if depth == 0 and kind == "COMMA":
            items.append([])
            continue
        items[-1].append(token)
    if any(not item for item in items):
        return None
    return [sql[item[0].start : item[-1].end + 1] for item in items]


def _ordered(problems: list[Problem]) -> list[Problem]:
    """One problem per position (a subquery's column is seen from the query around it too, the
    subquery's own scope first), in SQL order."""
    unique = {}
    for problem in problems:
        unique.setdefault((problem.line, problem.column, problem.message), problem)
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.column or 0))


def _start(node: exp.Expression) -> tuple[int | None, int | None]:
    """Where the text of ``node`` starts: the earliest position recorded beneath it."""
    found = [
        (sub.meta["line"], start_column(sub.meta)) for sub in node.walk() if sub._meta and "line" in sub.meta
    ]
    return min(found) if found else (None, None)


def _position(node: exp.Expression | None) -> tuple[int | None, int | None]:
    if node is None:
        return None, None
    for sub in node.walk():
        meta = sub.meta if sub._meta else {}
        if "line" in meta:
            return meta["line"], start_column(meta)
    return None, None


# -- sources ---------------------------------------------------------------------------------------


def _source_columns(source: object, catalog: Catalog) -> list[str] | None:
    """The column names a FROM source offers, or None when they cannot be known."""
    if isinstance(source, exp.Pivot):
        return _unpivot_columns(source, catalog)
    if isinstance(source, exp.Table):
        if _is_flatten(source):
            return _alias_columns(source) or list(FLATTEN_COLUMNS)
        if not isinstance(source.this, exp.Identifier):
            return None  # a table function
        return _table_columns(source, catalog)
    if isinstance(source, exp.Lateral):
        return _alias_columns(source) or (list(FLATTEN_COLUMNS) if _is_flatten(source) else None)
    if isinstance(source, Scope):
        expression = source.expression
        if isinstance(expression, (exp.Lateral, exp.Table)) and _is_flatten(expression):
            return _alias_columns(expression) or list(FLATTEN_COLUMNS)
        if isinstance(expression, exp.Values):
            return _alias_columns(expression) or None
        if isinstance(expression, exp.Query) and not _has_star(expression):
            names = [s.alias_or_name for s in expression.selects]
            aliases = _alias_columns(expression.parent)
            return aliases or names
        return None
    return None


def _unpivot_columns(pivot: exp.Pivot, catalog: Catalog) -> list[str] | None:
    """What an aliased UNPIVOT of a table offers: the table's columns but the unpivoted ones, then
    the name and value columns (sql-reference/constructs/unpivot). None for a PIVOT, whose columns
    come from the values it pivots on."""
    table = pivot.parent
    if not pivot.unpivot or not isinstance(table, exp.Table) or len(pivot.fields) != 1:
        return None
    columns = _table_columns(table, catalog)
    field = pivot.fields[0]
    if columns is None or not isinstance(field, exp.In):
        return None
    unpivoted = {c.name for c in field.expressions}
    values = [e.name for e in pivot.expressions]
    return [c for c in columns if c not in unpivoted] + [field.this.name, *values]


def _table_columns(table: exp.Table, catalog: Catalog) -> list[str] | None:
    aliases = _alias_columns(table)
    if aliases:
        return aliases
    if _is_flatten(table):
        return list(FLATTEN_COLUMNS)
    columns = catalog.get(table.name)
    return list(columns) if columns is not None else None


def _alias_columns(node: exp.Expression | None) -> list[str]:
    alias = node.args.get("alias") if isinstance(node, exp.Expression) else None
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return [c.name for c in alias.columns]
    return []


def _is_flatten(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Lateral, exp.Table)) and isinstance(node.this, exp.Explode)


def _has_star(query: exp.Query) -> bool:
    return any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in query.selects)


def _scope_sources(scope: Scope) -> dict[str, object]:
    """Every name a column of ``scope`` may be qualified with: its own sources, laterals, and (for
    correlated subqueries) the sources of the queries around it."""
    names: dict[str, object] = {}
    current: Scope | None = scope
    while current is not None:
        for name, (_, source) in current.selected_sources.items():
            names.setdefault(name, source)
            pivots = source.args.get("pivots") if isinstance(source, exp.Table) else None
            for pivot in pivots or []:
                if pivot.alias:  # FROM t UNPIVOT (...) u: u names the pivot's result
                    names.setdefault(pivot.alias, pivot)
        for name, source in current.lateral_sources.items():
            names.setdefault(name, source)
        for lateral in _own_laterals(current.expression):
            alias = lateral.args.get("alias")
            if alias is not None and alias.name:
                names.setdefault(alias.name, lateral)
        current = current.parent
    return names


def _own_laterals(query: exp.Expression) -> list[exp.Lateral]:
    """The LATERALs in ``query``'s own FROM and joins (not those of the queries nested in it, which
    are their own scopes: walking the whole tree at every scope would cost the depth squared)."""
    if not isinstance(query, exp.Select):
        return []
    from_ = query.args.get("from")
    candidates = [from_.this] if from_ is not None else []
    candidates += [join.this for join in query.args.get("joins") or []]
    candidates += list(query.args.get("laterals") or [])
    return [c for c in candidates if isinstance(c, exp.Lateral)]


# -- checks ----------------------------------------------------------------------------------------


def _qualified_references(tree: exp.Query, catalog: Catalog) -> list[Problem]:
    """Columns written ``alias.column``: the alias must name a source, and the source must have it."""
    if all(column.args.get("table") is None for column in tree.find_all(exp.Column)):
        return []  # none is written so: no need to find each one's scope
    problems: list[Problem] = []
    for scope in traverse_scope(tree):
        sources = _scope_sources(scope)
        for column in scope.columns:
            qualifier = column.args.get("table")
            if qualifier is None or column.args.get("db") is not None or column.is_star:
                continue
            unchecked = not isinstance(column.this, exp.Identifier) or column.name.startswith(METADATA_PREFIX)
            alias = qualifier.name
            if alias not in sources:
                problems.append(
                    Problem(
                        f"unknown table alias {alias} in {alias}.{column.name}",
                        did_you_mean(alias, list(sources)) or f"the FROM clause names {_listing(sources)}",
                        *_position(qualifier),
                    )
                )
                continue
            offered = _source_columns(sources[alias], catalog)
            position = column.this.this if isinstance(column.this, exp.Parameter) else None
            beyond = isinstance(position, exp.Literal) and position.is_int and int(position.name) > len(offered or ())
            if offered is not None and beyond:
                problems.append(
                    Problem(
                        f"unknown column {alias}.${position.name}",
                        f"{alias} has {len(offered)} columns",
                        *_position(column.this),
                    )
                )
            if offered is not None and not unchecked and column.name not in offered:  # alias.$2, alias.METADATA$…
                problems.append(
                    Problem(
                        f"unknown column {alias}.{column.name}",
                        did_you_mean(column.name, offered) or f"{alias} has {_listing(offered)}",
                        *_position(column.this),
                    )
                )
    return problems


def _unresolved(qualified: exp.Query, catalog: Catalog) -> list[Problem]:
    """Unqualified columns that qualification could not attribute: unknown or ambiguous."""
    if all(column.table for column in qualified.find_all(exp.Column)):
        return []  # qualification attributed every one: no need to find each one's scope
    problems: list[Problem] = []
    for scope in traverse_scope(qualified):
        sources = _scope_sources(scope)
        offered = {name: _source_columns(source, catalog) for name, source in sources.items()}
        if any(columns is None for columns in offered.values()):
            continue  # a source of unknown columns may hold it
        select = scope.expression if isinstance(scope.expression, exp.Select) else None
        aliases = {s.alias for s in select.selects if s.alias} if select is not None else set()
        if isinstance(scope.expression, exp.SetOperation):
            aliases = set(scope.expression.named_selects)  # ORDER BY after UNION/INTERSECT names its columns
        for column in _unqualified(scope, select):
            name = column.name
            if column.is_star or name.startswith(METADATA_PREFIX):
                continue
            if name in aliases and column.find_ancestor(exp.Order, exp.Having, exp.Qualify):
                continue  # ORDER BY, HAVING and QUALIFY may name a select alias
            holders = [alias for alias, columns in offered.items() if name in columns]
            line, col = _position(column.this)
            if len(holders) > 1:
                problems.append(
                    Problem(
                        f"ambiguous column {name}: it is in {' and '.join([', '.join(holders[:-1]), holders[-1]])}",
                        f"qualify it, e.g. {holders[0]}.{name}",
                        line,
                        col,
                    )
                )
            elif not holders:
                everything = [c for columns in offered.values() for c in columns]
                problems.append(
                    Problem(
                        f"unknown column {name}",
                        did_you_mean(name, everything) or f"the query reads {_listing(everything)}",
                        line,
                        col,
                    )
                )
    return problems


def _unqualified(scope: Scope, select: exp.Select | None) -> list[exp.Column]:
    """The scope's unqualified columns, with those of HAVING, QUALIFY and ORDER BY (which sqlglot's
    scope leaves out, as they may name select aliases)."""
    columns = {id(c): c for c in scope.unqualified_columns}
    if select is not None:
        for clause in ("having", "qualify", "order"):
            node = select.args.get(clause)
            for column in node.find_all(exp.Column) if node is not None else ():
                if not column.table and column.find_ancestor(exp.Select) is select:
                    columns.setdefault(id(column), column)
    return list(columns.values())


def _self_named_ctes(tree: exp.Query) -> list[Problem]:
    """``WITH orders AS (SELECT … FROM orders)``: Snowflake lets a CTE recurse without the RECURSIVE
    keyword (sql-reference/constructs/with), so the inner name is the CTE itself, not the table."""
    problems = []
    for cte in tree.find_all(exp.CTE):
        name = cte.alias_or_name
        body = cte.this
        if isinstance(body, exp.Union) and not body.args.get("distinct") and not _names(body.left, name):
            continue  # an anchor UNION ALL a recursive clause: a recursive CTE as Snowflake runs it
        for table in _names(body, name):
            problems.append(
                Problem(
                    f"CTE {name} reads {name}, which is the CTE itself: Snowflake takes it as a recursive "
                    "reference without an anchor",
                    f"give the CTE another name than the table {name}",
                    *_position(table),
                )
            )
    return problems


def _names(node: exp.Expression, name: str) -> list[exp.Table]:
    """The unqualified references to table ``name`` under ``node``."""
    return [
        t for t in node.find_all(exp.Table) if t.name == name and not t.db and isinstance(t.this, exp.Identifier)
    ]


def _set_operation_widths(tree: exp.Query) -> list[Problem]:
    problems = []
    for node in tree.find_all(exp.SetOperation):
        left, right = node.left, node.right
        if not isinstance(left, exp.Query) or not isinstance(right, exp.Query):
            continue
        if _has_star(left) or _has_star(right):
            continue
        widths = len(left.selects), len(right.selects)
        if widths[0] != widths[1]:
            operator = {"union": "UNION", "except": "EXCEPT", "intersect": "INTERSECT"}[node.key]
            problems.append(
                Problem(
                    f"{operator} of queries with {widths[0]} and {widths[1]} columns",
                    "make both sides select the same number of columns",
                    *_start(right.selects[0]),
                )
            )
    return problems


def _listing(names, limit: int = 8) -> str:
    names = list(dict.fromkeys(names))
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- grouping --------------------------------------------------------------------------------------

# Snowflake's aggregate functions (sql-reference/functions-aggregation) that sqlglot may parse as
# plain function calls rather than as aggregates.
AGGREGATES = frozenset(
    """ANY_VALUE APPROX_COUNT_DISTINCT APPROX_PERCENTILE APPROX_PERCENTILE_ACCUMULATE APPROX_TOP_K
    APPROXIMATE_JACCARD_INDEX APPROXIMATE_SIMILARITY ARRAY_AGG ARRAY_UNION_AGG ARRAY_UNIQUE_AGG AVG
    BITAND_AGG BITOR_AGG BITXOR_AGG BOOLAND_AGG BOOLOR_AGG BOOLXOR_AGG CORR COUNT COUNT_IF COVAR_POP
    COVAR_SAMP GROUPING GROUPING_ID HASH_AGG HLL HLL_ACCUMULATE HLL_COMBINE KURTOSIS LISTAGG MAX MAX_BY
    MEDIAN MIN MIN_BY MINHASH MINHASH_COMBINE MODE OBJECT_AGG PERCENTILE_CONT PERCENTILE_DISC REGR_AVGX
    REGR_AVGY REGR_COUNT REGR_INTERCEPT REGR_R2 REGR_SLOPE REGR_SXX REGR_SXY REGR_SYY SKEW STDDEV
    STDDEV_POP STDDEV_SAMP SUM VAR_POP VAR_SAMP VARIANCE VARIANCE_POP VARIANCE_SAMP""".split()
)


def _ungrouped(qualified: exp.Query) -> list[Problem]:
    """A grouped query's select list and HAVING may name only grouping keys and aggregates:
    Snowflake rejects anything else ("is not a valid group by expression")."""
    problems = []
    for select in qualified.find_all(exp.Select):
        group = select.args.get("group")
        if group is not None and group.args.get("all"):
            continue
        if group is None and not any(_aggregates(p) for p in select.selects):
            continue
        keys = {node.sql() for node in (group.find_all(exp.Expression) if group is not None else ())}
        having = select.args.get("having")
        for expression in [*select.selects, *([having.this] if having is not None else [])]:
            column = _first_ungrouped(expression.unalias() if isinstance(expression, exp.Alias) else expression, keys)
            if column is not None:
                problems.append(
                    Problem(
                        f"{column.name} is neither grouped nor aggregated (Snowflake: not a valid group by expression)",
                        f"add it to GROUP BY, or aggregate it, e.g. ANY_VALUE({column.name})",
                        *_position(column.this),
                    )
                )
    return problems


def _is_aggregate(node: exp.Expression) -> bool:
    if isinstance(node, exp.AggFunc):
        return True
    return isinstance(node, exp.Anonymous) and node.name.upper() in AGGREGATES


def _aggregates(node: exp.Expression) -> bool:
    """Whether ``node`` holds an aggregate of its own query (not of a subquery, not a window)."""
    if _is_aggregate(node) and not isinstance(node.parent, exp.Window):
        return True
    if isinstance(node, (exp.Subquery, exp.Select, exp.Window)):
        return False
    return any(_aggregates(child) for child in node.iter_expressions())


def _first_ungrouped(node: exp.Expression, keys: set[str]) -> exp.Column | None:
    """The first column of ``node`` that is neither a grouping key, nor inside one, nor aggregated."""
    if node.sql() in keys or _is_aggregate(node):
        return None
    if isinstance(node, (exp.Window, exp.Subquery, exp.Select, exp.Lambda, exp.WithinGroup)):
        return None  # evaluated after grouping, or a query of its own
    if isinstance(node, exp.Column):
        return node
    for child in node.iter_expressions():
        found = _first_ungrouped(child, keys)
        if found is not None:
            return found
    return None
