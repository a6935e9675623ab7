"""Pre-aggregation: the rows a grouped query aggregates, kept materialised.

A grouped query over a single base table keeps its pre-aggregation rows (``_PIPE."PRE_<NAME>"``:
the grouping keys and aggregate arguments already computed, e.g. parsed out of VARIANT values),
maintained from the base table's changes: recomputing a few groups then reads narrow typed
columns instead of re-parsing the whole base table.
"""

from __future__ import annotations

from sqlglot import exp

from engine import names

from engine.backends.local.incremental.keys import KEYS, ensure_indexes, literals
from engine.backends.local.incremental.restriction import matching
from engine.backends.local.incremental.trees import Statements, column, columns, fill, run, sql, table_slot, temp
from engine.backends.local.store import Store
from engine.sql.partition import KeyMap, Partitioning

KEY = "__PK"  # the pre-aggregation column holding the output key
_NET_INSERTED = """SELECT * EXCLUDE (__SIGN) FROM __X_changes WHERE __SIGN > 0
                   EXCEPT ALL SELECT * EXCLUDE (__SIGN) FROM __X_changes WHERE __SIGN < 0"""
_NET_DELETED = """SELECT * EXCLUDE (__SIGN) FROM __X_changes WHERE __SIGN < 0
                  EXCEPT ALL SELECT * EXCLUDE (__SIGN) FROM __X_changes WHERE __SIGN > 0"""


class PreAggregation:
    """The rows a grouped query aggregates, kept materialised with its expressions evaluated."""

    def __init__(self, store: Store, name: str, table: str, define: exp.Select, grouped: exp.Select, output: str):
        self.store = store
        self.name = name
        self.table = table  # the base table it reads
        self.define = define  # SELECT … FROM __X_source … : the materialised rows from given rows
        self.grouped = grouped  # the query over the materialised rows, FROM __X_source
        self.output = output
        self.relation = store.kept_table(f"PRE_{name}")
        self._sql = Statements()
        # The key's type and whether its index was made, as this process last saw them (the
        # rows are made anew, without the index, only by rebuild)
        self._key_type: str | None = None
        self._indexed = False

    @classmethod
    def build(cls, store: Store, name: str, query: exp.Expression, inputs: list[str], partitioning: Partitioning):
        """A pre-aggregation for ``query`` (a DuckDB tree) if it is a grouped query over one base
        table with a key, else None."""
        if len(inputs) != 1 or inputs[0] not in partitioning.keys:
            return None
        split = split_grouped(query, partitioning.keys[inputs[0]])
        if split is None:
            return None
        define, grouped = split
        return cls(store, name, inputs[0], define, grouped, partitioning.keys[inputs[0]].output)

    def exists(self) -> bool:
        return self.store.kept_exists(self.relation.name)

    def drop(self) -> None:
        self.store.drop_kept([self.relation.name])
        self._key_type, self._indexed = None, False

    def forget_index(self) -> None:
        """Its index was dropped: the next lookup that wants it builds it again."""
        self._indexed = False

    def rebuild(self) -> None:
        self._key_type, self._indexed = None, False
        rows = fill(self.define, source=self.store.table(self.table))
        # A new table, without the index of the one it replaces: the next lookup creates it.
        run(self.store.con, "CREATE OR REPLACE TABLE __X_relation AS SELECT * FROM __X_rows", relation=self.relation, rows=rows)

    def apply(self, changes: exp.Table) -> None:
        """Apply a base-table change (the rows of table ``changes``, with ``__SIGN``) to the
        materialised rows."""
        con = self.store.con
        if not con.execute(f"SELECT count(*) FROM {sql(changes)} WHERE __SIGN < 0").fetchone()[0]:
            # Only inserts (as a stream of new rows brings): nothing to net or to delete.
            self._sql.run(con, ("inserted", changes.name), lambda: fill(
                "INSERT INTO __X_relation SELECT * FROM __X_rows",
                relation=self.relation, rows=fill(self.define, source=fill("SELECT * EXCLUDE (__SIGN) FROM __X_changes", changes=changes)),
            ))
            return
        # Net the change first: a row inserted and then updated or deleted before this refresh
        # is in it both ways, and was never in the materialised rows.
        self._sql.run(con, ("minus", changes.name), lambda: fill(
            "CREATE OR REPLACE TEMP TABLE __PIPE_MINUS AS SELECT * FROM __X_rows",
            rows=fill(self.define, source=fill(_NET_DELETED, changes=changes)),
        ))
        if con.execute("SELECT count(*) FROM __PIPE_MINUS").fetchall()[0][0]:
            # Delete one stored row per deleted row: rows are values, so any equal copy will do.
            names = self.store.columns_of(self.relation)
            self._sql.run(con, ("delete", tuple(names)), lambda: fill(
                """DELETE FROM __X_relation WHERE rowid IN (
                    SELECT p.rowid FROM (SELECT *, rowid, row_number() OVER (PARTITION BY __X_columns) AS __N
                                         FROM __X_relation) AS p
                    JOIN (SELECT *, count(*) AS __C FROM __PIPE_MINUS GROUP BY ALL) AS m ON __X_match
                    WHERE p.__N <= m.__C)""",
                relation=self.relation, columns=columns(names),
                match=exp.and_(*[exp.NullSafeEQ(this=column(c, "p"), expression=column(c, "m")) for c in names]),
            ))
        self._sql.run(con, ("plus", changes.name), lambda: fill(
            "INSERT INTO __X_relation SELECT * FROM __X_rows",
            relation=self.relation, rows=fill(self.define, source=fill(_NET_INSERTED, changes=changes)),
        ))

    def full_query(self) -> str:
        """The grouped query over all the kept rows: the table's whole contents."""
        return sql(fill(self.grouped, source=self.relation))

    def write_rows(self, affected: dict[str, list], into: exp.Table) -> None:
        """Write the grouped query's rows of the groups whose output key is affected (the keys
        are in ``__PIPE_KEYS``) to the temporary table ``into``."""
        values = affected.get(self.output, [])
        if self._key_type is None:
            self._key_type = self.store.type_of(self.relation, KEY)
        listed = literals(self.store, self.relation, KEY, values, self._key_type)
        if listed is not None and not self._indexed:  # answered from an index on the key
            ensure_indexes(self.store, [(self.relation, f"PRE_{self.name}_KEY", KEY)])
            self._indexed = True
        with_null = any(v is None for v in values)
        def build():
            return fill("CREATE OR REPLACE TEMP TABLE __X_into AS SELECT * FROM __X_rows",
                        into=into, rows=self._grouped_for(listed, with_null))

        if listed is None:  # the same statement at every refresh
            self._sql.run(self.store.con, ("keys", into.name, with_null), build)
        else:
            self.store.con.execute(sql(build()))

    def _grouped_for(self, listed: list[exp.Literal] | None, with_null: bool) -> exp.Expression:
        if listed is not None:
            predicate = column(KEY).isin(*listed)
        else:
            predicate = column(KEY).isin(query=exp.select(exp.column("K")).from_(temp(KEYS)))
        if with_null:
            predicate = exp.or_(predicate, column(KEY).is_(exp.null()))
        return fill(self.grouped, source=matching(self.relation, predicate))


def split_grouped(tree: exp.Expression, key: KeyMap) -> tuple[exp.Select, exp.Select] | None:
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
    output_item = next(
        (e for e in tree.expressions if names.of(e.args["alias"] if isinstance(e, exp.Alias) else e) == key.output), None
    )
    if output_item is None:
        return None
    materialised: dict[str, tuple[exp.Expression, str]] = {}  # SQL of an expression -> it and its column

    def column_for(node: exp.Expression) -> exp.Expression:
        text = node.sql(dialect="duckdb")
        if text not in materialised:
            materialised[text] = (node.copy(), f"__P{len(materialised)}")
        return exp.column(materialised[text][1], quoted=True)

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
    select_list = [exp.alias_(node.copy(), name, quoted=True) for node, name in materialised.values()]
    select_list.append(exp.alias_(key_expr, KEY, quoted=True))
    table = from_.this
    define = exp.select(*select_list).from_(table_slot("source", table.alias or table.name))
    if where is not None:
        define = define.where(where.this.copy())
    grouped.set("where", None)
    grouped.set("from_", exp.From(this=table_slot("source", "__PRE")))
    return define, grouped
