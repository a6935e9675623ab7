"""Input restriction: a query evaluated over only the input rows whose key is affected.

Each input keyed on an output column is replaced in the query by its rows whose key is one of
the affected values (``__PIPE_KEYS``): the output rows with those keys come out the same, and
DuckDB reads only a few rows of each input.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def restrict_inputs(query: str, filters: dict[str, str]) -> str | None:
    """``query`` (DuckDB SQL) with each table of ``filters`` replaced by its filtered rows."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    ctes = {c.alias_or_name.upper() for c in tree.find_all(exp.CTE)}
    replaced = 0
    for table in list(tree.find_all(exp.Table)):
        name = table.name.upper()
        if name in filters and name not in ctes and isinstance(table.this, exp.Identifier):
            alias = table.alias or table.name
            subquery = exp.Subquery(
                this=sqlglot.parse_one(filters[name], read="duckdb"),
                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
            )
            table.replace(subquery)
            replaced += 1
    return tree.sql(dialect="duckdb") if replaced else None


def has_rowid(columns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``rowid`` names the row, not one of ``columns``."""
    return all(c.upper() != "ROWID" for c in columns)


def matching(relation: str, condition: str, columns: list[str] | tuple[str, ...] = ()) -> str:
    """``SELECT * FROM relation WHERE condition``, reading the other columns only for the matching rows.

    A semi-join reads every column of every row before probing; matching the rowids first reads
    only the condition's columns, and the rows are then fetched by rowid (zone maps skip the row
    groups without any). ``columns`` are the relation's, in case one is named ROWID.
    """
    if not has_rowid(columns):
        return f"SELECT * FROM {relation} WHERE {condition}"
    return f"SELECT * FROM {relation} WHERE rowid IN (SELECT rowid FROM {relation} WHERE {condition})"


def in_keys(key: str) -> str:
    """Whether ``key`` is one of the keys in ``__PIPE_KEYS``, NULL included."""
    null_affected = "EXISTS (SELECT 1 FROM __PIPE_KEYS WHERE K IS NULL)"
    return f"({key}) IN (SELECT K FROM __PIPE_KEYS) OR ({key}) IS NULL AND {null_affected}"
