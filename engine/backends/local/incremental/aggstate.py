"""Aggregate state: grouped queries maintained from their inputs' changes alone.

A grouped query keeps one row per group, ``_PIPE."AGG_<NAME>_N<n>_STAR"``, with the group's
row count and the running value of each aggregate that can be merged: COUNT, COUNT_IF, SUM
and AVG (a sum and a count) of exact numbers move by the changed rows alone; COUNT(DISTINCT),
MIN, MAX and ANY_VALUE move by the values that appear or disappear. For that, and for the
aggregates read off the whole set of values (MODE, AVG(DISTINCT), sums of floating-point
numbers), each argument has a value table ``…_V<i>``: how many of the group's rows hold each
value. A MIN or MAX whose value disappeared is read again from its value table; nothing ever
reads a group's input rows again, so the cost of a refresh follows the change, not the size
of the groups or of the table. Every state table is indexed on a hash of its key and read and
written by point lookups.

The query may read its input through grouped CTEs (each kept the same way, with its output
rows in ``…_OUT`` so that their changes feed the queries reading them), and may join grouped
CTEs on a grouping key to look up one row per group (``JOIN totals t ON t.k = d.k`` with
``ANY_VALUE(t.x)``). Any other shape is left to the other incremental strategies.
"""

from __future__ import annotations

import re

from engine.backends.local.changes import SIGN
from engine.backends.local.incremental.recognition import (
    BY_ROWS,
    BY_VALUES,
    EXTREMES,
    FROM_VALUES,
    HASH_PROBE,
    PAIRED,
    Node,
    recognise,
)
from engine.backends.local.store import META, Store, column_type, quote
from engine.sql.partition import Partitioning


class Stale(Exception):
    """The state tables are missing or disagree with the table: rebuild them with a full refresh."""


def build(store: Store, name: str, query_sql: str, inputs: list[str], partitioning: Partitioning) -> AggregateState | None:
    """Aggregate state for ``query_sql`` (DuckDB SQL), or None when its shape is not supported."""
    shape = recognise(store.con, query_sql, inputs, partitioning)
    if shape is None:
        return None
    return AggregateState(store, name, shape.nodes, shape.key, shape.output)


class AggregateState:
    """The aggregate state of one dynamic table's grouped query."""

    def __init__(self, store: Store, name: str, nodes: list[Node], key: str, output: str):
        self.store = store
        self.name = name
        self.nodes = nodes  # sources before the queries reading them; the last is the query
        self.key = key  # the output key column, over the query's grouping keys "__G<i>"
        self.output = output

    # -- relations ---------------------------------------------------------------------------

    def _relation(self, node: Node, part: str) -> str:
        return f"{META}.{quote(f'AGG_{self.name}_N{node.index}_{part}')}"

    def _star(self, node: Node) -> str:
        return self._relation(node, "STAR")

    def _values(self, node: Node, i: int) -> str:
        return self._relation(node, f"V{i}")

    def _out(self, node: Node) -> str:
        return self._relation(node, "OUT")

    def _hash_check(self) -> str:
        return f"{META}.{quote(f'AGG_{self.name}_HASH')}"

    def relations(self) -> list[str]:
        names = [self._hash_check()]
        for node in self.nodes:
            names.append(self._star(node))
            names += [self._values(node, i) for i in node.valued()]
            if node.name:
                names.append(self._out(node))
        return names

    # -- building ----------------------------------------------------------------------------

    def rebuild(self, source_of) -> None:
        """Compute every state table from scratch; ``source_of(table)`` is a table's relation."""
        con = self.store.con
        con.execute(f"CREATE OR REPLACE TABLE {self._hash_check()} AS SELECT {HASH_PROBE} AS PROBE")
        for node in self.nodes:
            source = source_of(node.source_table) if node.source_table else self._out(node.source_node)
            con.execute(f"CREATE OR REPLACE TABLE {self._star(node)} AS {self._groups(node, source)}")
            self._index(self._star(node), "__H")
            if node is self.nodes[-1]:
                self._index(self._star(node), "__KH")
            for i in node.valued():
                relation = self._values(node, i)
                con.execute(f"CREATE OR REPLACE TABLE {relation} AS {self._counts(node, i, source, 'count(*)')}")
                self._index(relation, "__H")
                self._index(relation, "__GH")
            if node.name:
                con.execute(f"CREATE OR REPLACE TABLE {self._out(node)} AS {self._evaluate(node, None, keep_groups=True)}")
                self._index(self._out(node), "__GH")

    def _index(self, relation: str, column: str) -> None:
        name = quote(relation.split(".", 1)[1].strip('"') + "_" + column.strip("_"))
        self.store.con.execute(f'CREATE INDEX {name} ON {relation} ("{column}")')

    def _grouped(self, node: Node, columns: list[str], source: str, having: str = "") -> str:
        """``columns`` (aggregates) per group of ``source``, with the group keys and their hash."""
        groups = [f'{g} AS "__G{i}"' for i, g in enumerate(node.groups)]
        where = f" WHERE {node.where}" if node.where else ""
        inner = (
            f"SELECT {', '.join(groups + columns)} FROM {source} AS {node.alias}{where} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}{having}"
        )
        return f'SELECT hash({_group_columns(node)}) AS "__H", hash({_group_columns(node)}) AS "__GH", * FROM ({inner})'

    def _groups(self, node: Node, source: str) -> str:
        """The group rows of ``source``: row count and the aggregates kept there."""
        columns = ['CAST(count(*) AS BIGINT) AS "__N"']
        for j, (kind, arg) in enumerate(node.aggs):
            if not node.kept(j):
                continue
            x = node.args[arg] if arg is not None else None
            columns += {
                "COUNT": [f'CAST(count({x}) AS BIGINT) AS "__S{j}"'],
                "COUNT_IF": [f'CAST(count(*) FILTER (WHERE {x}) AS BIGINT) AS "__S{j}"'],
                "SUM": [f'sum({x}) AS "__S{j}"', f'CAST(count({x}) AS BIGINT) AS "__C{j}"'],
                "AVG": [f'sum({x}) AS "__S{j}"', f'CAST(count({x}) AS BIGINT) AS "__C{j}"'],
                "COUNT_DISTINCT": [f'CAST(count(DISTINCT {x}) AS BIGINT) AS "__S{j}"'],
                "SUM_DISTINCT": [f'sum(DISTINCT {x}) AS "__S{j}"', f'CAST(count(DISTINCT {x}) AS BIGINT) AS "__C{j}"'],
                "MIN": [f'min({x}) AS "__S{j}"'],
                "MAX": [f'max({x}) AS "__S{j}"'],
                "ANY_VALUE": [f'min({x}) AS "__S{j}"'],
            }[kind]
        return self._keyed(node, self._grouped(node, columns, source))

    def _keyed(self, node: Node, rows: str) -> str:
        """``rows`` of the query's group table with their output key and its hash, by which
        the groups of changed keys are found."""
        if node is not self.nodes[-1]:
            return rows
        return f'SELECT *, hash("__K") AS "__KH" FROM (SELECT *, {self.key} AS "__K" FROM ({rows}))'

    def _counts(self, node: Node, arg: int, source: str, count: str, having: str = "") -> str:
        """Rows per group and value of argument ``arg`` of ``source``, with their hashes."""
        groups = [f'{g} AS "__G{i}"' for i, g in enumerate(node.groups)] + [f'{node.args[arg]} AS "__V"']
        names = [f'"__G{i}"' for i in range(len(node.groups))] + ['"__V"']
        where = f" WHERE {node.where}" if node.where else ""
        inner = (
            f"SELECT {', '.join(groups)}, CAST({count} AS BIGINT) AS \"__N\" FROM {source} AS {node.alias}{where} "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))}{having}"
        )
        return f'SELECT hash({", ".join(names)}) AS "__H", hash({_group_columns(node)}) AS "__GH", * FROM ({inner})'

    # -- maintaining -------------------------------------------------------------------------

    def check(self) -> None:
        """Raise Stale when a state table is missing."""
        existing = {
            row[0]
            for row in self.store.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?",
                [META],
            ).fetchall()
        }
        for relation in self.relations():
            if relation.split(".", 1)[1].strip('"') not in existing:
                raise Stale(f"{relation} is missing")
        stored = self.store.con.execute(f"SELECT PROBE = {HASH_PROBE} FROM {self._hash_check()}").fetchall()
        if stored != [(True,)]:
            raise Stale("the state was hashed by another version of DuckDB")

    def apply(self, changes: dict[str, str]) -> None:
        """Move the state by the input changes (``table -> SQL of its rows with __SIGN``)."""
        self.check()
        con = self.store.con
        node_changes: dict[int, str] = {}
        for node in self.nodes:
            if node.source_table is not None:
                delta = changes.get(node.source_table)
            else:
                delta = node_changes.get(node.source_node.index)
            if delta is None:
                continue
            con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_AGG_IN AS {delta}")
            moved = {i: self._merge_values(node, i) for i in node.valued()}
            self._merge_groups(node, moved)
            if node.name:
                node_changes[node.index] = self._replace_output(node)

    def _merge_values(self, node: Node, i: int) -> str:
        """Add the change's counts to value table ``i``; returns a table of, per group, how
        the aggregates kept in the group row move with the values that appeared or went."""
        con = self.store.con
        relation = self._values(node, i)
        counts = self._counts(node, i, "__PIPE_AGG_IN", f"sum({SIGN})", f" HAVING sum({SIGN}) <> 0")
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_AGG_D AS {counts}")
        columns = [f'"__G{g}"' for g in range(len(node.groups))] + ['"__V"']
        hashes = _numbers(con, 'SELECT DISTINCT "__H" FROM __PIPE_AGG_D')
        _lookup(con, "__PIPE_AGG_S", relation, "__H", hashes)
        match = _same("s", "d", "__H", columns)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __PIPE_AGG_M AS
                SELECT s."__R", coalesce(s."__N", 0) AS "__OLD", coalesce(s."__N", 0) + d."__N" AS "__TOTAL", d.*
                FROM __PIPE_AGG_D AS d LEFT JOIN __PIPE_AGG_S AS s ON {match}"""
        )
        if con.execute('SELECT count(*) FROM __PIPE_AGG_M WHERE "__TOTAL" < 0').fetchall()[0][0]:
            raise Stale(f"{relation} would count a value fewer than zero times")
        rows = _numbers(con, 'SELECT "__R" FROM __PIPE_AGG_M WHERE "__R" IS NOT NULL')
        if rows != "NULL":
            con.execute(f'DELETE FROM {relation} WHERE "__H" IN ({hashes}) AND rowid IN ({rows})')
        con.execute(
            f'INSERT INTO {relation} SELECT "__H", "__GH", {", ".join(columns)}, "__TOTAL" '
            f'FROM __PIPE_AGG_M WHERE "__TOTAL" <> 0'
        )
        appeared = '"__V" IS NOT NULL AND "__OLD" = 0 AND "__TOTAL" > 0'
        went = '"__V" IS NOT NULL AND "__OLD" > 0 AND "__TOTAL" = 0'
        moves = ["0 AS __PIPE_NOTHING"]
        for j, (kind, arg) in enumerate(node.aggs):
            if arg != i or not node.kept(j) or kind not in BY_VALUES:
                continue
            if kind == "COUNT_DISTINCT":
                moves.append(f'sum(CASE WHEN {appeared} THEN 1 WHEN {went} THEN -1 ELSE 0 END) AS "__S{j}"')
            elif kind == "SUM_DISTINCT":
                moves.append(f'sum(CASE WHEN {appeared} THEN "__V" WHEN {went} THEN -"__V" END) AS "__S{j}"')
                moves.append(f'sum(CASE WHEN {appeared} THEN 1 WHEN {went} THEN -1 ELSE 0 END) AS "__C{j}"')
            else:  # MIN, MAX, ANY_VALUE: the best new value; read again if a value went
                best = "min" if kind != "MAX" else "max"
                moves.append(f'{best}("__V") FILTER (WHERE "__N" > 0 AND "__TOTAL" > 0) AS "__S{j}"')
                moves.append(f'bool_or({went}) AS "__F{j}"')
        table = f"__PIPE_AGG_X{i}"
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE {table} AS SELECT "__GH", {_group_columns(node)}, {", ".join(moves)} '
            f"FROM __PIPE_AGG_M GROUP BY ALL"
        )
        return table

    def _merge_groups(self, node: Node, moved: dict[int, str]) -> None:
        """Move the group rows by the change's rows and the value moves of ``moved``."""
        con = self.store.con
        relation = self._star(node)
        columns = [f'sum({SIGN}) AS "__N"']
        for j, (kind, arg) in enumerate(node.aggs):
            if node.kept(j) and kind in BY_ROWS:
                x = node.args[arg]
                if kind == "COUNT":
                    columns.append(f'sum({SIGN}) FILTER (WHERE {x} IS NOT NULL) AS "__S{j}"')
                elif kind == "COUNT_IF":
                    columns.append(f'sum({SIGN}) FILTER (WHERE {x}) AS "__S{j}"')
                else:
                    columns.append(f'sum({SIGN} * {x}) AS "__S{j}"')
                    columns.append(f'sum({SIGN}) FILTER (WHERE {x} IS NOT NULL) AS "__C{j}"')
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_AGG_D AS {self._grouped(node, columns, '__PIPE_AGG_IN')}")
        group_columns = [f'"__G{g}"' for g in range(len(node.groups))]
        def match(a: str, b: str) -> str:
            return _same(a, b, "__GH", group_columns)

        hashes = _numbers(con, 'SELECT DISTINCT "__H" FROM __PIPE_AGG_D')
        _lookup(con, "__PIPE_AGG_S", relation, "__H", hashes)
        new = ['d."__H"', 'd."__GH"'] + [f"d.{c}" for c in group_columns]
        new.append('coalesce(s."__N", 0) + d."__N" AS "__N"')
        recheck = []
        for j, (kind, arg) in enumerate(node.aggs):
            if not node.kept(j):
                continue
            change = f'd."__S{j}"' if kind in BY_ROWS else f'x{arg}."__S{j}"'
            if kind in EXTREMES:
                new.append(f'CASE WHEN x{arg}."__F{j}" THEN NULL ELSE {EXTREMES[kind]}(s."__S{j}", {change}) END AS "__S{j}"')
                new.append(f'coalesce(x{arg}."__F{j}", FALSE) AS "__F{j}"')
                recheck.append(j)
            else:
                new.append(f'coalesce(s."__S{j}", 0) + coalesce({change}, 0) AS "__S{j}"')
                if kind in PAIRED:
                    count = f'd."__C{j}"' if kind in BY_ROWS else f'x{arg}."__C{j}"'
                    new.append(f'coalesce(s."__C{j}", 0) + coalesce({count}, 0) AS "__C{j}"')
        joins = " ".join(f"LEFT JOIN {table} AS x{i} ON {match(f'x{i}', 'd')}" for i, table in moved.items())
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __PIPE_AGG_M AS
                SELECT s."__R", {', '.join(new)} FROM __PIPE_AGG_D AS d
                LEFT JOIN __PIPE_AGG_S AS s ON {match('s', 'd')} {joins}"""
        )
        if con.execute('SELECT count(*) FROM __PIPE_AGG_M WHERE "__N" < 0').fetchall()[0][0]:
            raise Stale(f"{relation} would count a group's rows fewer than zero times")
        for j in recheck:  # a MIN, MAX or ANY_VALUE whose value went: read it off the values left
            kind, arg = node.aggs[j]
            flagged = _numbers(con, f'SELECT DISTINCT "__GH" FROM __PIPE_AGG_M WHERE "__F{j}"')
            if flagged == "NULL":
                continue
            _lookup(con, "__PIPE_AGG_R", self._values(node, arg), "__GH", flagged)
            best = "max" if kind == "MAX" else "min"
            con.execute(
                f"""UPDATE __PIPE_AGG_M AS m SET "__S{j}" = r.v FROM (
                        SELECT "__GH", {_group_columns(node)}, {best}("__V") AS v FROM __PIPE_AGG_R GROUP BY ALL) AS r
                    WHERE m."__F{j}" AND {match('m', 'r')}"""
            )
        rows = _numbers(con, 'SELECT "__R" FROM __PIPE_AGG_M WHERE "__R" IS NOT NULL')
        if rows != "NULL":
            con.execute(f'DELETE FROM {relation} WHERE "__H" IN ({hashes}) AND rowid IN ({rows})')
        kept = [c for c in _columns(con, relation) if c not in ('"__K"', '"__KH"')]
        rows = self._keyed(node, f'SELECT {", ".join(kept)} FROM __PIPE_AGG_M WHERE "__N" <> 0')
        con.execute(f"INSERT INTO {relation} {rows}")
        con.execute(f'CREATE OR REPLACE TEMP TABLE __PIPE_AGG_G{node.index} AS SELECT DISTINCT "__GH", {_group_columns(node)} FROM __PIPE_AGG_D')

    def _replace_output(self, node: Node) -> str:
        """Recompute the output rows of ``node``'s affected groups; returns their change."""
        con = self.store.con
        out = self._out(node)
        affected = f"__PIPE_AGG_G{node.index}"
        match = _same("o", "g", "__GH", [f'"__G{i}"' for i in range(len(node.groups))])
        groups = _numbers(con, f'SELECT DISTINCT "__GH" FROM {affected}')
        new, old = f"__PIPE_AGG_NEW{node.index}", f"__PIPE_AGG_OLD{node.index}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {new} AS {self._evaluate(node, affected, keep_groups=True)}")
        _lookup(con, "__PIPE_AGG_S", out, "__GH", groups)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {old} AS SELECT o.* FROM __PIPE_AGG_S AS o SEMI JOIN {affected} AS g ON {match}")
        rows = _numbers(con, f'SELECT "__R" FROM {old}')
        if rows != "NULL":
            con.execute(f'DELETE FROM {out} WHERE "__GH" IN ({groups}) AND rowid IN ({rows})')
        con.execute(f"INSERT INTO {out} SELECT * FROM {new}")
        columns = ", ".join(quote(c) for c in node.columns)
        return (
            f"SELECT {columns}, 1 AS {SIGN} FROM {new} "
            f"UNION ALL SELECT {columns}, -1 AS {SIGN} FROM {old}"
        )

    # -- reading -----------------------------------------------------------------------------

    def query_for(self, affected: dict[str, list]) -> str:
        """The query's rows whose output key is one of the ``affected`` values."""
        con = self.store.con
        node = self.nodes[-1]
        star = self._star(node)
        cast = column_type(con, star, '"__K"')
        values = list(dict.fromkeys(affected.get(self.output, [])))
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_AGG_KEYS AS SELECT CAST(unnest(?) AS {cast}) AS K", [values])
        hashes = _numbers(con, "SELECT DISTINCT hash(K) FROM __PIPE_AGG_KEYS")
        _lookup(con, "__PIPE_AGG_Q0", star, "__KH", hashes)
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE __PIPE_AGG_Q AS SELECT "__GH", {_group_columns(node)} FROM __PIPE_AGG_Q0 '
            f'WHERE "__K" IN (SELECT K FROM __PIPE_AGG_KEYS) OR "__K" IS NULL AND EXISTS (SELECT 1 FROM __PIPE_AGG_KEYS WHERE K IS NULL)'
        )
        return self._evaluate(node, "__PIPE_AGG_Q", keep_groups=False)

    def _evaluate(self, node: Node, groups: str | None, *, keep_groups: bool) -> str:
        """``node``'s output rows for the groups listed in table ``groups`` (None: every group)."""
        con = self.store.con
        group_columns = [f'"__G{i}"' for i in range(len(node.groups))]
        def match(a: str, b: str) -> str:
            return _same(a, b, "__GH", group_columns)

        hashes = _numbers(con, f'SELECT DISTINCT "__GH" FROM {groups}') if groups else None

        def rows_of(relation: str, column: str, part: str) -> str:
            if groups is None:
                return relation
            _lookup(con, f"__PIPE_AGG_E{node.index}_{part}", relation, column, hashes)
            return f"__PIPE_AGG_E{node.index}_{part}"

        selected = ["s.*"]
        joins = []
        for j, (kind, arg) in enumerate(node.aggs):
            if kind == "COUNT_STAR":
                selected.append(f's."__N" AS "__A{j}"')
            elif node.kept(j) and kind in ("SUM", "SUM_DISTINCT"):
                selected.append(f'CASE WHEN s."__C{j}" > 0 THEN s."__S{j}" END AS "__A{j}"')
            elif node.kept(j) and kind == "AVG":
                selected.append(f'CASE WHEN s."__C{j}" > 0 THEN CAST(s."__S{j}" AS DOUBLE) / s."__C{j}" END AS "__A{j}"')
            elif node.kept(j):
                selected.append(f's."__S{j}" AS "__A{j}"')
        for i in node.valued():
            formulas = [
                f'{FROM_VALUES[kind]} AS "__A{j}"' for j, (kind, arg) in enumerate(node.aggs) if arg == i and not node.kept(j)
            ]
            if not formulas:
                continue
            joins.append(
                f'LEFT JOIN (SELECT "__GH", {", ".join(group_columns)}, {", ".join(formulas)} '
                f"FROM {rows_of(self._values(node, i), '__GH', f'V{i}')} GROUP BY ALL) AS a{i} ON {match(f'a{i}', 's')}"
            )
            selected += [f'a{i}."__A{j}"' for j, (kind, arg) in enumerate(node.aggs) if arg == i and not node.kept(j)]
        star = rows_of(self._star(node), "__H", "STAR")
        restrict = f"SEMI JOIN {groups} AS g ON {match('s', 'g')}" if groups else ""
        state = f"SELECT {', '.join(selected)} FROM {star} AS s {restrict} {' '.join(joins)}"
        lookups = " ".join(
            f'JOIN {self._out(lookup.node)} AS {lookup.alias} ON {lookup.alias}.{quote(lookup.column)} = "__S"."__G{lookup.group}"'
            for lookup in node.lookups
        )
        items = [f"{sql} AS {quote(column)}" for sql, column in zip(node.items, node.columns)]
        if keep_groups:
            items = ['"__S"."__GH"'] + [f'"__S".{c}' for c in group_columns] + items
        return f"SELECT {', '.join(items)} FROM ({state}) AS \"__S\" {lookups}"




def _same(a: str, b: str, hashed: str, columns: list[str]) -> str:
    """Rows ``a`` and ``b`` have the same key: equal hashes, then every key column equal, NULLs
    included."""
    return " AND ".join([f'{a}."{hashed}" = {b}."{hashed}"'] + [f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in columns])


def _columns(con, relation: str) -> list[str]:
    return [quote(d[0]) for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]


def _lookup(con, temp: str, relation: str, column: str, values: str) -> None:
    """Copy the rows of ``relation`` whose ``column`` is in ``values`` (with their rowid) to
    ``temp``, as a statement of its own: so DuckDB answers it from the column's index."""
    con.execute(f'CREATE OR REPLACE TEMP TABLE {temp} AS SELECT rowid AS "__R", * FROM {relation} WHERE "{column}" IN ({values})')


def _numbers(con, sql: str) -> str:
    """The integers ``sql`` returns, as a list of literals for IN (…) (``NULL`` when none):
    DuckDB answers a constant list on an indexed column by point lookups."""
    values = [str(int(row[0])) for row in con.execute(sql).fetchall()]
    return ", ".join(values) or "NULL"


def _group_columns(node: Node) -> str:
    return ", ".join(f'"__G{i}"' for i in range(len(node.groups)))


def drop(store: Store, name: str) -> None:
    """Drop every state table of dynamic table ``name`` (and none of another's)."""
    pattern = re.compile(rf"AGG_{re.escape(name)}_(HASH|N\d+_(STAR|OUT|V\d+))")
    rows = store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?", [META]
    ).fetchall()
    for (table,) in rows:
        if pattern.fullmatch(table):
            store.con.execute(f"DROP TABLE IF EXISTS {META}.{quote(table)}")


# -- recognising the queries it can maintain --------------------------------------------------
