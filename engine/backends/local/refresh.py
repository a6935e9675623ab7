"""Refreshing dynamic tables locally, with Snowflake's semantics.

A refresh at data timestamp T first refreshes the upstream dynamic tables at the same T, so
the DAG is one consistent snapshot. Each table's refresh is one transaction: readers see the
old contents or the new, never a mix, and a failed refresh keeps the previous contents.

Actions: NO_DATA (no input changed since the last refresh: only the timestamp moves),
INCREMENTAL (apply the inputs' changes, see :mod:`.incremental`), FULL (recompute),
REINITIALIZE (recompute after the table or an upstream one was replaced).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from engine.backends.base import RefreshRecord
from engine.backends.local.changes import ROW, ChangeLog, Signature
from engine.backends.local.errors import file_problem, log, rollback
from engine.backends.local.incremental import Incremental, Outcome
from engine.backends.local.store import Store, quote, utcnow
from engine.checks.after_refresh import ChecksAborted
from engine.errors import BackendError, is_interrupt
from engine.graph import DYNAMIC_TABLE, PipelineGraph
from engine.report import Reporter

SUSPEND_AFTER_FAILURES = 5
# A recompute reading a table of more rows than this runs on all of DuckDB's threads (see
# Store.parallel); below, one thread does it for less than starting the others costs.
PARALLEL_ROWS = 100_000

# How many rows a recompute inserted and deleted: the multiset difference of old and new rows,
# told apart by their 64-bit hashes (no reader needs the rows themselves), with the new rows'
# count and hash sum, which make the table's signature. Each row's hash is computed once, to
# __PIPE_HASHES (+1 a new row, -1 an old one); grouping every hash apart would build a hash table
# of one entry a row, so the hashes are first summed in 4,096 buckets (by their top 12 bits), and
# only the buckets whose count or hash sums differ between old and new are counted hash by hash:
# a bucket whose rows differ but whose count and two 128-bit sums (of the hashes and of a second
# hash of them) all agree is as unlikely as two different rows of the same 64-bit hash.
_HASHED = """CREATE OR REPLACE TEMP TABLE __PIPE_HASHES AS
    SELECT hash({row}) AS H, 1::TINYINT AS S FROM {new} AS {row} UNION ALL SELECT hash({row}), -1::TINYINT FROM {old} AS {row}"""
_COUNTED_DIFFERENCE = """
    SELECT coalesce(sum(greatest(C, 0)), 0), coalesce(sum(greatest(-C, 0)), 0),
           (SELECT count(*) FROM __PIPE_HASHES WHERE S > 0),
           (SELECT coalesce(sum(H::HUGEINT), 0) FROM __PIPE_HASHES WHERE S > 0)::VARCHAR
    FROM (SELECT sum(S) AS C FROM __PIPE_HASHES
          WHERE H >> 52 IN (SELECT H >> 52 FROM __PIPE_HASHES GROUP BY 1
                            HAVING sum(S) <> 0 OR sum(S * H::HUGEINT) <> 0 OR sum(S * hash(H)::HUGEINT) <> 0)
          GROUP BY H)"""
# The same when every old row is replaced by every new one.
_COUNTED_REPLACE = """
    SELECT count(*), (SELECT count(*) FROM {old}), count(*), coalesce(sum(hash({row})::HUGEINT), 0)::VARCHAR
    FROM {new} AS {row}"""


class Refresher:
    """Refreshes the dynamic tables of one pipeline in one local database."""

    def __init__(self, store: Store, graph: PipelineGraph, queries: dict[str, str]):
        self.store = store
        self.graph = graph
        self.queries = queries  # dynamic table -> DuckDB SQL of its query
        self.log = ChangeLog(store)
        self.reasons: dict[str, str] = {}  # why a table reinitialises, when not for a replace
        target = graph.pipeline.snowflake
        self.incremental = Incremental(store, self.log, graph, queries, target.database, target.schema_name)
        self.checks = None  # a RefreshChecks, when the pipeline declares checks
        self.recomputing: set[str] = set()  # the tables the running refresh recomputes in full

    def refresh(
        self,
        names: Sequence[str],
        *,
        trigger: str,
        full: bool = False,
        data_timestamp: datetime | None = None,
        reporter: Reporter | None = None,
        include_upstream: bool = True,
    ) -> list[RefreshRecord]:
        """Refresh ``names`` (every dynamic table when empty) and, first, their upstream
        dynamic tables, all at one data timestamp. Returns one record per table, in order."""
        graph = self.graph
        wanted = set(names or graph.dynamic_tables)
        if include_upstream:
            for name in list(wanted):
                wanted.update(n for n in graph.all_upstream(name) if graph.kind(n) == DYNAMIC_TABLE)
        order = [n for n in graph.dynamic_tables if n in wanted]
        timestamp = data_timestamp or utcnow()
        records: list[RefreshRecord] = []
        failed: set[str] = set()
        # A full refresh recomputes every table of ``order``: none of them needs the others' changes.
        self.recomputing = set(order) if full else set()
        try:
            if full:
                self._drop_indexes(order)
            self._refresh_each(order, failed, records, trigger, full, timestamp, reporter)
        finally:
            self.recomputing = set()
            try:
                self.store.parallel(True)
            except Exception as exc:  # keep the error that ended the refresh, if any
                log.debug("giving DuckDB its threads back failed: %s", exc)
        return records

    def _drop_indexes(self, names: list[str]) -> None:
        """Drop pipe's indexes on the tables a full refresh recomputes, first: their recomputes
        drop them anyway, and meanwhile the memory they hold serves the recomputes."""
        try:
            with self.store.transaction():
                self.incremental.drop_indexes(names)
        except Exception as exc:  # the indexes only make lookups faster: each recompute drops its own
            log.debug("dropping the indexes before a full refresh failed: %s", exc)

    def _refresh_each(self, order, failed, records, trigger, full, timestamp, reporter) -> None:
        graph = self.graph
        for name in order:
            upstream_failed = [u for u in graph.all_upstream(name) if u in failed]
            if upstream_failed:
                failed.add(name)
                record = self._record_skip(name, trigger, timestamp, upstream_failed[0])
            else:
                record = self.refresh_one(name, trigger=trigger, full=full, data_timestamp=timestamp)
                if record.state == "FAILED":
                    failed.add(name)
                elif self.checks is not None:  # checks that cannot run inside the refresh's transaction
                    record = self.checks.after_commit(record)
            records.append(record)
            if reporter is not None:
                reporter.event("refresh", record=record)

    def refresh_one(self, name: str, *, trigger: str, full: bool, data_timestamp: datetime) -> RefreshRecord:
        """Refresh one dynamic table at ``data_timestamp``, in one transaction."""
        con = self.store.con
        start = utcnow()
        self.store.parallel(full)  # small statements, unless it recomputes: see Store.parallel
        con.execute("BEGIN TRANSACTION")
        try:
            record = self.refresh_in_transaction(name, trigger=trigger, full=full, data_timestamp=data_timestamp)
            if self.checks is not None:  # checked before the commit: results commit with the refresh
                record = self.checks.within(record)
            con.execute("COMMIT")
        except BaseException as exc:  # the refresh failed or was stopped: keep the previous contents
            rollback(con, exc)
            if isinstance(exc, ChecksAborted):  # a check could not run: refresh again, check it after
                return self.refresh_one(name, trigger=trigger, full=full, data_timestamp=data_timestamp)
            if is_interrupt(exc):  # a Ctrl-C is not a failure of the table
                raise KeyboardInterrupt from exc
            if not isinstance(exc, Exception):
                raise
            if _transient(exc):
                raise BackendError(f"{name}: {exc}", transient=True) from exc
            if file_problem(exc, self.store.path):  # the file cannot take the failure record either
                raise
            try:
                return self._record_failure(name, trigger, data_timestamp, start, problem(name, exc))
            except Exception as cleanup:  # the first error wins over the failure to record it
                rollback(con, cleanup)
                log.debug("recording the failed refresh of %s failed too: %s", name, cleanup)
                raise BackendError(problem(name, exc)) from exc
        return record

    def refresh_in_transaction(
        self, name: str, *, trigger: str, full: bool, data_timestamp: datetime, reinitialize: bool = False
    ) -> RefreshRecord:
        """Refresh one dynamic table inside the caller's transaction; raises on failure."""
        start = utcnow()
        meta = self.meta(name)
        positions = self.log.positions()
        inputs = {u: positions.get(u, (0, 0))[0] for u in self.graph.upstream(name)}
        seen = json.loads(meta["INPUT_VERSIONS"]) if meta["INPUT_VERSIONS"] else None
        logged_since = {u: positions.get(u, (0, 0))[1] for u in inputs}
        outcome = self._compute(name, meta, inputs, seen, logged_since, full=full, reinitialize=reinitialize)
        self.store.record_refreshed(name, data_timestamp, inputs, outcome.action)
        if outcome.action != "NO_DATA":  # else it read no change, and its readers' positions stand
            self._compact(name)
        record = RefreshRecord(
            name, "SUCCEEDED", outcome.message, outcome.action, trigger, data_timestamp, start, utcnow(),
            outcome.inserted, outcome.deleted,
        )
        self._insert_history(record)
        return record

    def _compute(self, name: str, meta: dict, inputs: dict, seen: dict | None, logged_since: dict, *, full: bool,
                 reinitialize: bool) -> Outcome:
        if reinitialize or meta["NEEDS_REINITIALIZE"]:
            return self._recompute(name, "REINITIALIZE", self.reasons.get(name))
        if seen is None:
            return self._recompute(name, "FULL")
        if not full and inputs == seen:
            return Outcome("NO_DATA")
        if full:
            return self._recompute(name, "FULL", "full refresh requested")
        if meta["REFRESH_MODE"] != "INCREMENTAL":
            return self._recompute(name, "FULL")
        outcome = self.incremental.refresh(name, seen, inputs, logged_since)
        if outcome.action == "FULL":
            return self._recompute(name, "FULL", outcome.message)
        return outcome

    def _recompute(self, name: str, action: str, message: str | None = None) -> Outcome:
        """Recompute the whole table: its query goes to a new table, which takes the old one's
        place in the same transaction (one write of the rows, and the old ones are freed whole).

        A FULL refresh logs the rows that actually changed when a reader refreshes
        incrementally from them; otherwise, as after a first fill or a REINITIALIZE, the log
        starts anew and readers recompute too.
        """
        con = self.store.con
        if self.store.largest(self.graph.upstream(name)) > PARALLEL_ROWS:  # and its checks read every row too
            self.store.parallel(True)
        target = self.store.qualified(name)
        fresh = self.store.qualified(f"__PIPE_NEW_{name}")
        columns = ", ".join(quote(c) for c in self.store.columns(name))
        query, built = self._full_query(name)
        con.execute(f"CREATE OR REPLACE TABLE {fresh} AS SELECT * FROM {target} LIMIT 0")  # the table's types
        con.execute(f"INSERT INTO {fresh} ({columns}) SELECT {columns} FROM ({query}) AS __Q")
        logged = action == "FULL" and self.meta(name)["INPUT_VERSIONS"] is not None and self._read_incrementally(name)
        if logged:
            outcome = self.incremental.record_difference(
                name, self.store.table(name), self.store.table(f"__PIPE_NEW_{name}"), action
            )
        else:  # a REINITIALIZE replaces every row; a FULL refresh counts what differs, unless
            # nothing was there to differ (a first fill: every new row is inserted, hashed once)
            differ = action == "FULL" and con.execute(f"SELECT count(*) FROM {target}").fetchone()[0] > 0
            if differ:
                con.execute(_HASHED.format(old=target, new=fresh, row=ROW))
                inserted, deleted, rows, total = con.execute(_COUNTED_DIFFERENCE).fetchone()
                con.execute("DROP TABLE __PIPE_HASHES")
            else:
                inserted, deleted, rows, total = con.execute(_COUNTED_REPLACE.format(old=target, new=fresh, row=ROW)).fetchone()
            outcome = Outcome(action, int(inserted), int(deleted))
        con.execute(f"DROP TABLE {target}")
        con.execute(f"ALTER TABLE {fresh} RENAME TO {quote(name)}")
        if not logged:
            self.log.unlogged(name, Signature(int(rows), int(total), self.store.column_types(name)))
        self.incremental.rebuild(name, built=built)
        outcome.message = message
        return outcome

    def _full_query(self, name: str) -> tuple[str, object]:
        """The query that recomputes ``name``, and what the table keeps that was built for it
        (its PreAggregation or AggregateState; None when it keeps nothing).

        A table that keeps pre-aggregation rows or aggregate state has them built first, and is
        computed from them: its input is read (and its expressions, e.g. parsing VARIANT values,
        evaluated) once for both instead of once each; from aggregate state, the output is read
        off one row per group (and the value tables of aggregates such as MODE).
        """
        plan = self.incremental.plan(name)
        kept = plan.pre if plan.pre is not None else plan.state
        if kept is None:
            return self.queries[name], None
        kept.rebuild()
        return kept.full_query(), kept

    def _read_incrementally(self, name: str) -> bool:
        """Whether a reader of ``name`` will apply its changes: one that refreshes incrementally,
        has refreshed before and is not recomputed by the running refresh anyway."""
        readers = [r for r in self.graph.downstream(name) if r not in self.recomputing]
        if not readers:
            return False
        applying = self.store.incremental_input_versions()
        return any(reader in applying for reader in readers)

    def _compact(self, name: str) -> None:
        """Delete the change-log rows no reader needs any more, of ``name``'s inputs and of
        ``name`` itself: those up to the oldest version a reader applying changes has seen.
        A table no such reader reads keeps only its latest write (its checks read it)."""
        versions = self.log.versions()
        seen: dict[str, list[int]] = {}
        for inputs in self.store.incremental_input_versions().values():
            for table, version in inputs.items():
                seen.setdefault(table, []).append(version)
        if self.checks is not None:  # kept key counts follow their table's log too (its latest write kept)
            for table, version in self.checks.counted_versions().items():
                seen.setdefault(table, []).append(min(version, versions.get(table, 0) - 1))
        for table in [*self.graph.upstream(name), name]:
            if table in versions:
                self.log.compact(table, min(seen.get(table) or [versions[table] - 1]))

    def meta(self, name: str) -> dict:
        meta = self.store.dynamic_table(name)
        if meta is None:
            raise BackendError(f"dynamic table {name} does not exist locally", hint="run pipe apply first")
        return meta

    def _insert_history(self, record: RefreshRecord) -> None:
        self.store.append_history(
            (
                record.name, record.state, record.state_message, record.refresh_action, record.refresh_trigger,
                record.data_timestamp, record.refresh_start_time, record.refresh_end_time,
                record.inserted_rows, record.deleted_rows,
            )
        )

    def _record_failure(self, name, trigger, timestamp, start, message) -> RefreshRecord:
        con = self.store.con
        record = RefreshRecord(name, "FAILED", message, None, trigger, timestamp, start, utcnow())
        con.execute("BEGIN TRANSACTION")
        self.store.record_failed(name, SUSPEND_AFTER_FAILURES if trigger == "SCHEDULED" else None)
        self._insert_history(record)
        con.execute("COMMIT")
        return record

    def _record_skip(self, name, trigger, timestamp, upstream) -> RefreshRecord:
        now = utcnow()
        record = RefreshRecord(
            name, "UPSTREAM_FAILED", f"upstream dynamic table {upstream} failed to refresh", None, trigger,
            timestamp, now, now,
        )
        self._insert_history(record)
        return record


def _transient(exc: Exception) -> bool:
    """A conflict with another transaction: the same refresh may succeed when retried."""
    import duckdb

    if isinstance(exc, BackendError):
        return exc.transient
    return isinstance(exc, duckdb.TransactionException)


def problem(name: str, exc: Exception) -> str:
    """One line naming the table and the SQL problem."""
    cause = exc.__cause__ or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"{name}: {text}"
