"""Aggregate state: grouped queries maintained from their inputs' changes alone.

A grouped query keeps one row per group, ``_PIPE."AGG_<NAME>_N<n>_STAR"``, with the group's
row count and the running value of each aggregate that can be merged: COUNT, COUNT_IF, SUM
and AVG (a sum and a count) of exact numbers move by the changed rows alone; COUNT(DISTINCT),
MIN and MAX move by the values that appear or disappear. For that, and for the
aggregates read off the whole set of values (MODE, AVG(DISTINCT), sums of floating-point
numbers), each argument has a value table ``…_V<i>``: how many of the group's rows hold each
value. A MIN or MAX whose value disappeared is read again from its value table; nothing ever
reads a group's input rows again, so the cost of a refresh follows the change, not the size
of the groups or of the table. Every state table is indexed on a hash of its key and read and
written by point lookups.

The query may read its input through grouped CTEs (each kept the same way, with its output
rows in ``…_OUT`` so that their changes feed the queries reading them), and may join grouped
CTEs on a grouping key to look up one row per group (``JOIN totals t ON t.k = d.k`` with
``MAX(t.x)``). Any other shape is left to the other incremental strategies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from sqlglot import exp

from engine.backends.local.incremental import statequeries as q
from engine.backends.local.incremental.keys import ensure_index
from engine.backends.local.incremental.recognition import BY_ROWS, EXTREMES, PAIRED, Node, recognise
from engine.backends.local.incremental.trees import Statements, column, columns, fill, numbers, run, sql, temp
from engine.backends.local.store import Store
from engine.sql.partition import Partitioning

# State rows are found by hash: a DuckDB whose hash function differs must rebuild them.
HASH_PROBE = "SELECT hash(1, 'pipe', 2.5::DOUBLE, DATE '2026-01-01', NULL::VARCHAR, [1, 2])"
IN = temp("__PIPE_AGG_IN")  # the change of an input table being applied, rows with __SIGN
# A lookup of n hashes reads the state table whole, as a semi join, when it holds fewer rows than
# n times this: DuckDB scans such a table's hash column faster than it plans a literal list of n
# values and fetches their rows through its index (measured on one thread at 1M events: about
# 25 us per listed value, 15 ns per scanned row). Below the break-even no index is built: at 1M
# events a batch's lookups in the per-session tables sat at 1,000 rows per hash, and building
# their indexes for the few refreshes that crossed it cost more than every scan.
SCAN_ROWS_PER_KEY = 2_000
# The state rows that merged rows replace, by the rowids their lookup read: a semi join on rowid
# costs a scan of row numbers, less than planning two literal lists of thousands of values.
_DELETE_MERGED = 'DELETE FROM __X_relation WHERE rowid IN (SELECT "__R" FROM __X_merged WHERE "__R" IS NOT NULL)'


def _groups_merged() -> exp.Table:
    """The group rows of a node, as the change moves them."""
    return temp("__PIPE_AGG_M")


def _values_merged(i: int) -> exp.Table:
    """Value table ``i``'s rows as the change moves them: each node's are kept until its group
    rows are merged, which checks every count of the node in one statement."""
    return temp(f"__PIPE_AGG_M{i}")


class _Touched(NamedTuple):
    """The groups a change touches, as :meth:`AggregateState._read_changed_groups` read them."""

    hashes: list[int]  # their hashes
    rows: int  # how many of them have a group row (found by the lookup)


class Stale(Exception):
    """The state tables are missing or disagree with the table: rebuild them with a full refresh."""


def build(store: Store, name: str, query: exp.Expression, inputs: list[str], partitioning: Partitioning) -> AggregateState | None:
    """Aggregate state for ``query`` (a DuckDB tree), or None when its shape is not supported."""
    shape = recognise(store.con, query, inputs, partitioning)
    if shape is None:
        return None
    return AggregateState(store, name, shape.nodes, shape.key, shape.output)


class AggregateState:
    """The aggregate state of one dynamic table's grouped query."""

    def __init__(self, store: Store, name: str, nodes: list[Node], key: exp.Expression, output: str):
        self.store = store
        self.name = name
        self.nodes = nodes  # sources before the queries reading them; the last is the query
        self.key = key  # the output key, over the query's grouping keys "__G<i>"
        self.output = output
        self._sql = Statements()
        self._indexed: dict[str, bool] = {}  # whether each index looked up this refresh exists, see _lookup
        self._sizes: dict[str, int] = {}  # each state table's rows, as DuckDB's catalog estimates them

    def _run(self, key, template: str, params: list | None = None, **slots):
        """Run ``template`` filled with ``slots`` (callables are called for their node), printed
        once for ``key``: the statement is the same at every refresh."""
        def build():
            return fill(template, **{k: v() if callable(v) else v for k, v in slots.items()})

        return self._sql.run(self.store.con, (template, key), build, params)

    # -- relations ---------------------------------------------------------------------------

    def _relation(self, node: Node, part: str) -> exp.Table:
        return self.store.kept_table(f"AGG_{self.name}_N{node.index}_{part}")

    def _star(self, node: Node) -> exp.Table:
        return self._relation(node, "STAR")

    def _values(self, node: Node, i: int) -> exp.Table:
        return self._relation(node, f"V{i}")

    def _out(self, node: Node) -> exp.Table:
        return self._relation(node, "OUT")

    def _hash_check(self) -> exp.Table:
        return self.store.kept_table(f"AGG_{self.name}_HASH")

    def relations(self) -> list[exp.Table]:
        names = [self._hash_check()]
        for node in self.nodes:
            names.append(self._star(node))
            names += [self._values(node, i) for i in node.valued()]
            if node.name:
                names.append(self._out(node))
        return names

    # -- building ----------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Compute every state table from scratch (their indexes wait for the first lookup:
        see :meth:`_lookup`)."""
        con = self.store.con
        run(con, "CREATE OR REPLACE TABLE __X_check AS SELECT __X_probe AS PROBE", check=self._hash_check(), probe=_probe())
        for node in self.nodes:
            source = self.store.table(node.source_table) if node.source_table else self._out(node.source_node)
            for i in node.valued():  # first: the group rows read their DISTINCT aggregates off them
                self._create(self._values(node, i), q.counts(node, i, source, exp.Count(this=exp.Star())))
            self._create(self._star(node), self._groups(node, source))
            if node.name:
                self._create(self._out(node), self._evaluate(node, None, keep_groups=True))

    def _create(self, relation: exp.Table, rows: exp.Expression) -> None:
        run(self.store.con, "CREATE OR REPLACE TABLE __X_relation AS SELECT * FROM __X_rows", relation=relation, rows=rows)

    def _lookup(self, into: str, relation: exp.Table, key: str, values: list[int]) -> int:
        """Copy the rows of ``relation`` whose ``key`` is in ``values`` (with their rowid) to
        ``into``, as a statement of its own: so DuckDB answers it from the column's index (or
        by a scan, when the table is small for the number of values: see SCAN_ROWS_PER_KEY).
        Returns how many rows it copied.

        The index is created by the first lookup that needs it, not by :meth:`rebuild`: building
        them all was about a quarter of a full refresh's work, wasted when the next refresh
        recomputes the table too, and some (e.g. by group of a value table whose aggregate is
        kept in the group row) are never read at all."""
        if not values:
            self._run((into, relation.name), 'CREATE OR REPLACE TEMP TABLE __X_into AS SELECT rowid AS "__R", * FROM __X_relation LIMIT 0',
                      into=temp(into), relation=relation)
            return 0
        small = self._sizes.get(relation.name, 0) < SCAN_ROWS_PER_KEY * len(values)
        if small or not self._index(relation, key):
            return self._run((into, relation.name, key),
                             'CREATE OR REPLACE TEMP TABLE __X_into AS SELECT rowid AS "__R", * FROM __X_relation '
                             'WHERE __X_by IN (SELECT unnest(CAST(? AS UBIGINT[])))',
                             [values], into=temp(into), relation=relation, by=column(key)).fetchone()[0]
        return run(self.store.con,
                   'CREATE OR REPLACE TEMP TABLE __X_into AS SELECT rowid AS "__R", * FROM __X_relation WHERE __X_key IN (__X_values)',
                   into=temp(into), relation=relation, key=column(key), values=numbers(values)).fetchone()[0]

    def _index(self, relation: exp.Table, key: str) -> bool:
        """Whether ``relation`` has its index on ``key``, built now if missing and affordable
        (see :func:`.keys.ensure_index`: a table too large to index in memory is scanned)."""
        name = f"{relation.name}_{key.strip('_')}"
        if name not in self._indexed:
            self._indexed[name] = ensure_index(self.store, relation, name, key)
        return self._indexed[name]

    def _groups(self, node: Node, source: exp.Expression) -> exp.Select:
        """The group rows of ``source``: row count and the aggregates kept there (its DISTINCT
        ones read off its value tables, built first)."""
        values = {i: self._values(node, i) for i in node.valued()}
        return q.keyed(node, node is self.nodes[-1], self.key, q.grouped_with_values(node, source, values))

    # -- maintaining -------------------------------------------------------------------------

    def check(self) -> None:
        """Raise Stale when a state table is missing."""
        existing = self._sizes = self.store.kept_sizes()
        for relation in self.relations():
            if relation.name not in existing:
                raise Stale(f"{sql(relation)} is missing")
        stored = run(self.store.con, "SELECT PROBE = __X_probe FROM __X_check", check=self._hash_check(), probe=_probe()).fetchall()
        if stored != [(True,)]:
            raise Stale("the state was hashed by another version of DuckDB")

    def apply(self, load: Callable[[str], bool]) -> None:
        """Move the state by the input changes: ``load(table)`` copies ``table``'s change (rows
        with __SIGN) to ``__PIPE_AGG_IN`` and says whether it changed."""
        self.check()
        self._indexed = dict.fromkeys(self.store.kept_indexes(), True)
        node_changes: dict[int, Callable[[], exp.Expression]] = {}
        loaded = None  # the table whose change IN holds (a node reading a node has an input of its own)
        for node in self.nodes:
            if node.source_table is not None:
                if node.source_table != loaded:
                    if not load(node.source_table):
                        continue
                    loaded = node.source_table
            else:
                delta = node_changes.get(node.source_node.index)
                if delta is None:
                    continue
                self._run(node.index, "CREATE OR REPLACE TEMP TABLE __X_input AS SELECT * FROM __X_delta",
                          input=self._input(node), delta=delta)
            touched = self._read_changed_groups(node)
            found = self._count_values(node, touched)
            moved = {i: self._merge_values(node, i, found.get(i, [])) for i in node.valued()}
            self._merge_groups(node, {i: table for i, table in moved.items() if table is not None}, touched)
            if node.name:
                node_changes[node.index] = self._replace_output(node, touched)

    @staticmethod
    def _input(node: Node) -> exp.Table:
        """The change applied to ``node``: its input table's (IN), or the output change of the
        node it reads."""
        return IN if node.source_table is not None else temp(f"__PIPE_AGG_IN{node.index}")

    def _count_values(self, node: Node, touched: _Touched) -> dict[int, list[int]]:
        """Count the change's values of every value table of ``node`` in one statement (to
        ``__PIPE_AGG_D``: its rows for value table ``i`` have ``__I = i`` and the value in
        ``__V<i>``, as the values differ in type); returns, per value table, the hashes of the
        value rows to look up: those of the groups found in ``__PIPE_AGG_SG`` (a group without a
        group row has no value rows either: none, when the change only brings new groups)."""
        if not node.valued():
            return {}

        def counts():
            parts = []
            for i in node.valued():
                signed = exp.Sum(this=q.SIGN.copy())
                rows = q.counts(node, i, self._input(node), signed, signed.copy().neq(exp.Literal.number(0)))
                parts.append(fill('SELECT __X_i AS "__I", "__H", "__GH", __X_groups, "__V" AS __X_v, "__N" FROM __X_rows',
                                  i=exp.Literal.number(i), groups=q.group_columns(node), v=f"__V{i}", rows=rows))
            union = parts[0]
            for part in parts[1:]:
                union = exp.union(union, part, distinct=False)
                union.set("by_name", True)
            return union

        self._run(node.index, "CREATE OR REPLACE TEMP TABLE __PIPE_AGG_D AS SELECT * FROM __X_counts", counts=counts)
        if not touched.rows:
            return {}
        found = self.store.con.execute('SELECT "__I", list(DISTINCT "__H") FROM __PIPE_AGG_D '
                                       'WHERE "__GH" IN (SELECT "__GH" FROM __PIPE_AGG_SG) GROUP BY ALL').fetchall()
        return {int(i): [int(h) for h in hashes] for i, hashes in found}

    def _merge_values(self, node: Node, i: int, hashes: list[int]) -> exp.Table | None:
        """Add the change's counts (see :meth:`_count_values`) to value table ``i``, looking up
        its rows of ``hashes``; returns a table of, per group, how the aggregates kept in the
        group row move with the values that appeared or went (None when no aggregate kept in
        the group row reads them, e.g. MODE's values)."""
        relation = self._values(node, i)
        names = q.group_names(node) + ["__V"]
        found = self._lookup("__PIPE_AGG_S", relation, "__H", hashes)
        merged = _values_merged(i)  # its counts below zero are found by _merge_groups

        def counted():
            return fill('SELECT "__H", "__GH", __X_groups, __X_v AS "__V", "__N" FROM __PIPE_AGG_D WHERE "__I" = __X_i',
                        groups=q.group_columns(node), v=column(f"__V{i}"), i=exp.Literal.number(i))

        self._run(
            (node.index, i),
            """CREATE OR REPLACE TEMP TABLE __X_merged AS
               SELECT s."__R", coalesce(s."__N", 0) AS "__OLD", coalesce(s."__N", 0) + d."__N" AS "__TOTAL", d.*
               FROM __X_counted AS d LEFT JOIN __PIPE_AGG_S AS s ON __X_match""",
            merged=merged, counted=counted, match=lambda: q.same("s", "d", "__H", names),
        )
        if found:  # the value rows looked up are those the merged rows replace
            self._run((node.index, i), _DELETE_MERGED, relation=relation, merged=merged)
        self._run((node.index, i), 'INSERT INTO __X_relation SELECT "__H", "__GH", __X_names, "__TOTAL" FROM __X_merged WHERE "__TOTAL" <> 0',
                  relation=relation, merged=merged, names=lambda: columns(names))
        if len(q.value_moves(node, i)) == 1:  # only its placeholder: nothing kept moves
            return None
        table = temp(f"__PIPE_AGG_X{i}")
        self._run((node.index, i), 'CREATE OR REPLACE TEMP TABLE __X_table AS SELECT "__GH", __X_groups, __X_moves FROM __X_merged GROUP BY ALL',
                  table=table, merged=merged, groups=lambda: q.group_columns(node), moves=lambda: q.value_moves(node, i))
        return table

    def _read_changed_groups(self, node: Node) -> _Touched:
        """How the change moves each group it touches (``__PIPE_AGG_DG``), and those groups'
        rows as they are (``__PIPE_AGG_SG``, by point lookups); returns which they are."""
        self._run(node.index, "CREATE OR REPLACE TEMP TABLE __PIPE_AGG_DG AS SELECT * FROM __X_rows",
                  rows=lambda: q.grouped(node, q.group_moves(node), self._input(node)))
        hashes = _numbers(self.store.con, 'SELECT DISTINCT "__H" FROM __PIPE_AGG_DG')  # a group row's is its group's
        return _Touched(hashes, self._lookup("__PIPE_AGG_SG", self._star(node), "__H", hashes))

    def _merge_groups(self, node: Node, moved: dict[int, exp.Table], touched: _Touched) -> None:
        """Move the group rows (read by :meth:`_read_changed_groups`) by the change's rows and
        the value moves of ``moved``."""
        relation = self._star(node)
        groups = q.group_names(node)
        self._run((node.index, tuple(moved)), "CREATE OR REPLACE TEMP TABLE __PIPE_AGG_M AS SELECT * FROM __X_query",
                  query=lambda: self._moved_groups(node, moved))
        flags = self._check_counts(node)
        for j, (kind, arg) in enumerate(node.aggs):  # a MIN or MAX whose value went: read it off the values left
            flagged = flags.get(j)
            if not flagged:
                continue
            self._lookup("__PIPE_AGG_R", self._values(node, arg), "__GH", flagged)
            best = exp.Max if kind == "MAX" else exp.Min
            self._run(
                (node.index, j),
                """UPDATE __PIPE_AGG_M AS m SET __X_target = r.v FROM (
                       SELECT "__GH", __X_groups, __X_best AS v FROM __PIPE_AGG_R GROUP BY ALL) AS r
                   WHERE __X_flag AND __X_match""",
                target=column(f"__S{j}"), groups=lambda: q.group_columns(node), best=lambda: best(this=column("__V")),
                flag=column(f"__F{j}", "m"), match=lambda: q.same("m", "r", "__GH", groups),
            )
        if touched.rows:  # the group rows looked up are those the merged rows replace (the updates above leave "__R")
            self._run(node.index, _DELETE_MERGED, relation=relation, merged=_groups_merged())

        def rows_left():
            kept = [c for c in self.store.columns_of(relation) if c not in ("__K", "__KH")]
            left = fill('SELECT __X_kept FROM __PIPE_AGG_M WHERE "__N" <> 0', kept=columns(kept))
            return q.keyed(node, node is self.nodes[-1], self.key, left)

        self._run(node.index, "INSERT INTO __X_relation SELECT * FROM __X_rows", relation=relation, rows=rows_left)

    def _check_counts(self, node: Node) -> dict[int, list[int]]:
        """Raise Stale when a group row or a value row of ``node``, as merged, counts fewer than
        zero rows (the state disagrees with the change); else return, for each MIN or MAX kept
        in the group row, the groups whose value went (their hashes). One statement."""
        counted = [(self._star(node), _groups_merged(), "__N", "a group's rows")]
        counted += [(self._values(node, i), _values_merged(i), "__TOTAL", "a value") for i in node.valued()]
        extremes = [j for j, (kind, _) in enumerate(node.aggs) if node.kept(j) and kind in EXTREMES]

        def below_zero():
            return exp.select(*[
                fill("SELECT count(*) FROM __X_merged WHERE __X_count < 0", merged=merged, count=column(count)).subquery()
                for _, merged, count, _ in counted
            ], *[
                fill('SELECT list(DISTINCT "__GH") FROM __X_merged WHERE __X_flag', merged=_groups_merged(), flag=column(f"__F{j}")).subquery()
                for j in extremes
            ])

        found = self.store.con.execute(self._sql.text(("below zero", node.index), below_zero)).fetchone()
        for (relation, _, _, what), n in zip(counted, found):
            if n:
                raise Stale(f"{sql(relation)} would count {what} fewer than zero times")
        return {j: [int(h) for h in flagged or ()] for j, flagged in zip(extremes, found[len(counted):])}

    def _moved_groups(self, node: Node, moved: dict[int, exp.Table]) -> exp.Select:
        """The group rows ``s`` moved by the change ``d`` and the value moves ``x<i>`` of ``moved``."""
        groups = q.group_names(node)
        new = [column("__H", "d"), column("__GH", "d"), *q.group_columns(node, "d")]
        new.append(q.alias(fill('coalesce(s."__N", 0) + d."__N"'), "__N"))
        for j, (kind, arg) in enumerate(node.aggs):
            if not node.kept(j):
                continue
            s = column(f"__S{j}", "s")
            change = column(f"__S{j}", "d" if kind in BY_ROWS else f"x{arg}")
            if kind in EXTREMES:
                flag = column(f"__F{j}", f"x{arg}")
                best = q.call(EXTREMES[kind], s, change)
                new.append(q.alias(exp.Case().when(flag, exp.null()).else_(best), f"__S{j}"))
                new.append(q.alias(exp.Coalesce(this=flag.copy(), expressions=[exp.false()]), f"__F{j}"))
            else:
                new.append(q.alias(_coalesced_sum(s, change), f"__S{j}"))
                if kind in PAIRED:
                    count = column(f"__C{j}", "d" if kind in BY_ROWS else f"x{arg}")
                    new.append(q.alias(_coalesced_sum(column(f"__C{j}", "s"), count), f"__C{j}"))
        query = fill(
            'SELECT s."__R", __X_new FROM __PIPE_AGG_DG AS d LEFT JOIN __PIPE_AGG_SG AS s ON __X_match',
            new=new, match=q.same("s", "d", "__GH", groups),
        )
        for i, table in moved.items():
            query = query.join(exp.alias_(table.copy(), f"x{i}", table=True), on=q.same(f"x{i}", "d", "__GH", groups), join_type="LEFT")
        return query

    def _replace_output(self, node: Node, touched: _Touched) -> Callable[[], exp.Expression]:
        """Recompute the output rows of ``node``'s affected groups; returns (a builder of) their change."""
        out = self._out(node)
        affected = temp("__PIPE_AGG_DG")  # one row a group the change touches, as _read_changed_groups read them
        new, old = temp(f"__PIPE_AGG_NEW{node.index}"), temp(f"__PIPE_AGG_OLD{node.index}")
        groups = touched.hashes  # a group row's hash is its group's
        self._read_values(node, groups)
        self._run(node.index, "CREATE OR REPLACE TEMP TABLE __X_new AS SELECT * FROM __X_rows", new=new,
                  rows=lambda: self._evaluate(node, affected, keep_groups=True, merged=True))
        self._lookup("__PIPE_AGG_S", out, "__GH", groups)
        self._run(node.index, "CREATE OR REPLACE TEMP TABLE __X_old AS SELECT o.* FROM __PIPE_AGG_S AS o SEMI JOIN __X_affected AS g ON __X_match",
                  old=old, affected=affected, match=lambda: q.same("o", "g", "__GH", q.group_names(node)))
        self._run(node.index, 'DELETE FROM __X_out WHERE rowid IN (SELECT "__R" FROM __X_old)', out=out, old=old)
        self._run(node.index, "INSERT INTO __X_out SELECT * FROM __X_new", out=out, new=new)
        return lambda: fill("SELECT __X_c, 1 AS __SIGN FROM __X_new UNION ALL SELECT __X_c, -1 AS __SIGN FROM __X_old",
                            c=columns(node.columns), new=new, old=old)

    # -- reading -----------------------------------------------------------------------------

    def full_query(self) -> str:
        """The query's rows read off the state (every group): the table's whole contents."""
        return sql(self._evaluate(self.nodes[-1], None, keep_groups=False))

    def write_rows(self, affected: dict[str, list], into: exp.Table) -> None:
        """Write the query's rows whose output key is one of the ``affected`` values to the
        temporary table ``into``."""
        con = self.store.con
        node = self.nodes[-1]
        star = self._star(node)
        values = list(dict.fromkeys(affected.get(self.output, [])))  # after apply(): _indexed is current

        def keys():
            typed = exp.DataType.build(self.store.type_of(star, "__K"), dialect="duckdb")
            return fill("CREATE OR REPLACE TEMP TABLE __PIPE_AGG_KEYS AS SELECT __X_keys AS K",
                        keys=exp.cast(q.call("unnest", exp.Placeholder()), typed))

        self._sql.run(con, "keys", keys, [values])
        hashes = _numbers(con, "SELECT DISTINCT hash(K) FROM __PIPE_AGG_KEYS")
        self._lookup("__PIPE_AGG_Q0", star, "__KH", hashes)
        # The group rows of the affected keys: both the groups to evaluate and the rows
        # _evaluate reads their state from (by key, one row a group)
        groups = temp(f"__PIPE_AGG_E{node.index}_STAR")
        self._run(
            "query_for",
            """CREATE OR REPLACE TEMP TABLE __X_groups AS SELECT * FROM __PIPE_AGG_Q0
               WHERE "__K" IN (SELECT K FROM __PIPE_AGG_KEYS) OR "__K" IS NULL AND EXISTS (SELECT 1 FROM __PIPE_AGG_KEYS WHERE K IS NULL)""",
            groups=groups,
        )
        self._read_values(node, _numbers(con, self._sql.text("groups", lambda: fill('SELECT DISTINCT "__GH" FROM __X_g', g=groups))))
        self._run(into.name, "CREATE OR REPLACE TEMP TABLE __X_into AS SELECT * FROM __X_rows",
                  into=into, rows=lambda: self._evaluate(node, groups, keep_groups=False))

    def _read_values(self, node: Node, hashes: list[int]) -> None:
        """Copy the value rows of the groups ``hashes`` that :meth:`_evaluate` reads (those of
        the aggregates not kept in the group row) to temporary tables, by point lookups. (It
        reads the group rows where the caller has them: those merged, or those of the keys.)"""
        for i in node.valued():
            if any(arg == i and not node.kept(j) for j, (_, arg) in enumerate(node.aggs)):
                self._lookup(f"__PIPE_AGG_E{node.index}_V{i}", self._values(node, i), "__GH", hashes)

    def _evaluate(self, node: Node, groups: exp.Table | None, *, keep_groups: bool, merged: bool = False) -> exp.Select:
        """``node``'s output rows for the groups listed in table ``groups`` (None: every group),
        whose state :meth:`_read_values` and its caller copied (``merged``: the group rows, as
        merged, are read off ``__PIPE_AGG_M``)."""
        names = q.group_names(node)

        def rows_of(relation: exp.Table, part: str) -> exp.Expression:
            return relation if groups is None else temp(f"__PIPE_AGG_E{node.index}_{part}")

        every = exp.Column(this=exp.Star(), table=exp.to_identifier("s"))
        star = rows_of(self._star(node), "STAR")
        if merged:
            star = fill('SELECT * FROM __X_m WHERE "__N" <> 0', m=_groups_merged()).subquery()
        state = exp.select(every, *q.kept_values(node)).from_(exp.alias_(star, "s", table=True))
        if groups is not None:
            state = state.join(exp.alias_(groups.copy(), "g", table=True), on=q.same("s", "g", "__GH", names), join_type="SEMI")
        for i in node.valued():
            formulas = [
                q.alias(q.from_values(kind), f"__A{j}") for j, (kind, arg) in enumerate(node.aggs) if arg == i and not node.kept(j)
            ]
            if not formulas:
                continue
            read = fill('SELECT "__GH", __X_groups, __X_formulas FROM __X_values GROUP BY ALL',
                        groups=q.group_columns(node), formulas=formulas, values=rows_of(self._values(node, i), f"V{i}"))
            state = state.join(read.subquery(f"a{i}"), on=q.same(f"a{i}", "s", "__GH", names), join_type="LEFT")
            state = state.select(*[column(f.alias, f"a{i}") for f in formulas])
        items = [q.alias(item.copy(), name) for item, name in zip(node.items, node.columns)]
        if keep_groups:
            items = [column("__GH", "__S"), *q.group_columns(node, "__S"), *items]
        query = exp.select(*items).from_(state.subquery("__S"))
        for lookup in node.lookups:
            on = column(lookup.column, lookup.alias).eq(column(f"__G{lookup.group}", "__S"))
            query = query.join(exp.alias_(self._out(lookup.node), exp.to_identifier(lookup.alias, quoted=True), table=True), on=on)
        return query


def _probe() -> exp.Expression:
    return fill(HASH_PROBE).selects[0]


def _coalesced_sum(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    zero = exp.Literal.number(0)
    return exp.Add(this=exp.Coalesce(this=a, expressions=[zero]), expression=exp.Coalesce(this=b, expressions=[zero.copy()]))


def _numbers(con, query: str) -> list[int]:
    """The integers ``query`` returns."""
    return [int(row[0]) for row in con.execute(query).fetchall()]


def drop(store: Store, name: str) -> None:
    """Drop every state table of dynamic table ``name`` (and none of another's)."""
    pattern = re.compile(rf"AGG_{re.escape(name)}_(HASH|N\d+_(STAR|OUT|V\d+))")
    store.drop_kept([table for table in store.kept_tables() if pattern.fullmatch(table)])
