"""``STRTOK_SPLIT_TO_TABLE`` -> a DuckDB (lateral) subquery unnesting the tokens.

Snowflake's STRTOK_SPLIT_TO_TABLE(string [, delimiters]) is a table function with one row per
token and the columns SEQ, INDEX, VALUE (sql-reference/functions/strtok_split_to_table):
``delimiters`` is a set of characters (default a blank), empty tokens are dropped, so an empty
or NULL string gives no rows, even on the outer side of a LEFT JOIN (the page's example joins
three rows and returns only the tokens of the one non-empty string). INDEX counts the tokens
from 1; SEQ numbers the input rows: locally the row's position in its table (DuckDB's rowid,
plus 1), so it is unique per input row as Snowflake's is, and 1 for a constant string.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck, mark_native

_ROWS = ('SELECT __SEQ AS "SEQ", generate_subscripts("pipe_tokens", 1) AS "INDEX", unnest("pipe_tokens") AS "VALUE"'
         ' FROM (SELECT __LIST AS "pipe_tokens") AS "pipe_strtok"')
_DEFAULT_ALIAS = "STRTOK_SPLIT_TO_TABLE"


def rewrite(tree: exp.Expression) -> None:
    """Replace every STRTOK_SPLIT_TO_TABLE table function of ``tree`` by a subquery (in place)."""
    for node in list(tree.find_all(exp.Lateral, exp.TableFromRows)):
        if not isinstance(node.this, exp.StrtokSplitToTable):
            continue
        call = node.this
        select = node.find_ancestor(exp.Select)
        tokens = exp.StrtokToArray(this=call.this.copy(),
                                   expression=(call.expression or exp.Literal.string(" ")).copy())
        mark_native(tokens)  # a LIST here, not the ARRAY (JSON) STRTOK_TO_ARRAY returns
        rows = duck(_ROWS, seq=_sequence(call, select), list=tokens)
        alias = node.args.get("alias")
        alias = alias.copy() if alias is not None else exp.TableAlias(this=exp.to_identifier(_DEFAULT_ALIAS))
        join = node.parent if isinstance(node.parent, exp.Join) else None
        if join is not None and join.side == "LEFT":
            join.set("side", None)  # a string without tokens drops its row (see the module docstring)
        if isinstance(node, exp.Lateral):
            node.replace(exp.Lateral(this=exp.Subquery(this=rows), alias=alias))
        else:
            node.replace(exp.Subquery(this=rows, alias=alias))


def _sequence(call: exp.Expression, select: exp.Select | None) -> exp.Expression:
    """SEQ: the input row's position in the table its columns come from, 1 for a constant."""
    columns = list(call.find_all(exp.Column))
    if not columns:
        return exp.Literal.number(1)
    qualifiers = {c.table for c in columns}
    tables = _tables(select)
    if len(qualifiers) == 1 and "" in qualifiers and len(tables) == 1:
        qualifiers = set(tables)
    name = next(iter(qualifiers)) if len(qualifiers) == 1 else None
    if name is None or name not in tables or not isinstance(tables[name], exp.Table):
        raise Untranslatable("STRTOK_SPLIT_TO_TABLE of columns of several tables, or of a subquery", call,
                             keyword="STRTOK_SPLIT_TO_TABLE",
                             hint="split a column of one table, or use LATERAL FLATTEN(STRTOK_TO_ARRAY(...))")
    source = tables[name]
    qualifier = source.args["alias"].this if source.args.get("alias") is not None else source.this
    rowid = exp.Column(this=exp.to_identifier("rowid", quoted=True), table=qualifier.copy())
    return exp.Add(this=rowid, expression=exp.Literal.number(1))


def _tables(select: exp.Select | None) -> dict[str, exp.Expression]:
    """The sources of ``select``'s FROM and joins by the name they are referenced with.

    A name given to a WITH query is not a stored table (it has no rowid), so it is not an
    ``exp.Table`` source here.
    """
    if select is None:
        return {}
    root = select.root()
    ctes = {cte.alias_or_name.upper() for cte in root.find_all(exp.CTE)}
    from_ = select.args.get("from_") or select.args.get("from")
    sources = {}
    for source in [from_.this if from_ is not None else None] + [j.this for j in select.args.get("joins") or []]:
        if source is None or isinstance(source, (exp.Lateral, exp.TableFromRows)):
            continue
        if isinstance(source, exp.Table) and source.name.upper() in ctes:
            sources[source.alias_or_name] = exp.Subquery(this=source.copy())
        else:
            sources[source.alias_or_name] = source
    return sources
