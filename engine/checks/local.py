"""Evaluating checks on the local database, from a refresh's change where the kind allows it.

A check's *offending rows* are the rows that break it; it passes when there are none. After an
incremental refresh, ``not_null``, ``accepted_values`` and ``relationships`` look only at the rows
the refresh inserted (``relationships`` looking up their values alone in the other table), and
``unique``, given the key counts kept for it (:mod:`engine.checks.keycounts`), only at the keys
the refresh wrote, reading the table only for a key held twice; so checks cost in proportion to
the change, like the refresh itself. ``row_count`` is ``count(*)``, which DuckDB answers from the
table's metadata; ``freshness`` reads one value, and other custom ``sql`` checks what they need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from engine import names
from engine.checks.declared import DeclaredCheck
from engine.errors import BackendError, SqlError
from engine.spec.checks import CheckKind

if TYPE_CHECKING:
    from engine.checks.keycounts import KeyCounts

SAMPLE_ROWS = 5
PASSED, FAILED, ERROR = "PASSED", "FAILED", "ERROR"
# Above this many changed keys, a uniqueness check joins them instead of listing them.
MAX_LITERAL_KEYS = 2_000


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: PASSED, FAILED, or ERROR (the check itself could not run)."""

    table: str
    check: str
    kind: str
    severity: str
    status: str
    failing_rows: int = 0
    sample: list[dict] = field(default_factory=list)
    scope: str = "table"  # "table" (every row) or "change" (the rows a refresh wrote)
    message: str | None = None
    columns: tuple[str, ...] = ()  # the columns the check reads, resolved (engine.names)

    @property
    def blocks(self) -> bool:
        """Whether this result fails the run: an error-severity check that failed or could not run."""
        return self.severity == "error" and self.status != PASSED

    def as_row(self) -> dict:
        """The result keyed by column names (``pipe test --format json``)."""
        return {
            "table": self.table,
            "check": self.check,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "failing_rows": self.failing_rows,
            "sample": self.sample,
            "scope": self.scope,
            "message": self.message,
        }


class LocalChecks:
    """Runs declared checks against one local store.

    Args:
        store: the open local database.
        pipeline: the pipeline whose checks run.
    """

    def __init__(self, store, pipeline):
        self.store = store
        self.pipeline = pipeline
        self._sql: dict[tuple[str, int], str] = {}

    def run(self, item: DeclaredCheck, inserted: str | None = None, *, now: datetime | None = None,
            counts: KeyCounts | None = None) -> CheckResult:
        """Evaluate ``item`` on its whole table, or on the rows of ``inserted`` (a SQL relation)
        when given and the kind allows it. A ``unique`` check given its kept key ``counts`` reads
        the table only for the keys they suspect duplicated."""
        import duckdb

        check = item.check
        kind = check.kind
        scoped = inserted is not None and (
            kind in (CheckKind.not_null, CheckKind.accepted_values, CheckKind.relationships, CheckKind.unique)
            or (kind is CheckKind.sql and self._row_level(item) is not None)
        )
        try:
            if kind is CheckKind.row_count:
                return self._row_count(item)
            if kind is CheckKind.freshness:
                return self._freshness(item, now)
            if counts is not None and kind is CheckKind.unique:
                suspects = counts.suspects(scoped)
                if suspects == []:  # no key written (or, unscoped, none at all) is held twice
                    return self._result(item, PASSED, scope="change" if scoped else "table")
                where = counts.duplicates_where(suspects)
                offending = self._duplicates(check.unique, self.store.qualified(item.table), None, where)
            else:
                offending = self._offending(item, inserted if scoped else None)
            count = self.store.con.execute(f"SELECT count(*) FROM ({offending})").fetchone()[0]
            sample = self._sample(offending) if count else []
        except (duckdb.Error, SqlError, BackendError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return self._result(item, ERROR, message=f"the check could not run: {message}")
        return self._result(item, FAILED if count else PASSED, count, sample, "change" if scoped else "table")

    def _result(self, item: DeclaredCheck, status: str, count: int = 0, sample=(), scope="table", message=None):
        check = item.check
        return CheckResult(
            item.table, item.name, check.kind.value, check.severity, status, count, list(sample), scope, message,
            tuple(names.key(c) for c in check.columns),
        )

    def _sample(self, offending: str) -> list[dict]:
        cursor = self.store.con.execute(f"SELECT * FROM ({offending}) LIMIT {SAMPLE_ROWS}")
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def _offending(self, item: DeclaredCheck, inserted: str | None) -> str:
        """SQL of the rows breaking ``item`` (in ``inserted`` only, when given)."""
        check = item.check
        kind = check.kind
        table = self.store.qualified(item.table)
        rows = f"({inserted})" if inserted is not None else table
        if kind is CheckKind.not_null:
            nulls = " OR ".join(f"{_col(c)} IS NULL" for c in check.not_null)
            return f"SELECT * FROM {rows} AS t WHERE {nulls}"
        if kind is CheckKind.accepted_values:
            spec = check.accepted_values
            values = ", ".join(_literal(v) for v in spec.values if v is not None)
            return f"SELECT * FROM {rows} AS t WHERE {_col(spec.column)} IS NOT NULL AND {_col(spec.column)} NOT IN ({values})"
        if kind is CheckKind.relationships:
            spec = check.relationships
            other = self.store.qualified(names.key(spec.to))
            column, target = _col(spec.column), _col(spec.field or spec.column)
            if inserted is not None:  # look up the changed values alone, not a hash table of every value
                known = f"SELECT o.{target} FROM {other} AS o WHERE o.{target} IN (SELECT {column} FROM {rows})"
                return f"SELECT * FROM {rows} AS t WHERE t.{column} IS NOT NULL AND t.{column} NOT IN ({known})"
            # an anti join, not NOT EXISTS: DuckDB runs a correlated NOT EXISTS by first copying
            # every row of the table, every column included (at 10M events, 20 s instead of 1 s)
            return (
                f"SELECT * FROM {rows} AS t ANTI JOIN {other} AS o ON o.{target} = t.{column} "
                f"WHERE t.{column} IS NOT NULL"
            )
        if kind is CheckKind.unique:
            return self._duplicates(check.unique, table, inserted)
        if kind is CheckKind.sql:
            return self._custom_sql(item) if inserted is None else self._row_level(item).replace(CHANGE, f"({inserted})")
        raise AssertionError(kind)  # row_count and freshness are answered directly

    def _duplicates(self, columns: list[str], table: str, inserted: str | None, suspected: str | None = None) -> str:
        """Keys held by more than one row (rows with a NULL key part are not compared, as in
        Snowflake's DUPLICATE_COUNT). With ``inserted``, only the keys those rows carry; with
        ``suspected``, only the rows meeting that condition."""
        keys = ", ".join(_col(c) for c in columns)
        present = " AND ".join(f"{_col(c)} IS NOT NULL" for c in columns)
        where = present
        if inserted is not None:
            where += " AND " + self._changed_keys(columns, inserted)
        if suspected is not None:
            where += " AND " + suspected
        return (
            f"SELECT {keys}, count(*) AS DUPLICATES FROM {table} AS t WHERE {where} GROUP BY {keys} HAVING count(*) > 1"
        )

    def _changed_keys(self, columns: list[str], inserted: str) -> str:
        con = self.store.con
        if len(columns) == 1:
            column = _col(columns[0])
            values = con.execute(
                f"SELECT DISTINCT {column} FROM ({inserted}) WHERE {column} IS NOT NULL LIMIT {MAX_LITERAL_KEYS + 1}"
            ).fetchall()
            if len(values) <= MAX_LITERAL_KEYS:
                if not values:
                    return "FALSE"
                return f"{column} IN ({', '.join(_literal(v) for (v,) in values)})"
        same = " AND ".join(f"c.{_col(c)} = t.{_col(c)}" for c in columns)
        return f"EXISTS (SELECT 1 FROM ({inserted}) AS c WHERE {same})"

    def _custom_sql(self, item: DeclaredCheck) -> str:
        key = (item.table, item.index)
        if key not in self._sql:
            from engine.sql.translate import to_duckdb

            target = self.pipeline.snowflake
            self._sql[key] = to_duckdb(item.check.sql, database=target.database, schema=target.schema_name)
        return self._sql[key]

    def _row_level(self, item: DeclaredCheck) -> str | None:
        """The custom query of ``item`` reading the change instead of its table, when it judges each
        row on its own: one SELECT from the guarded table alone (no join, subquery, grouping,
        aggregate, window, DISTINCT or LIMIT). Its rows are then exactly the offending rows of
        the change plus those of the rows already checked. The change's place is ``CHANGE``."""
        key = (item.table, item.index, CHANGE)
        if key not in self._sql:
            self._sql[key] = _on_change(self._custom_sql(item), item.table)
        return self._sql[key]

    def _row_count(self, item: DeclaredCheck) -> CheckResult:
        spec = item.check.row_count
        rows = self.store.con.execute(f"SELECT count(*) FROM {self.store.qualified(item.table)}").fetchone()[0]
        ok = (spec.min is None or rows >= spec.min) and (spec.max is None or rows <= spec.max)
        bounds = " and ".join(
            b for b in (f"at least {spec.min}" if spec.min is not None else "",
                        f"at most {spec.max}" if spec.max is not None else "") if b
        )
        message = None if ok else f"{rows:,} row{'' if rows == 1 else 's'}; expected {bounds}"
        return self._result(item, PASSED if ok else FAILED, 0 if ok else 1, [] if ok else [{"ROWS": rows}], message=message)

    def _freshness(self, item: DeclaredCheck, now: datetime | None) -> CheckResult:
        from engine.backends.local.store import utcnow

        spec = item.check.freshness
        now = now or utcnow()
        if spec.column:
            newest = self.store.con.execute(
                f"SELECT max({_col(spec.column)})::TIMESTAMP FROM {self.store.qualified(item.table)}"
            ).fetchone()[0]
        else:
            newest = self.store.data_timestamp(item.table)
        if newest is None:
            return self._result(item, FAILED, 1, [], message="no data yet")
        age = (now - newest).total_seconds()
        ok = age <= spec.seconds
        message = None if ok else f"data is {age:.0f}s old; at most {spec.seconds:g}s allowed"
        sample = [] if ok else [{"NEWEST": newest, "AGE_SECONDS": round(age, 1)}]
        return self._result(item, PASSED if ok else FAILED, 0 if ok else 1, sample, message=message)


CHANGE = "__PIPE_CHANGE_RELATION__"
_NOT_ROW_LEVEL = ("joins", "group", "having", "qualify", "distinct", "limit", "offset", "with")


def _on_change(sql: str, table: str) -> str | None:
    """``sql`` (DuckDB) with its one table, ``table``, replaced by the marker ``CHANGE``; None when
    it is not a row-by-row filter of that table."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or any(tree.args.get(a) for a in _NOT_ROW_LEVEL):
        return None
    tables = list(tree.find_all(exp.Table))
    if len(tables) != 1 or names.of(tables[0]) != table or len(list(tree.find_all(exp.Select))) != 1:
        return None
    if tree.find(exp.AggFunc, exp.Window, exp.Lateral, exp.Unnest):
        return None
    found = tables[0]
    alias = found.alias or found.name
    found.replace(exp.alias_(exp.to_table(CHANGE), alias, quoted=True, table=True))
    return tree.sql(dialect="duckdb")


def _col(written: str) -> str:
    """A column of a local table, named as written in the file: stored resolved (engine.names)."""
    return names.duckdb(names.key(written))


def _literal(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return "'" + str(value).replace("'", "''") + "'"


def summary(results: list[CheckResult]) -> str | None:
    """One line naming the failed checks (None when every check passed)."""
    bad = [r for r in results if r.status != PASSED]
    if not bad:
        return None
    parts = []
    for r in bad:
        what = r.message or f"{r.failing_rows:,} row(s)"
        if r.sample and not r.message:
            row = r.sample[0]
            shown = {k: v for k, v in row.items() if str(k) in r.columns} or row
            what += " e.g. " + ", ".join(f"{names.shown(str(k))}={v}" for k, v in shown.items())
        parts.append(f"{r.check}{'' if r.severity == 'error' else ' (warn)'}: {what}")
    return "; ".join(parts)


def sample_json(sample: list[dict]) -> str:
    """Sample rows as JSON (timestamps and decimals as text)."""
    return json.dumps(sample, default=str)
