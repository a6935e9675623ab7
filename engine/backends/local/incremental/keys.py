"""Keys: the affected output keys of a change, and the predicates that find their rows.

The key of an input (:class:`engine.sql.partition.KeyMap`) is an expression over the input's
columns, a Snowflake tree of the compiled model. The queries that compute it over a change and
that select the input rows holding an affected key are built around that tree, and translated
for DuckDB once, when the table's incremental plan is made.
"""

from __future__ import annotations

from sqlglot import exp

from engine.backends.local.incremental.restriction import matching
from engine.backends.local.incremental.trees import column, run, temp
from engine.backends.local.store import LOOKUP_KEYS
from engine.sql.partition import KeyMap

# Up to this many text or integer keys are looked up as a literal IN list, or by a join within
# Store.lookups, which DuckDB answers from an index on the key column instead of scanning the
# whole column.
MAX_LITERAL_KEYS = LOOKUP_KEYS
INTEGER_TYPES = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}
LOOKUP_TYPES = INTEGER_TYPES | {"VARCHAR"}
KEYS = "__PIPE_KEYS"  # the affected keys of the first (often only) keyed output column, in K


def key_values(key: KeyMap) -> exp.Select:
    """``SELECT DISTINCT <key> AS K FROM __PIPE_DELTA`` (Snowflake): the keys of a change."""
    return exp.select(exp.alias_(key.tree.copy(), "K")).distinct().from_(temp("__PIPE_DELTA"))


def keyed_rows(table: str, key: KeyMap, has_rowid: bool) -> exp.Select:
    """The rows of ``table`` whose key is in ``__PIPE_KEYS`` (Snowflake), NULL included, read by
    rowid (see :func:`.restriction.matching`); ``has_rowid``: no column of it is named ROWID."""
    source = exp.table_(exp.to_identifier(table, quoted=True))
    return matching(source, in_keys(exp.paren(key.tree.copy())), has_rowid)


def in_keys(key: exp.Expression) -> exp.Expression:
    """Whether ``key`` is one of the keys in ``__PIPE_KEYS``, NULL included."""
    keys = exp.select(exp.column("K")).from_(temp(KEYS))
    null_key = exp.select(exp.Literal.number(1)).from_(temp(KEYS)).where(exp.column("K").is_(exp.null()))
    return exp.or_(
        key.isin(query=keys),
        exp.and_(key.copy().is_(exp.null()), exp.Exists(this=null_key)),
    )


def ensure_indexes(store, wanted: list[tuple[exp.Table, str, str]]) -> None:
    """Create each index ``(relation, name, column)`` of ``wanted`` that does not exist yet and
    that :func:`affordable` allows."""
    existing = store.kept_indexes()
    for relation, name, key in wanted:
        if name not in existing:
            ensure_index(store, relation, name, key)


def ensure_index(store, relation: exp.Table, name: str, key: str) -> bool:
    """Index ``relation`` on ``key`` as ``name`` (which does not exist yet) when
    :func:`affordable`; says whether it did. Without the index, a lookup of a few keys scans
    the column: slower, and bounded in memory.

    Kept tables are indexed by the first incremental refresh that looks rows up in them, not by
    the full refresh that builds them: building the indexes is about a quarter of a full
    refresh's work (and of its commit), wasted when the next refresh recomputes the table too.
    """
    if not affordable(store, relation, key):
        return False
    run(store.con, "CREATE INDEX __X_name ON __X_relation (__X_key)", name=name, relation=relation, key=key)
    return True


def has_index(store, relation: exp.Table, name: str, key: str) -> bool:
    """Whether ``relation`` has pipe's index ``name`` on ``key``: there already (the catalog of its
    schema says), or built now by :func:`ensure_index`."""
    return name in store.indexes(relation.db or store.schema) or ensure_index(store, relation, name, key)


# Bytes of memory DuckDB's index (ART) takes per row while it is built, measured on DuckDB 2.0
# for 5M rows: 93 for 64-bit integer keys, 124 for 16-character text. An index is built in
# memory at once (it can be spilled only once built), so one that would take more than
# INDEX_SHARE of DuckDB's memory limit is not built: at 100M events a session table's index
# would need more than the whole default limit.
INDEX_BYTES_PER_ROW = {"integer": 96, "other": 128}
INDEX_SHARE = 0.5


def affordable(store, relation: exp.Table, key: str) -> bool:
    """Whether an index of ``relation`` on ``key`` fits :data:`INDEX_SHARE` of the memory limit."""
    per_row = INDEX_BYTES_PER_ROW["integer" if store.type_of(relation, key) in INTEGER_TYPES else "other"]
    rows = store.estimated_sizes(relation.db or store.schema, [relation.name]).get(relation.name, 0)
    return rows * per_row <= INDEX_SHARE * store.memory_limit_bytes()


def literals(store, relation: exp.Table, key: str, values: list, kind: str | None = None) -> list[exp.Literal] | None:
    """The keys as literals of ``relation.key``'s type (``kind``, when the caller knows it), when
    it is text or an integer, none is NULL and they are few; else None."""
    distinct = few(values)
    found = None if distinct is None else _typed(kind or store.type_of(relation, key), distinct)
    if found is None:
        return None
    return [exp.Literal.string(v) if isinstance(v, str) else exp.Literal.number(v) for v in found]


def listed(kind: str, values: list) -> str | None:
    """The keys as the SQL text of a literal list (``'a', 'b'`` or ``1, 2``) for a column of DuckDB
    type ``kind``, when it is text or an integer, none is NULL and they are few; else None.

    Printed as text, not as a node per value: the list changes at every refresh, and building
    and printing hundreds of nodes costs more than the lookup it serves."""
    distinct = few(values)
    if distinct is None or any(isinstance(v, str) and "\x00" in v for v in distinct):
        return None
    found = _typed(kind, distinct)
    if found is None:
        return None
    return ", ".join("'" + v.replace("'", "''") + "'" if isinstance(v, str) else str(v) for v in found)


def few(values: list) -> set | None:
    """The distinct keys, when there are some and no more than :data:`MAX_LITERAL_KEYS`."""
    distinct = set(values)
    return distinct if distinct and len(distinct) <= MAX_LITERAL_KEYS else None


def _typed(kind: str, distinct: set) -> list | None:
    """``distinct`` in order, when they are all text for a text column or all integers for an
    integer column (a NULL is neither); else None."""
    if kind == "VARCHAR" and all(isinstance(v, str) for v in distinct):
        return sorted(distinct)
    if kind in LOOKUP_TYPES and all(isinstance(v, int) and not isinstance(v, bool) for v in distinct):
        return sorted(distinct)
    return None


def key_predicate(con, target: exp.Table, affected: dict[str, list]) -> exp.Expression:
    """``O IN (SELECT K FROM __PIPE_KEYS…) OR …``: the affected keys (NULL included) go to
    temporary tables typed as ``target``'s columns, so DuckDB matches them with a hash join,
    however many there are."""
    terms = []
    for i, (name, values) in enumerate(affected.items()):
        keys = temp(KEYS if i == 0 else f"{KEYS}_{i}")
        distinct = list(dict.fromkeys(values))
        run(con, "CREATE OR REPLACE TEMP TABLE __X_keys AS SELECT __X_column AS K FROM __X_target LIMIT 0",
            keys=keys, column=column(name), target=target)
        run(con, "INSERT INTO __X_keys SELECT unnest(?)", [distinct], keys=keys)
        if any(v is not None for v in distinct):
            terms.append(column(name).isin(query=exp.select(exp.column("K")).from_(keys)))
        if any(v is None for v in distinct):
            terms.append(column(name).is_(exp.null()))
    return exp.or_(*terms) if terms else exp.false()
