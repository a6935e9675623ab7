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

from engine import names as identifiers
from engine.backends.local.changes import ChangeLog
from engine.backends.local.incremental import aggstate, linear
from engine.backends.local.incremental.aggstate import AggregateState
from engine.backends.local.incremental.keys import few, has_index, key_predicate, key_values, keyed_rows, listed
from engine.backends.local.incremental.preaggregation import PreAggregation
from engine.backends.local.incremental.restriction import has_rowid, restrict_inputs
from engine.backends.local.incremental.trees import Statements, columns, fill, sql, temp
from engine.backends.local.store import Store, quote
from engine.graph import DYNAMIC_TABLE
from engine.sql.partition import Partitioning, analyze

# Above this many affected keys, recomputing everything is as cheap and simpler.
MAX_KEYS = 50_000

# A grouped query that both pre-aggregation rows and aggregate state can maintain keeps the
# pre-aggregation rows when its groups hold fewer input rows than this on average (measured at
# each full refresh): recomputing a few small groups then costs less than moving the state, whose
# value tables would hold about a row per input row, in memory and rebuild time.
SMALL_GROUPS = 16


# The rows that differ between two tables of the same columns, each with how many more copies
# of it the new table holds than the old (NULLs compare equal, as in EXCEPT ALL, but one hash
# table instead of two).
_DIFFERENCE = """CREATE OR REPLACE TEMP TABLE __PIPE_DIFF AS
    SELECT __X_columns, CAST(sum(__PIPE_SIGN) AS BIGINT) AS __PIPE_COPIES FROM (
        SELECT __X_columns, 1 AS __PIPE_SIGN FROM __X_new
        UNION ALL SELECT __X_columns, -1 AS __PIPE_SIGN FROM __X_old
    ) AS __D GROUP BY ALL HAVING sum(__PIPE_SIGN) <> 0"""


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
    query: exp.Expression | None  # the query's DuckDB tree (None: it did not parse back)
    pre: "PreAggregation | None" = None  # the query can be kept as pre-aggregation rows …
    state: "AggregateState | None" = None  # … or as aggregate state: one is kept, see Incremental.kept
    key_sql: dict[str, str] = field(default_factory=dict)  # input -> DuckDB SQL of its key values
    filters: dict[str, exp.Expression] = field(default_factory=dict)  # input -> its rows whose key is in __PIPE_KEYS
    restricted: dict[str, exp.Expression | None] = field(default_factory=dict)  # output column -> query reading only those rows
    # input -> (its key column, the temporary table its rows holding an affected key are copied
    # to): an input whose key is a column of a dynamic table, whose rows are looked up by index
    looked_up: dict[str, tuple[str, str]] = field(default_factory=dict)
    row_wise: set[str] = field(default_factory=set)  # the inputs whose change maps row by row (see .linear)


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
        self._sql = Statements()  # statements that depend only on a table and its plan
        # (table, column) -> whether pipe's index on it exists, and its DuckDB type; as this
        # process last saw them (pipe holds the file's lock), forgotten when the table is recomputed
        self._key_indexes: dict[tuple[str, str], bool] = {}
        self._types: dict[tuple[str, str], str] = {}
        self._columns: dict[str, list[str]] = {}  # each dynamic table's columns, as this process last read them

    def plan(self, name: str) -> _Plan:
        if name not in self._plans:
            self._plans[name] = self._build_plan(name)
        return self._plans[name]

    def _build_plan(self, name: str) -> _Plan:
        from engine.sql.translate import to_duckdb, to_duckdb_tree

        inputs = self.graph.upstream(name)
        schema = {i: self.store.columns(i) for i in inputs}
        compiled = self.graph.queries[name]
        partitioning = compiled.partitioning
        if partitioning is None:  # an input of undeclared columns: read them from the database
            partitioning = analyze(compiled.tree, schema)
        try:
            query = self.graph.duckdb_tree(name)
        except sqlglot.errors.ParseError:
            query = None  # only the query restricted by its output key can refresh it
        plan = _Plan(partitioning, query)
        where = {"database": self.database, "schema": self.schema}
        for table, key in partitioning.keys.items():
            # Typed as the query itself is translated, so that a key computes the same value on the
            # change as on the table (e.g. a FLOAT turned into text).
            types = self.graph.types()
            typed = {**types.get(table, {}), "ROWID": "NUMBER"}  # the filter reads DuckDB's rowid too
            key_type = types.get(name, {}).get(key.output, "VARIANT")
            catalog = {**types, table: typed, "__PIPE_DELTA": typed, "__PIPE_KEYS": {"K": key_type}}
            values = key_values(key)
            plan.key_sql[table] = to_duckdb(values.sql(dialect="snowflake"), parsed=values, catalog=catalog, **where)
            rows = keyed_rows(table, key, has_rowid(schema[table]))
            plan.filters[table] = to_duckdb_tree(rows.sql(dialect="snowflake"), parsed=rows, catalog=catalog, **where)
            column = identifiers.of(key.tree) if isinstance(key.tree, exp.Column) else None
            if column in schema[table] and self.graph.kind(table) == DYNAMIC_TABLE and has_rowid(schema[table]):
                plan.looked_up[table] = (column, f"__PIPE_IN_{len(plan.looked_up)}")
        if query is not None:
            plan.row_wise = {t for t in partitioning.keys if linear.row_wise(query, t)}
            plan.state = aggstate.build(self.store, name, query, inputs, partitioning)
            plan.pre = PreAggregation.build(self.store, name, query, inputs, partitioning)
        return plan

    def kept(self, name: str) -> "PreAggregation | AggregateState | None":
        """What ``name`` keeps materialised now: its pre-aggregation rows when they exist, else its
        aggregate state (missing state is found stale, and a full refresh chooses again)."""
        plan = self.plan(name)
        if plan.pre is not None and (plan.state is None or plan.pre.exists()):
            return plan.pre
        return plan.state

    # -- refresh ---------------------------------------------------------------------------------

    def refresh(self, name: str, seen: dict[str, int], current: dict[str, int], logged_since: dict[str, int]) -> Outcome:
        """Refresh ``name`` from the changes between ``seen`` and ``current`` input versions
        (``logged_since``: the version after which each input's log is complete, see
        :meth:`ChangeLog.positions`).

        Returns an INCREMENTAL outcome, or FULL with the reason when the change cannot be traced.
        """
        plan = self.plan(name)
        if plan.query is None:
            return self._full(name, "its translation for the local engine does not parse back as a tree")
        changed = [i for i in current if current[i] != seen.get(i)]
        for table in changed:
            if seen.get(table) is None or logged_since[table] > seen[table]:
                return self._full(name, f"{table} was recreated or written outside pipe")
            if table not in plan.partitioning.keys:
                return self._full(name, plan.partitioning.reasons.get(table, f"no key for {table}"))
        if len(changed) == 1 and changed[0] in plan.row_wise:
            outcome = self._apply_row_wise(name, plan, changed[0], seen[changed[0]], current[changed[0]])
            if outcome is not None:
                return outcome
        affected: dict[str, list] = {}
        for table in changed:
            output = plan.partitioning.keys[table].output
            values = self._key_values(plan, table, seen[table], current[table])
            affected.setdefault(output, []).extend(values)
        kept = self.kept(name)
        if isinstance(kept, PreAggregation):
            if plan.state is None and not kept.exists():  # with state too, kept() found the rows
                return self._full(name, f"its pre-aggregation rows are rebuilt ({kept.relation} is missing)")
            for table in changed:  # its only input: __PIPE_DELTA holds its change already
                kept.apply(temp("__PIPE_DELTA"))
        elif kept is not None:
            def load(table: str) -> bool:
                if table in changed:
                    self.log.materialise(table, seen[table], current[table], "__PIPE_AGG_IN")
                return table in changed

            try:
                kept.apply(load)
            except aggstate.Stale as exc:
                return self._full(name, f"its aggregate state is rebuilt ({exc})")
        total = sum(len(set(v)) for v in affected.values())
        if total > MAX_KEYS:
            return self._full(name, f"the change touches {total:,} keys: a full recompute is cheaper")
        if total == 0:
            return Outcome("INCREMENTAL")
        return self._apply(name, plan, affected, kept)

    def _key_values(self, plan: _Plan, table: str, after: int, upto: int) -> list:
        self.log.materialise(table, after, upto, "__PIPE_DELTA")
        return [row[0] for row in self.store.con.execute(plan.key_sql[table]).fetchall()]

    def _restricted(self, plan: _Plan, output: str) -> exp.Expression | None:
        """The query with every input keyed on ``output`` reading only its rows whose key is
        in ``__PIPE_KEYS``: the rows with those keys come out the same, and cheaply."""
        if output not in plan.restricted:
            filters = {t: self._input_filter(plan, t) for t in self._restricted_inputs(plan, output)}
            plan.restricted[output] = restrict_inputs(plan.query, filters) if plan.query is not None else None
        return plan.restricted[output]

    @staticmethod
    def _restricted_inputs(plan: _Plan, output: str) -> list[str]:
        return [t for t, k in plan.partitioning.keys.items() if k.output == output]

    @staticmethod
    def _input_filter(plan: _Plan, table: str) -> exp.Expression:
        """The rows of input ``table`` holding an affected key: read from the temporary table
        :meth:`_read_inputs` fills, for an input looked up by index."""
        if table in plan.looked_up:
            return exp.select(exp.Star()).from_(temp(plan.looked_up[table][1]))
        return plan.filters[table]

    def _read_inputs(self, plan: _Plan, output: str, values: list) -> None:
        """Copy the rows holding one of the keys ``values`` of each input looked up by index (see
        :attr:`_Plan.looked_up`) to its temporary table: by the index when the keys are few
        literals, else by the filter reading ``__PIPE_KEYS``."""
        con = self.store.con
        for table in self._restricted_inputs(plan, output):
            if table not in plan.looked_up:
                continue
            column, into = plan.looked_up[table]
            keys = self._listed(table, column, values)
            if keys is not None:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT * FROM {self.store.qualified(table)} "
                            f"WHERE {quote(column)} IN ({keys})")
                continue
            con.execute(self._sql.text(("input", table), lambda: fill(
                "CREATE OR REPLACE TEMP TABLE __X_into AS SELECT * FROM __X_rows", into=temp(into), rows=plan.filters[table],
            ), identify=True))

    def _columns_of(self, name: str) -> list[str]:
        """The columns of dynamic table ``name`` (read once: only a recompute, see
        :meth:`rebuild`, makes the table anew)."""
        if name not in self._columns:
            self._columns[name] = self.store.columns(name)
        return self._columns[name]

    def _listed(self, table: str, column: str, values: list) -> str | None:
        """The keys ``values`` as a literal list that DuckDB answers from pipe's index on
        ``table.column`` (a dynamic table's; built now when missing and affordable, see
        :func:`.keys.has_index`), or None when they are not few literals of its type or the
        index cannot be had: the caller then scans the column."""
        if self.graph.kind(table) != DYNAMIC_TABLE:
            return None
        found = (table, column)
        if found not in self._types:
            self._types[found] = self.store.type_of(self.store.table(table), column)
        keys = listed(self._types[found], values)
        return keys if keys is not None and self._key_index(table, column) else None

    def _key_index(self, table: str, column: str) -> bool:
        """Whether pipe's index on ``column`` of dynamic table ``table`` exists: there already, or
        built now when affordable (see :func:`.keys.has_index`)."""
        found = (table, column)
        if found not in self._key_indexes:
            self._key_indexes[found] = has_index(self.store, self.store.table(table), f"__PIPE_KEY_{table}_{column}", column)
        return self._key_indexes[found]

    def _apply(self, name: str, plan: _Plan, affected: dict[str, list], kept) -> Outcome:
        con = self.store.con
        target = self.store.table(name)
        names = self._columns_of(name)
        # Aggregate state writes the new rows from its own lookups, and the old rows are found by
        # rowid: the keys go to __PIPE_KEYS only for a scan of the key column (see _find_rows)
        by_rowid = isinstance(kept, AggregateState) and has_rowid(names)
        predicate = None if by_rowid else key_predicate(con, target, affected)
        if kept is not None:
            kept.write_rows(affected, temp("__PIPE_NEW"))
        else:
            shape = (name, sql(predicate))  # the statement is the same for the same predicate
            restricted = self._restricted(plan, next(iter(affected))) if len(affected) == 1 else None
            if restricted is not None:
                ((output, values),) = affected.items()
                self._read_inputs(plan, output, values)
            query = restricted if restricted is not None else plan.query
            # printed with every identifier quoted, as the translated key filters inside it are
            text = self._sql.text(("new", restricted is not None, *shape), lambda: fill(
                "CREATE OR REPLACE TEMP TABLE __PIPE_NEW AS SELECT * FROM __X_query AS __Q WHERE __X_predicate",
                query=query, predicate=predicate,
            ), identify=True)
            con.execute(text)
        if has_rowid(names):
            self._find_rows(name, target, affected, predicate)
            predicate = fill("SELECT rowid IN (SELECT R FROM __PIPE_ROWS)").selects[0]
        shape = (name, sql(predicate))  # the statements below are the same for the same predicate
        for template in (
            "CREATE OR REPLACE TEMP TABLE __PIPE_OLD AS SELECT * FROM __X_target WHERE __X_predicate",
            "DELETE FROM __X_target WHERE __X_predicate",
        ):
            self._sql.run(con, (template, *shape), lambda: fill(template, target=target, predicate=predicate))
        self._sql.run(con, ("insert", name, tuple(names)), lambda: fill(
            "INSERT INTO __X_target (__X_names) SELECT __X_columns FROM __PIPE_NEW",
            target=target, names=names, columns=columns(names),
        ))
        return self.record_difference(name, temp("__PIPE_OLD"), temp("__PIPE_NEW"), "INCREMENTAL", names)

    def _apply_row_wise(self, name: str, plan: _Plan, table: str, after: int, upto: int) -> Outcome | None:
        """Apply the change of ``table`` to ``name`` row by row (see :mod:`.linear`): its query
        over the change alone gives the rows that appear and go. None when the rows to delete are
        not all in the table as the change says (the caller then recomputes the affected keys)."""
        con = self.store.con
        names = self._columns_of(name)
        if not has_rowid(names):
            return None
        # A change of inserts only (as a stream's batch is) needs no netting, in or out
        inserts = self.log.inserts_only(table, after, upto)
        changes = self.log.changes(table, after, upto)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {linear.DELTA} AS {changes if inserts else linear.netted(changes)}")
        change = linear.inserted_change if inserts else linear.signed_change
        con.execute(self._sql.text(("row-wise", name, table, tuple(names), inserts), lambda: fill(
            "CREATE OR REPLACE TEMP TABLE __PIPE_DIFF AS SELECT * FROM __X_rows", rows=change(plan.query, table, names),
        ), identify=True))
        output = plan.partitioning.keys[table].output
        gone = con.execute(f'SELECT DISTINCT {quote(output)}, sum(-"__PIPE_COPIES") OVER () FROM __PIPE_DIFF '
                           'WHERE "__PIPE_COPIES" < 0').fetchall()
        target = self.store.table(name)
        if gone:
            self._find_rows(name, target, {output: [row[0] for row in gone]})
            self._sql.run(con, ("gone", name, tuple(names)), lambda: fill(
                "CREATE OR REPLACE TEMP TABLE __PIPE_GONE AS SELECT * FROM __X_rows", rows=linear.gone_rows(target, names),
            ))
            if con.execute("SELECT count(*) FROM __PIPE_GONE").fetchone()[0] != gone[0][1]:
                return None
            self._sql.run(con, ("delete gone", name), lambda: fill(
                'DELETE FROM __X_target WHERE rowid IN (SELECT "__PIPE_R" FROM __PIPE_GONE)', target=target,
            ))
        self._sql.run(con, ("insert new", name, tuple(names)), lambda: fill(
            'INSERT INTO __X_target (__X_names) SELECT __X_columns FROM __PIPE_DIFF, range("__PIPE_COPIES") AS __PIPE_COPY(__PIPE_I) '
            'WHERE "__PIPE_COPIES" > 0', target=target, names=names, columns=columns(names),
        ))
        inserted, deleted = self.log.record_counted(name, list(names), "__PIPE_DIFF")
        return Outcome("INCREMENTAL", inserted, deleted)

    def _find_rows(self, name: str, target: exp.Table, affected: dict[str, list], predicate=None) -> None:
        """Copy the rowids of ``name``'s rows holding an ``affected`` key to ``__PIPE_ROWS``, by
        ``predicate`` (from :func:`.keys.key_predicate`, made here when not given): a join on
        the keys' temporary table, which DuckDB answers by point lookups through pipe's index on
        the key column when the keys are few (the index built now when missing; see
        ``Store.lookups``), else by a scan of the column."""
        con = self.store.con
        looked_up = False
        if len(affected) == 1:
            ((output, values),) = affected.items()
            looked_up = few(values) is not None and self._key_index(name, output)
        predicate = predicate if predicate is not None else key_predicate(con, target, affected)
        with self.store.lookups(looked_up):
            self._sql.run(con, ("rows", name, sql(predicate)), lambda: fill(
                "CREATE OR REPLACE TEMP TABLE __PIPE_ROWS AS SELECT rowid AS R FROM __X_target WHERE __X_predicate",
                target=target, predicate=predicate,
            ))

    def record_difference(self, name: str, old: exp.Table, new: exp.Table, action: str, names=None) -> Outcome:
        """Log the rows that differ between tables ``old`` and ``new`` as ``name``'s change
        (``names``: its columns, when the caller has read them)."""
        names = tuple(names or self._columns_of(name))
        self._sql.run(self.store.con, (_DIFFERENCE, names, old.sql(), new.sql()),
                      lambda: fill(_DIFFERENCE, columns=columns(names), new=new.copy(), old=old.copy()))
        inserted, deleted = self.log.record_counted(name, list(names), "__PIPE_DIFF")
        return Outcome(action, inserted, deleted)

    def _full(self, name: str, reason: str) -> Outcome:
        return Outcome("FULL", message=f"incremental refresh not possible: {reason}")

    def drop_indexes(self, names) -> None:
        """Drop pipe's indexes on dynamic tables ``names`` and on what they keep (pre-aggregation
        rows, aggregate state), as a full refresh of them begins: the recompute makes those tables
        anew, without their indexes, which the first lookups after it build again; dropped first,
        the memory the indexes hold (about 100 bytes a row) serves the recompute instead."""
        names = list(names)
        kept: list[str] = []
        for name in names:
            plan = self.plan(name)
            if plan.pre is not None:
                kept.append(plan.pre.relation.name)
                plan.pre.forget_index()
            if plan.state is not None:  # its indexes are read from the catalog at each refresh
                kept += [relation.name for relation in plan.state.relations()]
            self._forget(name, self._key_indexes)
        self.store.drop_indexes(names, prefix="__PIPE_KEY_")
        self.store.drop_kept_indexes(kept)

    @staticmethod
    def _forget(name: str, *known: dict) -> None:
        """Forget what each of ``known`` (read per table and column) holds of table ``name``."""
        for cache in known:
            for key in [k for k in cache if k[0] == name]:
                del cache[key]

    def rebuild(self, name: str, *, built: "PreAggregation | AggregateState | None" = None) -> None:
        """After a full recompute: rebuild what the table keeps materialised, choosing between
        pre-aggregation rows and aggregate state by its groups' size when both can serve
        (``built``: what the recompute built already, see ``Refresher._full_query``)."""
        plan = self.plan(name)
        self._forget(name, self._key_indexes, self._types)  # a new table: without pipe's index, maybe of other types
        self._columns.pop(name, None)
        pre, state = plan.pre, plan.state
        if pre is not None and state is not None:
            inputs, groups = self.store.row_count(pre.table) or 0, self.store.row_count(name) or 0
            if inputs < SMALL_GROUPS * max(groups, 1):
                aggstate.drop(self.store, name)
                state = None
            else:
                pre.drop()
                pre = None
        for kept in (pre, state):
            if kept is not None and kept is not built:
                kept.rebuild()
