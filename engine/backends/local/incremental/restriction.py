"""Input restriction: a query evaluated over only the input rows whose key is affected.

Each input keyed on an output column is replaced in the query by its rows whose key is one of
the affected values (``__PIPE_KEYS``, see :func:`.keys.keyed_rows`): the output rows with those
keys come out the same, and DuckDB reads only a few rows of each input.
"""

from __future__ import annotations

from sqlglot import exp

from engine import names


def restrict_inputs(query: exp.Expression, filters: dict[str, exp.Expression]) -> exp.Expression | None:
    """``query`` (a DuckDB tree, not changed) with each table of ``filters`` replaced by its
    filtered rows; None when it reads none of them."""
    tree = query.copy()
    ctes = {names.of(c.args["alias"].this) for c in tree.find_all(exp.CTE)}
    replaced = 0
    for table in list(tree.find_all(exp.Table)):
        name = names.of(table.this)
        if name in filters and name not in ctes and isinstance(table.this, exp.Identifier):
            alias = table.alias or table.name
            subquery = exp.Subquery(
                this=filters[name].copy(),
                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
            )
            table.replace(subquery)
            replaced += 1
    return tree if replaced else None


def has_rowid(columns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``rowid`` names the row, not one of ``columns``."""
    return all(c.upper() != "ROWID" for c in columns)


def matching(source: exp.Table, condition: exp.Expression, has_rowid: bool = True) -> exp.Select:
    """``SELECT * FROM source WHERE condition``, reading the other columns only for the matching rows.

    A semi-join reads every column of every row before probing; matching the rowids first reads
    only the condition's columns, and the rows are then fetched by rowid (zone maps skip the row
    groups without any). ``has_rowid``: no column of ``source`` is named ROWID.
    """
    if not has_rowid:
        return exp.select(exp.Star()).from_(source.copy()).where(condition)
    rowids = exp.select(exp.column("rowid")).from_(source.copy()).where(condition)
    return exp.select(exp.Star()).from_(source.copy()).where(exp.column("rowid").isin(query=rowids))
