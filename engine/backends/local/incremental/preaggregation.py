"""Pre-aggregation: the rows a grouped query aggregates, kept materialised.

A grouped query over a single base table keeps its pre-aggregation rows (``_PIPE."PRE_<NAME>"``:
the grouping keys and aggregate arguments already computed, e.g. parsed out of VARIANT values),
maintained from the base table's changes: recomputing a few groups then reads narrow typed
columns instead of re-parsing the whole base table.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from engine.backends.local.changes import SIGN
from engine.backends.local.incremental.keys import index, literals
from engine.backends.local.incremental.restriction import matching
from engine.backends.local.store import META, Store, quote
from engine.sql.partition import KeyMap, Partitioning


class PreAggregation:
    """The rows a grouped query aggregates, kept materialised with its expressions evaluated."""

    def __init__(self, store: Store, name: str, table: str, define: str, grouped: str, key_column: str, output: str):
        self.store = store
        self.name = name
        self.table = table  # the base table it reads
        self.define = define  # SELECT … FROM <table> … : the materialised rows from given rows
        self.grouped = grouped  # the query over the materialised rows
        self.key_column = key_column  # pre-aggregation column holding the output key
        self.output = output
        self.relation = f"{META}.{quote('PRE_' + name)}"

    @classmethod
    def build(cls, store: Store, name: str, query_sql: str, inputs: list[str], partitioning: Partitioning):
        """A pre-aggregation for ``query_sql`` (DuckDB SQL) if it is a grouped query over one base
        table with a key, else None."""
        if len(inputs) != 1 or inputs[0] not in partitioning.keys:
            return None
        try:
            tree = sqlglot.parse_one(query_sql, read="duckdb")
        except sqlglot.errors.ParseError:
            return None
        split = split_grouped(tree, partitioning.keys[inputs[0]])
        if split is None:
            return None
        define, grouped, key_column = split
        return cls(store, name, inputs[0], define, grouped, key_column, partitioning.keys[inputs[0]].output)

    def exists(self) -> bool:
        return self.store.table_exists(f"PRE_{self.name}", schema=META)

    def drop(self) -> None:
        self.store.con.execute(f"DROP TABLE IF EXISTS {self.relation}")

    def rebuild(self) -> None:
        source = self.store.qualified(self.table)
        self.store.con.execute(f"CREATE OR REPLACE TABLE {self.relation} AS {self.define.format(source=source)}")
        # A new table: the index of the one it replaces went with it.
        index(self.store.con, self.relation, f"PRE_{self.name}_KEY", self.key_column)

    def apply(self, changes_sql: str) -> None:
        """Apply a base-table change (rows with ``__SIGN``) to the materialised rows."""
        con = self.store.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_CHG AS {changes_sql}")
        # Net the change first: a row inserted and then updated or deleted before this refresh
        # is in it both ways, and was never in the materialised rows.
        inserted = f"SELECT * EXCLUDE ({SIGN}) FROM __PIPE_CHG WHERE {SIGN} > 0"
        deleted = f"SELECT * EXCLUDE ({SIGN}) FROM __PIPE_CHG WHERE {SIGN} < 0"
        plus = self.define.format(source=f"({inserted} EXCEPT ALL {deleted})")
        minus = self.define.format(source=f"({deleted} EXCEPT ALL {inserted})")
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_MINUS AS {minus}")
        if con.execute("SELECT count(*) FROM __PIPE_MINUS").fetchall()[0][0]:
            # Delete one stored row per deleted row: rows are values, so any equal copy will do.
            columns = [d[0] for d in con.execute(f"SELECT * FROM {self.relation} LIMIT 0").description]
            match = " AND ".join(f"p.{quote(c)} IS NOT DISTINCT FROM m.{quote(c)}" for c in columns)
            con.execute(
                f"""DELETE FROM {self.relation} WHERE rowid IN (
                    SELECT p.rowid FROM (SELECT *, rowid, row_number() OVER (PARTITION BY {', '.join(quote(c) for c in columns)}) AS __N
                                         FROM {self.relation}) AS p
                    JOIN (SELECT *, count(*) AS __C FROM __PIPE_MINUS GROUP BY ALL) AS m ON {match}
                    WHERE p.__N <= m.__C)"""
            )
        con.execute(f"INSERT INTO {self.relation} {plus}")

    def query_for(self, affected: dict[str, list]) -> str:
        """The grouped query, restricted to the groups whose output key is affected (the keys
        are in ``__PIPE_KEYS``)."""
        values = affected.get(self.output, [])
        listed = literals(self.store.con, self.relation, self.key_column, values)
        if listed is not None:
            predicate = f"{quote(self.key_column)} IN {listed}"
        else:
            predicate = f"{quote(self.key_column)} IN (SELECT K FROM __PIPE_KEYS)"
        if any(v is None for v in values):
            predicate += f" OR {quote(self.key_column)} IS NULL"
        return self.grouped.format(source=f"({matching(self.relation, predicate)})")


def split_grouped(tree: exp.Expression, key: KeyMap) -> tuple[str, str, str] | None:
    """Split ``SELECT … FROM t [WHERE] GROUP BY …`` into the materialised rows (group keys,
    aggregate arguments, the output key) and the aggregation over them."""
    if not isinstance(tree, exp.Select) or tree.args.get("with") or tree.args.get("joins"):
        return None
    group = tree.args.get("group")
    from_ = tree.args.get("from_") or tree.args.get("from")
    if group is None or from_ is None or not isinstance(from_.this, exp.Table):
        return None
    if any(tree.find_all(exp.Window)) or tree.args.get("having") is not None or tree.args.get("qualify"):
        return None
    output_item = next((e for e in tree.expressions if e.alias_or_name.upper() == key.output), None)
    if output_item is None:
        return None
    columns: dict[str, str] = {}  # SQL of an expression -> its pre-aggregation column

    def column_for(node: exp.Expression) -> exp.Expression:
        sql = node.sql(dialect="duckdb")
        if sql not in columns:
            columns[sql] = f"__P{len(columns)}"
        return exp.column(columns[sql], quoted=True)

    def replace_groups(node: exp.Expression) -> None:
        for child in list(node.iter_expressions()):
            if child.sql(dialect="duckdb") in group_sql and child.find(exp.Column):
                child.replace(column_for(child))
            else:
                replace_groups(child)

    def replace_arguments(node: exp.Expression) -> None:
        for child in list(node.iter_expressions()):
            if isinstance(child, (exp.Distinct, exp.Order, exp.Ordered, exp.Where)):
                replace_arguments(child)
            elif child.find(exp.Column) and not child.find(exp.AggFunc):
                child.replace(column_for(child))
            else:
                replace_arguments(child)

    key_expr = (output_item.this if isinstance(output_item, exp.Alias) else output_item).copy()
    grouped = tree.copy()
    group_sql = {g.sql(dialect="duckdb") for g in grouped.args["group"].expressions}
    grouped.args["group"].set("expressions", [column_for(g) for g in grouped.args["group"].expressions])
    for item in grouped.expressions:
        replace_groups(item)
    for item in grouped.expressions:
        for node in list(item.find_all(exp.Filter, exp.AggFunc)):
            if node.find_ancestor(exp.Filter, exp.AggFunc) is None:
                replace_arguments(node)
    if any(not c.name.startswith("__P") for c in grouped.find_all(exp.Column)):
        return None  # a column outside grouping keys and aggregate arguments
    where = tree.args.get("where")
    select_list = [f"{sql} AS {quote(col)}" for sql, col in columns.items()]
    key_col = "__PK"
    select_list.append(f"{key_expr.sql(dialect='duckdb')} AS {quote(key_col)}")
    table = from_.this
    alias = quote(table.alias) if table.alias else quote(table.name)
    define = f"SELECT {', '.join(select_list)} FROM {{source}} AS {alias}"
    if where is not None:
        define += f" WHERE {where.this.sql(dialect='duckdb')}"
    grouped.set("where", None)
    grouped.set("from_", exp.From(this=exp.Table(this=exp.to_identifier("__PIPE_SRC"))))
    grouped_sql = grouped.sql(dialect="duckdb").replace("__PIPE_SRC", "{source} AS __PRE")
    if "{" in define.replace("{source}", "") or "{" in grouped_sql.replace("{source}", ""):
        return None  # braces in the SQL would confuse str.format
    return define, grouped_sql, key_col
