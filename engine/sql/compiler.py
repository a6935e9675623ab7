"""The compiled query model: each dynamic table's SQL parsed, bound, typed and analysed once.

``compile_query`` is called for the dynamic tables in dependency order, each against a catalog of
what it may read: base tables' declared columns (or their generator's ``returns``), and upstream
dynamic tables' inferred output schemas. The result is read by every later stage: the graph, lint,
plan, the local engine and the UI.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from functools import cached_property

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from engine import names as identifiers
from engine.kinds import RefreshMode
from engine.sql.binder import Catalog, Problem, bind, output_names
from engine.sql.lint import Finding, RefreshDecision, analyze
from engine.sql.parsing import DIALECT, TableRef, allow_deep_queries, table_refs


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

    What ``validate`` needs (the tables read, the output schema, the refresh-mode decision, the
    problems) is computed at load, or read back from :mod:`engine.sql.cache` for a query compiled
    before; the trees are made on first use.

    Attributes:
        name: the dynamic table.
        sql: the SQL as written in the file.
        reads: the tables it names, as written.
        columns: the output schema (None when it cannot be known, e.g. ``*`` over an external table).
        decision: what Snowflake's AUTO resolves to, with the lint's findings and warnings.
        problems: what Snowflake would reject at CREATE, with SQL positions.
    """

    name: str
    sql: str
    reads: list[TableRef]
    decision: RefreshDecision | None = None
    columns: tuple[Column, ...] | None = None
    problems: tuple[Problem, ...] = ()
    catalog: Catalog | None = None  # what it was bound against
    duckdb: str | None = None  # the local engine's translation, made on first use (PipelineGraph.duckdb_sql)
    duckdb_tree: exp.Query | None = None  # that translation as a DuckDB tree (PipelineGraph.duckdb_tree)
    parsed: exp.Query | None = field(default=None, repr=False)  # the tree, when parsed at load

    @property
    def tree(self) -> exp.Query:
        """The parsed Snowflake tree, as written (never mutated: copy it to transform it)."""
        if self.parsed is None:
            self.parsed = parse(self.sql)[0]
        return self.parsed

    @cached_property
    def typed(self) -> exp.Query | None:
        """The tree with every column qualified against :attr:`catalog` and every node typed by
        sqlglot's annotate_types: the one bound tree the output schema, the local translation's
        typing and the key analysis read (None when binding failed). Never mutated."""
        if self.problems or self.catalog is None:
            return None
        bound, problems = bind(self.tree, self.catalog)
        if problems:
            return None
        return _typed(bound, self.catalog)[0]

    @property
    def bound(self) -> exp.Query | None:
        """The tree with every column qualified (None when binding failed)."""
        return self.typed

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
        return partition(self.tree, schema)

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


def read(sql: str) -> tuple[exp.Query | None, list[TableRef], RefreshDecision]:
    """Parse a dynamic table's SQL: its tree, the tables it names and the refresh-mode decision.

    The tables and the decision depend on the text alone, and are read back from the cache for a
    query seen before: the tree is then None (:attr:`CompiledQuery.tree` parses it when asked).

    Raises:
        SqlError: the SQL does not parse, or is not one query (never cached).
    """
    allow_deep_queries()  # a query read back is parsed, translated or printed later, maybe deep
    parsed = []

    def compute() -> dict:
        tree, reads = parse(sql)
        parsed.append(tree)
        return {"reads": [list(astuple(r)) for r in reads], "decision": _decision_json(analyze(tree))}

    from engine.sql import cache

    value = cache.cached("query", (sql,), compute)
    reads = [TableRef(*r) for r in value["reads"]]
    return (parsed[0] if parsed else None), reads, _decision(value["decision"])


def compile_query(name: str, sql: str, tree: exp.Query | None, reads: list[TableRef], catalog: Catalog,
                  decision: RefreshDecision | None = None) -> CompiledQuery:
    """Bind and type one query (parsed, or None when :func:`read` found it in the cache) against
    ``catalog``; the output schema of a query that bound before is read from the cache."""
    compiled = CompiledQuery(name, sql, reads, decision=decision, parsed=tree)
    if decision is None:
        compiled.decision = analyze(compiled.tree)
    # Only what it reads: a catalog of every table per query makes a wide pipeline quadratic.
    catalog = {r.name: catalog[r.name] for r in reads if r.name in catalog}

    def compute() -> list | None:
        bound, problems = bind(compiled.tree, catalog)
        if problems:
            raise _Unbound(problems)
        names = output_names(bound, compiled.tree, sql)
        typed, ok = _typed(bound, catalog)
        compiled.__dict__["typed"] = typed
        columns = _output_columns(typed, names, ok)
        return None if columns is None else [[c.name, c.type] for c in columns]

    from engine.sql import cache

    # Keyed by the columns in their order (a star expands in that order), not a dict's sorted keys.
    inputs = [[table, None if cols is None else list(cols.items())] for table, cols in catalog.items()]
    try:
        columns = cache.cached("columns", (sql, inputs), compute)
    except _Unbound as unbound:
        compiled.problems = tuple(unbound.problems)
        return compiled
    compiled.columns = None if columns is None else tuple(Column(*c) for c in columns)
    compiled.catalog = catalog
    return compiled


class _Unbound(Exception):
    """Binding found problems: reported, never cached."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems)
        self.problems = problems


def _decision_json(decision: RefreshDecision) -> dict:
    return {
        "mode": decision.mode.value,
        "reason": decision.reason,
        "findings": [list(astuple(f)) for f in decision.findings],
        "warnings": [list(astuple(f)) for f in decision.warnings],
    }


def _decision(value: dict) -> RefreshDecision:
    return RefreshDecision(
        RefreshMode(value["mode"]),
        value["reason"],
        tuple(Finding(*f) for f in value["findings"]),
        tuple(Finding(*f) for f in value["warnings"]),
    )


def parse(sql: str) -> tuple[exp.Query, list[TableRef]]:
    """Parse a dynamic table's SQL and list the tables it names (see :func:`parsing.parse_select`)."""
    from engine.sql.parsing import parse_select

    tree = parse_select(sql)
    return tree, table_refs(tree)


def _typed(bound: exp.Query, catalog: Catalog) -> tuple[exp.Query, bool]:
    """``bound`` with its nodes typed (in place), and whether typing succeeded: it is best effort,
    an untyped column is still a column."""
    try:
        return annotate_types(bound, schema=identifiers.schema(catalog), dialect=DIALECT), True
    except Exception:  # noqa: BLE001 - the optimizer's internals on any SQL
        return bound, False


def _output_columns(typed: exp.Query, names: list[str], ok: bool) -> tuple[Column, ...] | None:
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in typed.selects):
        return None
    if not ok:
        return tuple(Column(name, None) for name in names)
    return tuple(Column(name, snowflake_type(s)) for name, s in zip(names, typed.selects))


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
    return _SNOWFLAKE_NAMES.get(datatype.this.value, datatype.sql(dialect=DIALECT))


_ARITHMETIC = (exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Div, exp.Mul, exp.Add, exp.Sub, exp.Paren, exp.Neg)


def _fixed(node: exp.Expression) -> bool:
    """Whether a numeric expression is fixed-point on Snowflake (NUMBER), even where sqlglot's typing
    guessed a DOUBLE for an average or a quotient of NUMBERs."""
    if isinstance(node, _ARITHMETIC):
        return all(_fixed(arg) for arg in node.iter_expressions())
    if isinstance(node, exp.Literal):
        return node.is_number and "e" not in node.name.lower()
    datatype = node.type
    return datatype is not None and datatype.is_type(*exp.DataType.INTEGER_TYPES, exp.DataType.Type.DECIMAL)
