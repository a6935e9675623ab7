"""Incremental refresh: recompute only the rows a change can touch.

For each changed input, :mod:`engine.sql.partition` gives the output column whose values
identify the rows that depend on the changed input rows. The refresh evaluates the query
restricted to those key values (DuckDB pushes the restriction down to the scans), compares
with the table's current rows for the same keys, and writes only the difference; the
difference is also the table's own change log entry, for the tables that read it.

A grouped query over a single base table also keeps its pre-aggregation rows materialised
(``_PIPE."PRE_<NAME>"``: the grouping keys and aggregate arguments already computed, e.g.
parsed out of VARIANT values), maintained from the base table's changes: recomputing a few
groups then reads narrow typed columns instead of re-parsing the whole base table. Grouped
queries with large groups keep aggregate state instead (:mod:`aggstate`), which never re-reads
a group's rows; which one a table keeps is chosen at each full refresh (``SMALL_GROUPS``).

Every refresh falls back to FULL, with the reason, when a change cannot be traced this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from engine import names
from engine.backends.local import aggstate
from engine.backends.local.aggstate import AggregateState
from engine.backends.local.changes import SIGN, ChangeLog
from engine.backends.local.store import META, Store, column_type, quote
from engine.sql.partition import KeyMap, Partitioning, analyze

# Above this many affected keys, recomputing everything is as cheap and simpler.
MAX_KEYS = 50_000

# A grouped query that both pre-aggregation rows and aggregate state can maintain keeps the
# pre-aggregation rows when its groups hold fewer input rows than this on average (measured at
# each full refresh): recomputing a few small groups then costs less than moving the state, whose
# value tables would hold about a row per input row, in memory and rebuild time.
SMALL_GROUPS = 16

# Up to this many text or integer keys are looked up as a literal IN list, which DuckDB answers
# from an index on the key column instead of scanning the whole column.
MAX_LITERAL_KEYS = 2_000
_LOOKUP_TYPES = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}


@dataclass
class Outcome:
    """The result of computing one refresh, before it is recorded."""

    action: str
    inserted: int = 0
    deleted: int = 0
    message: str | None = None


@dataclass
class _Plan:
    """How one dynamic table is maintained incrementally."""

    partitioning: Partitioning
    pre: "PreAggregation | None" = None  # the query can be kept as pre-aggregation rows …
    state: "AggregateState | None" = None  # … or as aggregate state: one is kept, see Incremental.kept
    key_sql: dict[str, str] = field(default_factory=dict)  # input -> DuckDB SQL of its key values
    filter_sql: dict[str, str] = field(default_factory=dict)  # input -> its rows whose key is in __PIPE_KEYS
    restricted: dict[str, str | None] = field(default_factory=dict)  # output column -> query reading only those rows


class Incremental:
    """Computes incremental refreshes for the dynamic tables of one pipeline."""

    def __init__(self, store: Store, log: ChangeLog, graph, queries: dict[str, str], database: str, schema: str):
        self.store = store
        self.log = log
        self.graph = graph
        self.queries = queries
        self.database = database
        self.schema = schema
        self._plans: dict[str, _Plan] = {}

    def plan(self, name: str) -> _Plan:
        if name not in self._plans:
            self._plans[name] = self._build_plan(name)
        return self._plans[name]

    def _build_plan(self, name: str) -> _Plan:
        from engine.sql.translate import to_duckdb

        dt = self.graph.pipeline.dynamic_tables[name]
        inputs = self.graph.upstream(name)
        schema = {i: self.store.columns(i) for i in inputs}
        compiled = self.graph.queries.get(name)
        partitioning = compiled.partitioning if compiled is not None else None
        if partitioning is None:  # an input of undeclared columns: read them from the database
            partitioning = analyze(dt.sql, schema)
        plan = _Plan(partitioning)
        for table, key in partitioning.keys.items():
            # Typed as the query itself is translated, so that a key computes the same value on the
            # change as on the table (e.g. a FLOAT turned into text).
            types = self.graph.types()
            columns = {**types.get(table, {}), "ROWID": "NUMBER"}  # the filter reads DuckDB's rowid too
            key_type = types.get(name, {}).get(key.output, "VARIANT")
            catalog = {**types, table: columns, "__PIPE_DELTA": columns, "__PIPE_KEYS": {"K": key_type}}
            plan.key_sql[table] = to_duckdb(
                f"SELECT DISTINCT {key.expression} AS K FROM __PIPE_DELTA",
                database=self.database, schema=self.schema, catalog=catalog,
            )
            plan.filter_sql[table] = to_duckdb(
                _matching(names.sql(table), _in_keys(key.expression), schema[table]),
                database=self.database, schema=self.schema, catalog=catalog,
            )
        plan.state = aggstate.build(self.store, name, self.queries[name], inputs, partitioning)
        plan.pre = PreAggregation.build(self.store, name, self.queries[name], inputs, partitioning)
        return plan

    def kept(self, name: str) -> "PreAggregation | AggregateState | None":
        """What ``name`` keeps materialised now: its pre-aggregation rows when they exist, else its
        aggregate state (missing state is found stale, and a full refresh chooses again)."""
        plan = self.plan(name)
        if plan.pre is not None and (plan.state is None or plan.pre.exists()):
            return plan.pre
        return plan.state

    # -- refresh ---------------------------------------------------------------------------------

    def refresh(self, name: str, seen: dict[str, int], current: dict[str, int]) -> Outcome:
        """Refresh ``name`` from the changes between ``seen`` and ``current`` input versions.

        Returns an INCREMENTAL outcome, or FULL with the reason when the change cannot be traced.
        """
        plan = self.plan(name)
        changed = [i for i in current if current[i] != seen.get(i)]
        for table in changed:
            if seen.get(table) is None or self.log.logged_since(table) > seen[table]:
                return self._full(name, f"{table} was recreated or written outside pipe")
            if table not in plan.partitioning.keys:
                return self._full(name, plan.partitioning.reasons.get(table, f"no key for {table}"))
        affected: dict[str, list] = {}
        for table in changed:
            output = plan.partitioning.keys[table].output
            values = self._key_values(plan, table, seen[table], current[table])
            affected.setdefault(output, []).extend(values)
        kept = self.kept(name)
        if isinstance(kept, PreAggregation):
            if plan.state is None and not kept.exists():  # with state too, kept() found the rows
                return self._full(name, f"its pre-aggregation rows are rebuilt ({kept.relation} is missing)")
            for table in changed:
                kept.apply(self.log.changes(table, seen[table], current[table]))
        elif kept is not None:
            try:
                kept.apply({t: self.log.changes(t, seen[t], current[t]) for t in changed})
            except aggstate.Stale as exc:
                return self._full(name, f"its aggregate state is rebuilt ({exc})")
        total = sum(len(set(v)) for v in affected.values())
        if total > MAX_KEYS:
            return self._full(name, f"the change touches {total:,} keys: a full recompute is cheaper")
        if total == 0:
            return Outcome("INCREMENTAL")
        return self._apply(name, plan, affected, kept)

    def _key_values(self, plan: _Plan, table: str, after: int, upto: int) -> list:
        con = self.store.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_DELTA AS {self.log.changes(table, after, upto)}")
        return [row[0] for row in con.execute(plan.key_sql[table]).fetchall()]

    def _restricted(self, name: str, plan: _Plan, output: str) -> str | None:
        """The query with every input keyed on ``output`` reading only its rows whose key is
        in ``__PIPE_KEYS``: the rows with those keys come out the same, and cheaply."""
        if output not in plan.restricted:
            inputs = {t for t, k in plan.partitioning.keys.items() if k.output == output}
            plan.restricted[output] = _restrict_inputs(self.queries[name], {t: plan.filter_sql[t] for t in inputs})
        return plan.restricted[output]

    def _apply(self, name: str, plan: _Plan, affected: dict[str, list], kept) -> Outcome:
        con = self.store.con
        target = self.store.qualified(name)
        predicate = _key_predicate(con, target, affected)
        restricted = self._restricted(name, plan, next(iter(affected))) if len(affected) == 1 else None
        if kept is not None:
            new_rows = kept.query_for(affected)
        elif restricted is not None:
            new_rows = f"SELECT * FROM ({restricted}) AS __Q WHERE {predicate}"
        else:
            new_rows = f"SELECT * FROM ({self.queries[name]}) AS __Q WHERE {predicate}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_NEW AS {new_rows}")
        names = self.store.columns(name)
        if _has_rowid(names):
            con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_ROWS AS SELECT rowid AS R FROM {target} WHERE {predicate}")
            predicate = "rowid IN (SELECT R FROM __PIPE_ROWS)"
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_OLD AS SELECT * FROM {target} WHERE {predicate}")
        columns = ", ".join(quote(c) for c in names)
        con.execute(f"DELETE FROM {target} WHERE {predicate}")
        con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM __PIPE_NEW")
        return self.record_difference(name, "__PIPE_OLD", "__PIPE_NEW", "INCREMENTAL")

    def record_difference(self, name: str, old: str, new: str, action: str) -> Outcome:
        """Log the rows that differ between ``old`` and ``new`` as ``name``'s change."""
        columns = ", ".join(quote(c) for c in self.store.columns(name))
        con = self.store.con
        # One aggregation counts each distinct row's copies, new minus old (NULLs compare equal,
        # as in EXCEPT ALL, but one hash table instead of two); each difference is then repeated.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __PIPE_DIFF AS
                SELECT {columns}, CAST(sum(__PIPE_SIGN) AS BIGINT) AS __PIPE_COPIES FROM (
                    SELECT {columns}, 1 AS __PIPE_SIGN FROM {new}
                    UNION ALL SELECT {columns}, -1 AS __PIPE_SIGN FROM {old}
                ) AS __D GROUP BY ALL HAVING sum(__PIPE_SIGN) <> 0"""
        )
        for table, copies in (("__PIPE_INS", "__PIPE_COPIES"), ("__PIPE_DEL", "-__PIPE_COPIES")):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} FROM __PIPE_DIFF, "
                f"range({copies}) AS __PIPE_COPY(__PIPE_I) WHERE {copies} > 0"
            )
        n_ins = con.execute("SELECT count(*) FROM __PIPE_INS").fetchall()[0][0]
        n_del = con.execute("SELECT count(*) FROM __PIPE_DEL").fetchall()[0][0]
        if n_ins or n_del:
            self.log.record(name, "SELECT * FROM __PIPE_INS", "SELECT * FROM __PIPE_DEL")
        return Outcome(action, n_ins, n_del)

    def _full(self, name: str, reason: str) -> Outcome:
        return Outcome("FULL", message=f"incremental refresh not possible: {reason}")

    def rebuild(self, name: str) -> None:
        """After a full recompute: rebuild what the table keeps materialised, choosing between
        pre-aggregation rows and aggregate state by its groups' size when both can serve."""
        plan = self.plan(name)
        pre, state = plan.pre, plan.state
        if pre is not None and state is not None:
            inputs, groups = self.store.row_count(pre.table) or 0, self.store.row_count(name) or 0
            if inputs < SMALL_GROUPS * max(groups, 1):
                aggstate.drop(self.store, name)
                state = None
            else:
                pre.drop()
                pre = None
        if pre is not None:
            pre.rebuild()
        if state is not None:
            state.rebuild(self.store.qualified)


def _restrict_inputs(query: str, filters: dict[str, str]) -> str | None:
    """``query`` (DuckDB SQL) with each table of ``filters`` replaced by its filtered rows."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    ctes = {names.of(c.args["alias"].this) for c in tree.find_all(exp.CTE)}
    replaced = 0
    for table in list(tree.find_all(exp.Table)):
        name = names.of(table.this)
        if name in filters and name not in ctes and isinstance(table.this, exp.Identifier):
            alias = table.alias or table.name
            subquery = exp.Subquery(
                this=sqlglot.parse_one(filters[name], read="duckdb"),
                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)),
            )
            table.replace(subquery)
            replaced += 1
    return tree.sql(dialect="duckdb") if replaced else None


def _has_rowid(columns: list[str] | tuple[str, ...]) -> bool:
    """Whether ``rowid`` names the row, not one of ``columns``."""
    return all(c.upper() != "ROWID" for c in columns)


def _matching(relation: str, condition: str, columns: list[str] | tuple[str, ...] = ()) -> str:
    """``SELECT * FROM relation WHERE condition``, reading the other columns only for the matching rows.

    A semi-join reads every column of every row before probing; matching the rowids first reads
    only the condition's columns, and the rows are then fetched by rowid (zone maps skip the row
    groups without any). ``columns`` are the relation's, in case one is named ROWID.
    """
    if not _has_rowid(columns):
        return f"SELECT * FROM {relation} WHERE {condition}"
    return f"SELECT * FROM {relation} WHERE rowid IN (SELECT rowid FROM {relation} WHERE {condition})"


def _in_keys(key: str) -> str:
    """Whether ``key`` is one of the keys in ``__PIPE_KEYS``, NULL included."""
    null_affected = "EXISTS (SELECT 1 FROM __PIPE_KEYS WHERE K IS NULL)"
    return f"({key}) IN (SELECT K FROM __PIPE_KEYS) OR ({key}) IS NULL AND {null_affected}"


def _index(con, relation: str, index: str, column: str) -> None:
    """An index on ``relation.column`` when its type allows literal lookups (see ``_literals``)."""
    if column_type(con, relation, quote(column)) in _LOOKUP_TYPES:
        con.execute(f"CREATE INDEX {quote(index)} ON {relation} ({quote(column)})")


def _literals(con, relation: str, column: str, values: list) -> str | None:
    """``(v1, v2, …)``: the keys as SQL literals of ``relation.column``'s type, when it is text
    or an integer, none is NULL and they are few; else None."""
    distinct = set(values)
    if not distinct or len(distinct) > MAX_LITERAL_KEYS:
        return None
    kind = column_type(con, relation, quote(column))
    if kind == "VARCHAR" and all(isinstance(v, str) for v in distinct):
        items = ["'" + v.replace("'", "''") + "'" for v in distinct]
    elif kind in _LOOKUP_TYPES and all(isinstance(v, int) and not isinstance(v, bool) for v in distinct):
        items = [str(v) for v in distinct]
    else:
        return None
    return "(" + ", ".join(sorted(items)) + ")"


def _key_predicate(con, target: str, affected: dict[str, list]) -> str:
    """``O IN (SELECT K FROM __PIPE_KEYS…) OR …``: the affected keys (NULL included) go to
    temporary tables typed as ``target``'s columns, so DuckDB matches them with a hash join,
    however many there are."""
    terms = []
    for i, (column, values) in enumerate(affected.items()):
        table = "__PIPE_KEYS" if i == 0 else f"__PIPE_KEYS_{i}"
        distinct = list(dict.fromkeys(values))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {quote(column)} AS K FROM {target} LIMIT 0")
        con.execute(f"INSERT INTO {table} SELECT unnest(?)", [distinct])
        if any(v is not None for v in distinct):
            terms.append(f"{quote(column)} IN (SELECT K FROM {table})")
        if any(v is None for v in distinct):
            terms.append(f"{quote(column)} IS NULL")
    return " OR ".join(f"({t})" for t in terms) or "FALSE"


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
        split = _split_grouped(tree, partitioning.keys[inputs[0]])
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
        _index(self.store.con, self.relation, f"PRE_{self.name}_KEY", self.key_column)

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
        literals = _literals(self.store.con, self.relation, self.key_column, values)
        if literals is not None:
            predicate = f"{quote(self.key_column)} IN {literals}"
        else:
            predicate = f"{quote(self.key_column)} IN (SELECT K FROM __PIPE_KEYS)"
        if any(v is None for v in values):
            predicate += f" OR {quote(self.key_column)} IS NULL"
        return self.grouped.format(source=f"({_matching(self.relation, predicate)})")


def _split_grouped(tree: exp.Expression, key: KeyMap) -> tuple[str, str, str] | None:
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
    output_item = next((e for e in tree.expressions if names.of(e.args["alias"] if isinstance(e, exp.Alias) else e) == key.output), None)
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
