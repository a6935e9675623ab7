"""Keys: the affected output keys of a change, and the predicates that find their rows."""

from __future__ import annotations

from engine.backends.local.store import column_type, quote

# Up to this many text or integer keys are looked up as a literal IN list, which DuckDB answers
# from an index on the key column instead of scanning the whole column.
MAX_LITERAL_KEYS = 2_000
LOOKUP_TYPES = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}


def index(con, relation: str, index: str, column: str) -> None:
    """An index on ``relation.column`` when its type allows literal lookups (see ``literals``)."""
    if column_type(con, relation, quote(column)) in LOOKUP_TYPES:
        con.execute(f"CREATE INDEX {quote(index)} ON {relation} ({quote(column)})")


def literals(con, relation: str, column: str, values: list) -> str | None:
    """``(v1, v2, …)``: the keys as SQL literals of ``relation.column``'s type, when it is text
    or an integer, none is NULL and they are few; else None."""
    distinct = set(values)
    if not distinct or len(distinct) > MAX_LITERAL_KEYS:
        return None
    kind = column_type(con, relation, quote(column))
    if kind == "VARCHAR" and all(isinstance(v, str) for v in distinct):
        items = ["'" + v.replace("'", "''") + "'" for v in distinct]
    elif kind in LOOKUP_TYPES and all(isinstance(v, int) and not isinstance(v, bool) for v in distinct):
        items = [str(v) for v in distinct]
    else:
        return None
    return "(" + ", ".join(sorted(items)) + ")"


def key_predicate(con, target: str, affected: dict[str, list]) -> str:
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
