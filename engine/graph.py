"""The pipeline as a networkx DAG: dependencies inferred from SQL, orders and lag rules.

``validate`` and ``plan`` need only the create order, a cycle check and each object's direct
neighbours: the standard library's :mod:`graphlib` gives the first two, so networkx (slow to import)
is imported only when :attr:`PipelineGraph.graph` is first read.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError as _Cycle, TopologicalSorter
from typing import TYPE_CHECKING

from engine import names
from engine.errors import CycleError, Errors, GraphError, Location, PipeError, SqlError, did_you_mean
from engine.kinds import ObjectKind, RefreshMode
from engine.lag import format_lag
from engine.spec.model import Pipeline
from engine.sql import recall
from engine.sql.compiler import CompiledQuery, resolve_mode
from engine.sql.facts import RefreshDecision
from engine.sql.limits import allow_deep_queries

if TYPE_CHECKING:
    import networkx as nx

TABLE = ObjectKind.TABLE
EXTERNAL = ObjectKind.EXTERNAL
DYNAMIC_TABLE = ObjectKind.DYNAMIC_TABLE


@dataclass(frozen=True)
class Warning_:
    """Something valid but probably not what the user wants."""

    message: str
    location: Location

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


@dataclass
class PipelineGraph:
    """Tables and dynamic tables, with an edge from each object to the dynamic tables reading it.

    Attributes:
        reads: each dynamic table -> the declared objects its query names (each once).
    """

    pipeline: Pipeline
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    decisions: dict[str, RefreshDecision] = field(default_factory=dict)
    queries: dict[str, CompiledQuery] = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)

    def kind(self, name: str) -> ObjectKind:
        """TABLE, EXTERNAL or DYNAMIC_TABLE."""
        return self._kinds[name]

    @cached_property
    def _kinds(self) -> dict[str, ObjectKind]:
        """Every object, in declaration order (base tables first), with its kind."""
        kinds = {name: EXTERNAL if table.external else TABLE for name, table in self.pipeline.tables.items()}
        kinds.update(dict.fromkeys(self.pipeline.dynamic_tables, DYNAMIC_TABLE))
        return kinds

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG as a networkx graph, each node with its ``kind``; made on first use."""
        import networkx as nx

        graph = nx.DiGraph()
        for name, kind in self._kinds.items():
            graph.add_node(name, kind=kind)
        graph.add_edges_from((source, name) for name, sources in self.reads.items() for source in sources)
        return graph

    @cached_property
    def _readers(self) -> dict[str, tuple[str, ...]]:
        """Each object -> the dynamic tables that read it directly."""
        readers: dict[str, list[str]] = {name: [] for name in self._kinds}
        for name, sources in self.reads.items():
            for source in sources:
                readers[source].append(name)
        return {name: tuple(found) for name, found in readers.items()}

    @cached_property
    def create_order(self) -> list[str]:
        """Every object, each after all it reads; ties broken by declaration order."""
        position = {name: i for i, name in enumerate(self._kinds)}
        sorter = TopologicalSorter({name: self.reads.get(name, ()) for name in self._kinds})
        sorter.prepare()
        ready = [(position[name], name) for name in sorter.get_ready()]
        heapq.heapify(ready)
        order = []
        while ready:
            name = heapq.heappop(ready)[1]
            order.append(name)
            sorter.done(name)
            for reader in sorter.get_ready():
                heapq.heappush(ready, (position[reader], reader))
        return order

    @cached_property
    def _position(self) -> dict[str, int]:
        """Each object's index in :attr:`create_order`, to sort neighbours without a scan."""
        return {name: i for i, name in enumerate(self.create_order)}

    def _in_order(self, names) -> list[str]:
        return sorted(names, key=self._position.__getitem__)

    @property
    def drop_order(self) -> list[str]:
        """The reverse of :attr:`create_order`."""
        return list(reversed(self.create_order))

    @cached_property
    def _dynamic_tables(self) -> tuple[str, ...]:
        return tuple(n for n in self.create_order if self.kind(n) == DYNAMIC_TABLE)

    @property
    def dynamic_tables(self) -> list[str]:
        """Dynamic tables in create order."""
        return list(self._dynamic_tables)

    def upstream(self, name: str) -> list[str]:
        """Objects ``name`` reads directly, in create order."""
        return self._in_order(self.reads.get(name, ()))

    def downstream(self, name: str) -> list[str]:
        """Dynamic tables reading ``name`` directly, in create order."""
        return self._in_order(self._readers[name])

    def all_downstream(self, name: str) -> list[str]:
        """Every dynamic table that reads ``name``, directly or not, in create order."""
        import networkx as nx

        return self._in_order(nx.descendants(self.graph, name))

    def all_upstream(self, name: str) -> list[str]:
        """Every object ``name`` reads, directly or not, in create order."""
        import networkx as nx

        return self._in_order(nx.ancestors(self.graph, name))

    def refresh_mode(self, name: str) -> tuple[RefreshMode, str]:
        """What dynamic table ``name``'s declared refresh mode resolves to on Snowflake, and why."""
        return resolve_mode(self.pipeline.dynamic_tables[name].refresh_mode, self.decisions[name])

    def types(self) -> dict[str, dict[str, str]]:
        """The Snowflake column types of every object whose columns are known: base tables as
        declared, dynamic tables as their compiled queries infer them."""
        known = {name: columns for name, columns in self._base_catalog.items() if columns is not None}
        for name, compiled in self.queries.items():
            if compiled.column_types is not None:
                known[name] = compiled.column_types
        return known

    def duckdb_tree(self, name: str):
        """:meth:`duckdb_sql` read back once as a DuckDB tree, the form the local engine's
        incremental refresh builds its maintenance queries from (copy it to transform it).

        Raises:
            sqlglot.errors.ParseError: the translation does not parse back.
        """
        compiled = self.queries[name]
        if compiled.duckdb_tree is None:
            import sqlglot

            compiled.duckdb_tree = sqlglot.parse_one(self.duckdb_sql(name), read="duckdb")
        return compiled.duckdb_tree

    @cached_property
    def _base_catalog(self) -> dict[str, dict[str, str] | None]:
        return catalog(self.pipeline)

    @cached_property
    def _base_types_in_sql(self) -> dict[str, dict[str, str]]:
        """Each base table whose columns are known -> its columns' types, names as SQL writes them
        (:meth:`_types_read_by`'s form, made once per table rather than per query reading it)."""
        return {
            names.sql(table): {names.sql(c): t for c, t in columns.items()}
            for table, columns in self._base_catalog.items() if columns is not None
        }

    def _types_read_by(self, name: str) -> dict[str, dict[str, str]]:
        """:meth:`types` of only the objects dynamic table ``name`` reads (linear in a wide pipeline)."""
        known = {}
        for ref in self.queries[name].reads:
            compiled = self.queries.get(ref.name)
            if compiled is None:
                columns = self._base_types_in_sql.get(names.sql(ref.name))
                if columns is not None:
                    known[names.sql(ref.name)] = dict(columns)
            elif compiled.column_types is not None:
                known[names.sql(ref.name)] = {names.sql(c): t for c, t in compiled.column_types.items()}
        return known

    def duckdb_sql(self, name: str, *, last_use: bool = False) -> str:
        """Dynamic table ``name``'s query translated for the local engine (once), typed by
        :meth:`types`; ``last_use``: nothing reads its compiled tree after this (the translation
        rewrites it instead of a copy: the compile's bound tree is another).

        Raises:
            SqlError: the local engine cannot run it (at its YAML line and column).
        """
        compiled = self.queries[name]
        if compiled.duckdb is None:
            from engine.sql import cache

            target, types = self.pipeline.snowflake, self._types_read_by(name)

            def translate() -> str:
                from engine.sql.translate import to_duckdb

                return to_duckdb(
                    compiled.sql, database=target.database, schema=target.schema_name,
                    catalog=types, parsed=compiled.tree, types=compiled.types, consume=last_use,
                )

            try:
                compiled.duckdb = cache.cached(
                    "duckdb", (compiled.sql, target.database, target.schema_name, types), translate
                )
            except SqlError as exc:
                exc.location = _sql_location(self.pipeline, name, exc.sql_line, exc.sql_column)
                if not exc.hint:
                    exc.hint = "the local engine cannot run this; rewrite it or use --target snowflake"
                raise
        return compiled.duckdb

    def levels(self) -> dict[str, int]:
        """Depth of each object: 0 for base tables, 1 + the deepest input otherwise."""
        depth: dict[str, int] = {}
        for name in self.create_order:
            preds = self.reads.get(name, ())
            depth[name] = 1 + max(depth[p] for p in preds) if preds else 0
        return depth

    @cached_property
    def _effective_lags(self) -> dict[str, int | None]:
        # Consumers come after what they read in create order: walking it backwards, every
        # consumer's effective lag is known before its inputs' (no recursion, one pass).
        lags: dict[str, int | None] = {}
        for name in reversed(self._dynamic_tables):
            own = self.pipeline.dynamic_tables[name].lag_seconds
            if own is None:
                found = [lags[c] for c in self._readers[name] if lags.get(c) is not None]
                own = min(found) if found else None
            lags[name] = own
        return lags

    def effective_lag(self, name: str) -> int | None:
        """The lag a dynamic table is kept within: its own, or for DOWNSTREAM the smallest
        effective lag among its consumers (None when nothing time-lagged consumes it)."""
        return self._effective_lags[name]


def build_graph(pipeline: Pipeline) -> PipelineGraph:
    """Build and check the DAG of ``pipeline``, compiling each dynamic table's query on the way.

    Every query is parsed once; the graph follows the tables it names; then, in dependency order,
    each query is bound against what it reads (base tables' columns, upstream dynamic tables'
    output schemas) and typed.

    Raises:
        SqlError: a query does not parse or does not bind (table, SQL line and column).
        GraphError: a query reads an unknown name, or a lag rule is broken.
        CycleError: the dynamic tables read each other in a cycle.
        Errors: several of these, one per problem found.
    """
    allow_deep_queries()  # a query read back from the cache is parsed or translated later, maybe deep
    reads: dict[str, dict[str, None]] = {}
    errors: list[PipeError] = []
    parsed, trees = {}, {}
    for name, dt in pipeline.dynamic_tables.items():
        try:
            refs = _parse(pipeline, name, dt.sql, trees)
        except SqlError as exc:
            errors.append(exc)
            continue
        resolved = True
        sources = reads.setdefault(name, {})
        for ref in refs:
            try:
                source = _resolve(pipeline, name, ref)
            except GraphError as exc:
                errors.append(exc)
                resolved = False
                continue
            if source == name:
                raise CycleError([name], location=_sql_location(pipeline, name, ref.line, ref.column))
            sources[source] = None
        if resolved:
            parsed[name] = refs
    result = PipelineGraph(pipeline, {name: tuple(sources) for name, sources in reads.items()})
    _check_cycles(pipeline, result.reads)
    _compile(result, parsed, trees, errors)
    Errors.raise_if_any(errors)
    from engine.checks.declared import check_declarations  # checks name the compiled columns

    check_declarations(pipeline, result)
    _check_refresh_modes(result)
    _check_lags(result)
    return result


def catalog(pipeline: Pipeline) -> dict[str, dict[str, str] | None]:
    """What the base tables offer a query: name -> columns (name -> Snowflake type), or None for an
    external table declared without columns."""
    entries: dict[str, dict[str, str] | None] = {}
    for name, table in pipeline.tables.items():
        if table.columns is not None:
            entries[name] = {names.resolve(column): kind for column, kind in table.columns.items()}
        elif table.generator is not None:
            returns = pipeline.generator(table.generator).returns
            entries[name] = {names.resolve(column): kind for column, kind in returns.items()}
        else:
            entries[name] = None
    return entries


def _compile(result: PipelineGraph, parsed: dict, trees: dict, errors: list[PipeError]) -> None:
    """Compile the parsed queries in dependency order, each against what it reads (read back from
    the cache when it holds them: :mod:`engine.sql.recall`)."""
    pipeline = result.pipeline
    entries = catalog(pipeline)
    for name in result.dynamic_tables:
        if name not in parsed:
            entries[name] = None  # its own error is reported; its readers bind leniently
            continue
        dt = pipeline.dynamic_tables[name]
        compiled = recall.compiled(name, dt.sql, parsed[name], entries, trees)
        result.queries[name] = compiled
        result.decisions[name] = compiled.decision
        entries[name] = compiled.column_types
        for problem in compiled.problems:
            errors.append(
                SqlError(
                    problem.message,
                    location=_sql_location(pipeline, name, problem.line, problem.column),
                    hint=problem.hint,
                    sql=dt.sql,
                    sql_line=problem.line,
                    sql_column=problem.column,
                )
            )


def _sql_location(pipeline: Pipeline, name: str, line: int | None, column: int | None = None) -> Location:
    return pipeline.locate("dynamic_tables", name, "sql", table=name, sql_line=line, sql_column=column)


def _parse(pipeline: Pipeline, name: str, sql: str, trees: dict):
    try:
        return recall.table_refs(sql, trees)
    except SqlError as exc:
        exc.location = _sql_location(pipeline, name, exc.sql_line, exc.sql_column)
        raise


def in_target_schema(pipeline: Pipeline, ref) -> bool:
    """Whether a table reference reads the pipeline's own schema (unqualified, or qualified with
    its database and schema)."""
    target = pipeline.snowflake
    return (not ref.database or ref.database == target.database) and (
        not ref.schema or ref.schema == target.schema_name
    )


def _resolve(pipeline: Pipeline, dt_name: str, ref) -> str:
    """The declared object a table reference names, or a GraphError."""
    target = pipeline.snowflake
    qualified_elsewhere = not in_target_schema(pipeline, ref)
    if not qualified_elsewhere and (ref.name in pipeline.tables or ref.name in pipeline.dynamic_tables):
        return ref.name  # looked up by key: a scan of every name per reference is quadratic in a wide file
    declared = pipeline.object_names
    other_case = next((n for n in declared if n.casefold() == ref.name.casefold()), None)
    if not qualified_elsewhere and other_case is not None:
        # A quoted name in another case is another object on Snowflake (sql-reference/identifiers-syntax).
        hint = (f'unquote it or write "{other_case}"' if not names.needs_quotes(other_case)
                else f"write it {names.sql(other_case)}: quoted names keep their case")
    elif qualified_elsewhere:
        hint = (
            f"a pipeline reads only {target.database}.{target.schema_name}; declare a table that "
            "exists there under tables: with external: true"
        )
    else:
        hint = did_you_mean(ref.name, pipeline.object_names) or (
            "declare it under tables: (use external: true for a table that already exists)"
        )
    raise GraphError(
        f"unknown table {ref.written} in the SQL of {dt_name}",
        location=_sql_location(pipeline, dt_name, ref.line, ref.column),
        hint=hint,
    )


def _check_cycles(pipeline: Pipeline, reads: dict[str, tuple[str, ...]]) -> None:
    try:
        TopologicalSorter(reads).prepare()
    except _Cycle as exc:
        names = exc.args[1][:-1]  # each reads the one before; the first is repeated at the end
    else:
        return
    # Start the printed cycle at the first one declared, for a stable message.
    order = list(pipeline.dynamic_tables)
    start = min(range(len(names)), key=lambda i: order.index(names[i]))
    names = names[start:] + names[:start]
    raise CycleError(names, location=_sql_location(pipeline, names[0], None))


def _check_refresh_modes(result: PipelineGraph) -> None:
    pipeline = result.pipeline
    for name, dt in pipeline.dynamic_tables.items():
        decision = result.decisions[name]
        for warning in decision.warnings:
            result.warnings.append(Warning_(warning.reason, _sql_location(pipeline, name, warning.line, warning.column)))
        if RefreshMode.of(dt.refresh_mode) is RefreshMode.INCREMENTAL and not decision.incremental:
            finding = decision.findings[0]
            raise SqlError(
                f"refresh_mode incremental is not possible: {finding.reason} "
                "(Snowflake rejects the CREATE with error 002711)",
                location=_sql_location(pipeline, name, finding.line, finding.column),
                hint="use refresh_mode: auto or full, or rewrite the query",
            )


def _check_lags(result: PipelineGraph) -> None:
    pipeline = result.pipeline
    for name, dt in pipeline.dynamic_tables.items():
        lag = dt.lag_seconds
        for source in result.upstream(name):
            if result.kind(source) != DYNAMIC_TABLE:
                continue
            upstream_lag = pipeline.dynamic_tables[source].lag_seconds
            if lag is not None and upstream_lag is not None and upstream_lag > lag:
                raise GraphError(
                    f"target lag {format_lag(dt.target_lag)} of {name} is shorter than the "
                    f"{format_lag(pipeline.dynamic_tables[source].target_lag)} of {source}, which it reads",
                    location=pipeline.locate("dynamic_tables", name, "target_lag", table=name),
                    hint=f"make {name}'s lag at least {source}'s, or set {source} to downstream",
                )
        if lag is None and result.effective_lag(name) is None:
            result.warnings.append(
                Warning_(
                    "target_lag is downstream but no dynamic table with a time lag reads it, directly or "
                    "not: Snowflake would never refresh it after creation",
                    pipeline.locate("dynamic_tables", name, "target_lag", table=name),
                )
            )
