"""The compiled query model: each dynamic table's SQL parsed, bound, typed and analysed once.

``compile_query`` is called for the dynamic tables in dependency order, each against a catalog of
what it may read: base tables' declared columns (or their generator's ``returns``), and upstream
dynamic tables' inferred output schemas. The result is read by every later stage: the graph, lint,
plan, the local engine and the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from engine import names as identifiers
from engine.kinds import RefreshMode
from engine.sql.facts import RefreshDecision, TableRef

if TYPE_CHECKING:  # sqlglot is imported where a query is compiled: a cached compile needs none of it
    from sqlglot import exp

    from engine.sql.binder import Catalog, Problem


@dataclass(frozen=True)
class Column:
    """One output column: its name as Snowflake shows it, and its Snowflake type (None: not known)."""

    name: str
    type: str | None

    def __str__(self) -> str:
        return f"{self.name} {self.type or 'UNKNOWN'}"


@dataclass(frozen=True)
class RefreshModes:
    """What a dynamic table's refresh mode resolves to on Snowflake and in the local engine, and why."""

    snowflake: str
    snowflake_reason: str
    local: str
    local_reason: str

    @property
    def differs(self) -> bool:
        """Whether the local engine refreshes fully where Snowflake would refresh incrementally."""
        return self.snowflake != self.local


@dataclass
class CompiledQuery:
    """A dynamic table's query, compiled.

    Attributes:
        name: the dynamic table.
        sql: the SQL as written in the file.
        tree: the parsed Snowflake tree, as written (never mutated: copy it to transform it).
        reads: the tables it names, as written.
        bound: the tree with every column qualified (None when binding failed).
        columns: the output schema (None when it cannot be known, e.g. ``*`` over an external table).
        decision: what Snowflake's AUTO resolves to, with the lint's findings and warnings.
        problems: what Snowflake would reject at CREATE, with SQL positions.
    """

    name: str
    sql: str
    tree: exp.Query
    reads: list[TableRef]
    bound: exp.Query | None = None
    columns: tuple[Column, ...] | None = None
    decision: RefreshDecision | None = None
    problems: tuple[Problem, ...] = ()
    catalog: Catalog | None = None  # what it was bound against
    duckdb: str | None = None  # the local engine's translation, made on first use (PipelineGraph.duckdb_sql)
    duckdb_tree: exp.Query | None = None  # that translation as a DuckDB tree (PipelineGraph.duckdb_tree)
    types: dict[int, exp.DataType] | None = None  # each typed node of tree by its number (parsing.NODE)

    @cached_property
    def partitioning(self):
        """How the local engine traces each input's changes to output rows
        (:class:`engine.sql.partition.Partitioning`), or None when an input's columns are unknown.
        Computed on first use: only the local engine and its validation need it."""
        from engine.sql.partition import analyze as partition

        schema = {}
        for table in dict.fromkeys(r.name for r in self.reads):
            columns = (self.catalog or {}).get(table)
            if columns is None:
                return None
            schema[table] = list(columns)
        bound = self._bound_if_made()
        return partition(self.tree, schema) if bound is None else partition(bound, schema, qualified=True)

    def _bound_if_made(self) -> exp.Query | None:
        """The bound tree when it is at hand (the key analysis then needs no qualifying of its own)."""
        return self.bound

    @property
    def column_types(self) -> dict[str, str] | None:
        """The output schema as a catalog entry (unknown types as UNKNOWN)."""
        if self.columns is None:
            return None
        return {c.name: c.type or "UNKNOWN" for c in self.columns}

    def snowflake_mode(self, refresh_mode: str) -> tuple[RefreshMode, str]:
        """What the declared ``refresh_mode`` resolves to on Snowflake, and why (:func:`resolve_mode`)."""
        return resolve_mode(refresh_mode, self.decision)

    def modes(self, refresh_mode: str) -> RefreshModes:
        """What ``refresh_mode`` (auto, full or incremental) resolves to, on Snowflake and locally."""
        snowflake = self.snowflake_mode(refresh_mode)
        if snowflake[0] is RefreshMode.FULL:
            return RefreshModes(*snowflake, *snowflake)
        local_reason = self.local_full_reason()
        if local_reason is None:
            return RefreshModes(*snowflake, RefreshMode.INCREMENTAL, "every input's changed rows can be traced to output rows")
        return RefreshModes(*snowflake, RefreshMode.FULL, local_reason)

    def local_full_reason(self) -> str | None:
        """Why the local engine cannot refresh this query incrementally, or None when it can
        (kept in :mod:`engine.sql.cache`: it depends only on the query and its inputs' columns)."""
        from engine.sql import cache

        known = self.catalog or {}
        inputs = {r.name: None if known.get(r.name) is None else list(known[r.name]) for r in self.reads}
        return cache.cached("local_full_reason", (self.sql, inputs), self._local_full_reason)

    def _local_full_reason(self) -> str | None:
        partitioning = self.partitioning
        if partitioning is None:
            return "the columns of its inputs are not known"
        for table in sorted({*partitioning.keys, *partitioning.reasons}):
            if table not in partitioning.keys:
                return f"{partitioning.reasons.get(table, f'no key for {table}')}"
        return None


def resolve_mode(refresh_mode: str, decision: RefreshDecision) -> tuple[RefreshMode, str]:
    """What a declared ``refresh_mode`` (auto, full or incremental) resolves to on Snowflake, and
    why: AUTO resolves once, at creation, to the lint's ``decision``; the others are as declared."""
    declared = RefreshMode.of(refresh_mode)
    if declared is RefreshMode.AUTO:
        return RefreshMode(decision.mode), decision.reason
    return declared, f"refresh_mode is {refresh_mode}"


def compile_query(name: str, sql: str, tree: exp.Query, reads: list[TableRef], catalog: Catalog) -> CompiledQuery:
    """Bind, type and analyse one parsed query against ``catalog``."""
    from sqlglot import exp

    from engine.sql.binder import bind, output_names
    from engine.sql.lint import analyze

    compiled = CompiledQuery(name, sql, tree, reads, decision=analyze(tree))
    # Only what it reads: a catalog of every table per query makes a wide pipeline quadratic.
    catalog = {r.name: catalog[r.name] for r in reads if r.name in catalog}
    bound, problems = bind(tree, catalog)
    compiled.problems = tuple(problems)
    if problems:
        return compiled
    compiled.bound = bound
    compiled.columns, types = _output_columns(bound, catalog, output_names(bound, tree, sql))
    if not any(_is_star(p) for select in tree.find_all(exp.Select) for p in select.selects):
        compiled.types = types  # (binding expands a star: its columns would be typed otherwise)
    compiled.catalog = catalog
    return compiled


def parse(sql: str) -> tuple[exp.Query, list[TableRef]]:
    """Parse a dynamic table's SQL and list the tables it names (see :func:`parsing.parse_select`)."""
    from engine.sql.parsing import parse_select, table_refs

    tree = parse_select(sql)
    return tree, table_refs(tree)


def _output_columns(
    bound: exp.Query, catalog: Catalog, names: list[str]
) -> tuple[tuple[Column, ...] | None, dict[int, exp.DataType] | None]:
    """The output schema, and the type of each node typing could tell, by its number (the types the
    translation's rules read: :func:`engine.sql.dialect_annotate.annotate`)."""
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types

    from engine.sql.parsing import NODE, dialect

    if any(_is_star(s) for s in bound.selects):
        return None, None
    # Typing only notes types on the nodes, except where it restores the case of VARIANT path keys
    # (``a.b``): without those, the bound tree is typed as it is, and its types taken off again
    # below, which costs less than a copy of it.
    in_place = bound.find(exp.Dot) is None
    typed = bound if in_place else bound.copy()
    try:
        annotate_types(typed, schema=identifiers.schema(catalog), dialect=dialect())
    except Exception:  # noqa: BLE001 - typing is best effort: an untyped column is still a column
        if in_place:
            _untype(bound)
        return tuple(Column(name, None) for name in names), None
    types = {}
    for node in typed.walk():
        at, datatype = node.meta_get(NODE), node.type
        if at is not None and datatype is not None and datatype.this != exp.DataType.Type.UNKNOWN:
            types[at] = datatype
    columns = tuple(Column(name, snowflake_type(s)) for name, s in zip(names, typed.selects))
    if in_place:
        _untype(bound)
    return columns, types


def _untype(tree: exp.Expression) -> None:
    """Take off what typing noted on ``tree``'s nodes (their types, and the notes it keeps in their
    meta), leaving it as binding made it."""
    for node in tree.walk():
        node.type = None
        meta = node._meta
        if meta:
            for note in _TYPING_NOTES:
                meta.pop(note, None)


_TYPING_NOTES = ("nonnull", "query_type")  # what sqlglot's annotate_types writes in a node's meta


def _is_star(projection: exp.Expression) -> bool:
    from sqlglot import exp

    return isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star)


_SNOWFLAKE_NAMES = {
    "BIGINT": "NUMBER(38,0)",
    "INT": "NUMBER(38,0)",
    "SMALLINT": "NUMBER(38,0)",
    "TINYINT": "NUMBER(38,0)",
    "DOUBLE": "FLOAT",
    "FLOAT": "FLOAT",
    "VARCHAR": "VARCHAR",
    "TEXT": "VARCHAR",
    "CHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "TIMESTAMPNTZ": "TIMESTAMP_NTZ",
    "DATETIME": "TIMESTAMP_NTZ",
    "TIMESTAMPTZ": "TIMESTAMP_TZ",
    "TIMESTAMPLTZ": "TIMESTAMP_LTZ",
    "VARIANT": "VARIANT",
    "JSON": "VARIANT",
    "OBJECT": "OBJECT",
    "STRUCT": "OBJECT",
    "MAP": "OBJECT",
    "ARRAY": "ARRAY",
    "BINARY": "BINARY",
    "VARBINARY": "BINARY",
    "GEOGRAPHY": "GEOGRAPHY",
}


def snowflake_type(projection: exp.Expression) -> str | None:
    """The Snowflake name of a typed projection's type (None when it is not known)."""
    from sqlglot import exp

    from engine.sql.parsing import text

    datatype = projection.type
    value = projection.this if isinstance(projection, exp.Alias) else projection
    if datatype is None or datatype.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return "VARIANT" if isinstance(value, (exp.JSONExtract, exp.Bracket)) else None
    if isinstance(value, exp.Round) and isinstance(value.args.get("decimals"), exp.Literal) and _fixed(value.this):
        return f"NUMBER(38,{value.args['decimals'].name})"  # ROUND of a fixed-point value keeps n decimals
    if isinstance(value, (exp.Avg, exp.Div)) and _fixed(value):
        return None  # Snowflake gives these a fixed-point scale that is not modelled here
    if datatype.this == exp.DataType.Type.DECIMAL:
        params = [p.name for p in datatype.expressions]
        precision, scale = (params + ["38", "0"][len(params):])[:2]
        return f"NUMBER({precision},{scale})"
    name = _SNOWFLAKE_NAMES.get(datatype.this.value)
    return name if name is not None else text(datatype)


def _fixed(node: exp.Expression) -> bool:
    """Whether a numeric expression is fixed-point on Snowflake (NUMBER), even where sqlglot's typing
    guessed a DOUBLE for an average or a quotient of NUMBERs."""
    from sqlglot import exp

    if isinstance(node, (exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Div, exp.Mul, exp.Add, exp.Sub, exp.Paren, exp.Neg)):
        return all(_fixed(arg) for arg in node.iter_expressions())
    if isinstance(node, exp.Literal):
        return node.is_number and "e" not in node.name.lower()
    datatype = node.type
    return datatype is not None and datatype.is_type(*exp.DataType.INTEGER_TYPES, exp.DataType.Type.DECIMAL)
