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

from engine import names
from engine.backends.base import RefreshRecord
from engine.backends.local.changes import ChangeLog
from engine.backends.local.errors import file_problem, log, rollback
from engine.backends.local.incremental import Incremental, Outcome
from engine.backends.local.store import META, Store, utcnow
from engine.errors import BackendError, is_interrupt
from engine.graph import DYNAMIC_TABLE, PipelineGraph
from engine.report import Reporter

SUSPEND_AFTER_FAILURES = 5


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
        for name in order:
            upstream_failed = [u for u in graph.all_upstream(name) if u in failed]
            if upstream_failed:
                failed.add(name)
                record = self._record_skip(name, trigger, timestamp, upstream_failed[0])
            else:
                record = self.refresh_one(name, trigger=trigger, full=full, data_timestamp=timestamp)
                if record.state == "FAILED":
                    failed.add(name)
                elif self.checks is not None:  # the refresh committed: check what it wrote
                    record = self.checks.after_refresh(record)
            records.append(record)
            if reporter is not None:
                reporter.event("refresh", record=record)
        return records

    def refresh_one(self, name: str, *, trigger: str, full: bool, data_timestamp: datetime) -> RefreshRecord:
        """Refresh one dynamic table at ``data_timestamp``, in one transaction."""
        con = self.store.con
        start = utcnow()
        con.execute("BEGIN TRANSACTION")
        try:
            record = self.refresh_in_transaction(name, trigger=trigger, full=full, data_timestamp=data_timestamp)
            con.execute("COMMIT")
        except BaseException as exc:  # the refresh failed or was stopped: keep the previous contents
            rollback(con, exc)
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
        versions = self.log.versions()
        inputs = {u: versions.get(u, 0) for u in self.graph.upstream(name)}
        seen = json.loads(meta["INPUT_VERSIONS"]) if meta["INPUT_VERSIONS"] else None
        outcome = self._compute(name, meta, inputs, seen, full=full, reinitialize=reinitialize)
        self.store.con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET DATA_TIMESTAMP = ?, INPUT_VERSIONS = ?,
                CONSECUTIVE_FAILURES = 0, LAST_ACTION = ?, NEEDS_REINITIALIZE = FALSE,
                STATE = CASE WHEN STATE = 'SUSPENDED' THEN STATE ELSE 'ACTIVE' END WHERE NAME = ?""",
            [data_timestamp, json.dumps(inputs), outcome.action, name],
        )
        self._purge_inputs(name)
        record = RefreshRecord(
            name, "SUCCEEDED", outcome.message, outcome.action, trigger, data_timestamp, start, utcnow(),
            outcome.inserted, outcome.deleted,
        )
        self._insert_history(record)
        return record

    def _compute(self, name: str, meta: dict, inputs: dict, seen: dict | None, *, full: bool, reinitialize: bool) -> Outcome:
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
        outcome = self.incremental.refresh(name, seen, inputs)
        if outcome.action == "FULL":
            return self._recompute(name, "FULL", outcome.message)
        return outcome

    def _recompute(self, name: str, action: str, message: str | None = None) -> Outcome:
        """Recompute the whole table.

        A FULL refresh logs the rows that actually changed, so readers stay incremental; a first
        fill or a REINITIALIZE starts a new log, and readers recompute too.
        """
        con = self.store.con
        target = self.store.qualified(name)
        columns = ", ".join(names.duckdb(c) for c in self.store.columns(name))
        con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_NEW AS {self.queries[name]}")
        if action == "FULL" and self.meta(name)["INPUT_VERSIONS"]:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_OLD AS SELECT * FROM {target}")
            con.execute(f"DELETE FROM {target}")
            con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM __PIPE_NEW")
            outcome = self.incremental.record_difference(name, "__PIPE_OLD", "__PIPE_NEW", action)
        else:
            deleted = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
            con.execute(f"DELETE FROM {target}")
            con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM __PIPE_NEW")
            inserted = con.execute("SELECT count(*) FROM __PIPE_NEW").fetchall()[0][0]
            self.log.unlogged(name)
            outcome = Outcome(action, inserted, deleted)
        self.incremental.rebuild(name)
        outcome.message = message
        return outcome

    def _purge_inputs(self, name: str) -> None:
        """Drop change-log rows of ``name``'s inputs that every reader has applied."""
        con = self.store.con
        seen_by: dict[str, list[int]] = {}
        for reader, versions in con.execute(
            f"SELECT NAME, INPUT_VERSIONS FROM {META}.DYNAMIC_TABLES WHERE INPUT_VERSIONS IS NOT NULL"
        ).fetchall():
            for table, version in json.loads(versions).items():
                seen_by.setdefault(table, []).append(version)
        for table in self.graph.upstream(name):
            readers = [r for r in self.graph.downstream(table)]
            if table in seen_by and len(seen_by[table]) >= len(readers):
                self.log.purge(table, min(seen_by[table]))

    def meta(self, name: str) -> dict:
        cursor = self.store.con.execute(f"SELECT * FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])
        row = cursor.fetchone()
        if row is None:
            raise BackendError(f"dynamic table {name} does not exist locally", hint="run pipe apply first")
        return dict(zip([d[0] for d in cursor.description], row))

    def _insert_history(self, record: RefreshRecord) -> None:
        self.store.con.execute(
            f"""INSERT INTO {META}.REFRESH_HISTORY VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                (SELECT coalesce(max(SEQ), 0) + 1 FROM {META}.REFRESH_HISTORY))""",
            [
                record.name, record.state, record.state_message, record.refresh_action, record.refresh_trigger,
                record.data_timestamp, record.refresh_start_time, record.refresh_end_time,
                record.inserted_rows, record.deleted_rows,
            ],
        )

    def _record_failure(self, name, trigger, timestamp, start, message) -> RefreshRecord:
        con = self.store.con
        record = RefreshRecord(name, "FAILED", message, None, trigger, timestamp, start, utcnow())
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET CONSECUTIVE_FAILURES = CONSECUTIVE_FAILURES + 1,
                STATE = CASE WHEN ? AND CONSECUTIVE_FAILURES + 1 >= ? THEN 'SUSPENDED' ELSE 'FAILED' END
                WHERE NAME = ?""",
            [trigger == "SCHEDULED", SUSPEND_AFTER_FAILURES, name],
        )
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
