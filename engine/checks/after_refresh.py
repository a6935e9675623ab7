"""Checks run after each local write to the table they guard: a refresh, a streamed batch, apply.

A refresh's checks run inside the refresh's own transaction, just before its commit: their
results, and the note on the history row when one fails, are committed with the refresh at no
extra commit. A check never undoes a refresh: a failing ``error`` check marks it instead (the
history row's message says ``check failed: …``, the stream line shows it, ``pipe status`` counts
it) and every result is kept in ``_PIPE.CHECK_RESULTS``.

A check that cannot run at all (a runtime error in its query) aborts the DuckDB transaction it
runs in. Its refresh is then done again without it, and from then on that check runs after its
table's refreshes commit, in a transaction of its own.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

from engine.checks.declared import declared_checks
from engine.checks.keycounts import KeyCounts, forget_others, kept_versions, state_name
from engine.checks.local import ERROR, PASSED, CheckResult, LocalChecks, sample_json, summary
from engine.spec.checks import CheckKind

CHECK_FAILED = "check failed: "
NO_CHANGE = ("NO_DATA",)
CHANGED = "__PIPE_CHANGED"  # the rows the write being checked inserted, staged once for every check


class ChecksAborted(Exception):
    """A check could not run inside a refresh's transaction, which DuckDB has aborted: the
    refresh is done again, that check left for after the commit."""


class RefreshChecks:
    """Evaluates a pipeline's checks after each write, from the write's change where possible.

    Args:
        store: the local database.
        pipeline: the pipeline.
        log: the :class:`ChangeLog` holding each table's written rows.
    """

    def __init__(self, store, pipeline, log):
        self.store = store
        self.log = log
        self.checks = LocalChecks(store, pipeline)
        self.by_table: dict[str, list] = {}
        for item in declared_checks(pipeline):
            self.by_table.setdefault(item.table, []).append(item)
        # A check whose last result was not PASSED is evaluated on the whole table until it
        # passes: the rows an earlier change brought are still there after a clean change.
        self.failing = {(t, c) for t, c, _, status, _ in store.latest_check_results() if status != PASSED}
        self.apart: set[tuple[str, str]] = set()  # checks that cannot run inside a refresh
        # Each unique check's kept key counts (one per table and key, shared by checks alike).
        self.counts: dict[tuple[str, str], KeyCounts] = {}
        shared: dict[str, KeyCounts] = {}
        for item in declared_checks(pipeline):
            if item.check.kind is CheckKind.unique:
                name = state_name(item.table, item.check.unique)
                counts = shared.setdefault(name, KeyCounts(store, log, item.table, item.check.unique))
                self.counts[(item.table, item.name)] = counts
        if not store.read_only:
            forget_others(store, set(shared))
        self._versions_read = False

    def counted_versions(self) -> dict[str, int]:
        """The oldest table version each table's kept key counts reflect: the change-log rows of
        that table after it are still to be counted (read once, then followed in memory)."""
        every = set(self.counts.values())
        if not self._versions_read and any(c.version is None for c in every):
            self._versions_read = True
            stored = kept_versions(self.store)
            for counts in every:
                counts.version = stored.get(counts.name) if counts.version is None else counts.version
        oldest: dict[str, int] = {}
        for counts in every:
            if counts.version is not None:
                oldest[counts.table] = min(counts.version, oldest.get(counts.table, counts.version))
        return oldest

    def within(self, record):
        """Check ``record``'s table inside its refresh's transaction, before the commit; returns
        the record, its message noting failed checks.

        Raises:
            ChecksAborted: a check could not run, and the transaction is aborted.
        """
        items = [i for i in self.by_table.get(record.name, ()) if (i.table, i.name) not in self.apart]
        if not items or record.refresh_action in NO_CHANGE:
            return record
        position = self.log.position(record.name)
        results = self._evaluate(items, self._inserted(record.name, position), atomic=True, position=position)
        broken = [r for r in results if r.status == ERROR]
        if broken:
            self.apart.update((r.table, r.check) for r in broken)
            raise ChecksAborted(", ".join(f"{r.table}.{r.check}" for r in broken))
        return self._record(record, results)

    def after_commit(self, record):
        """Run the checks of ``record``'s table that cannot run inside its refresh, in a
        transaction of their own; returns the record, its message noting failed checks."""
        items = [i for i in self.by_table.get(record.name, ()) if (i.table, i.name) in self.apart]
        if not items or record.refresh_action in NO_CHANGE:
            return record
        results = self._evaluate(items, None)  # outside a transaction: a check that fails to run aborts none
        with transaction(self.store.con):
            return self._record(record, results)

    def after_insert(self, table: str, inserted: str) -> list[CheckResult]:
        """Run the checks of base table ``table`` on the rows of ``inserted`` (a SQL relation, e.g.
        a streamed batch) just committed, and record the results; returns them."""
        items = self.by_table.get(table)
        if not items:
            return []
        results = self._evaluate(items, inserted)
        with transaction(self.store.con):
            self.store.record_check_results(result_rows(results, None, "INSERT"))
        return results

    def after_apply(self, results, data_timestamp) -> list[CheckResult]:
        """Run the checks of the tables an apply created or replaced and filled (its
        :class:`ActionResult` list ``results``), once the apply has committed."""
        from engine.graph import DYNAMIC_TABLE, TABLE

        filled = [
            r.action.name for r in results
            if r.action.kind.value in ("create", "replace")
            and (r.action.object_type == TABLE or (r.action.object_type == DYNAMIC_TABLE and r.refresh_action))
        ]
        return self.after_create(filled, data_timestamp)

    def after_create(self, names, data_timestamp) -> list[CheckResult]:
        """Run the checks of the tables ``names`` that an apply just created and filled, each on
        its whole table, and record them (trigger ``CREATION``); a failed check of a dynamic
        table is noted on its creation's history row. Returns the results."""
        items = [i for name in names for i in self.by_table.get(name, ())]
        if not items:
            return []
        results = self._evaluate(items, None)
        with transaction(self.store.con):
            self.store.record_check_results(result_rows(results, data_timestamp, "CREATION"))
            for name in names:
                line = summary([r for r in results if r.table == name])
                if line:
                    self.store.note_on_last_refresh(name, CHECK_FAILED + line)
        return results

    def _evaluate(self, items, inserted: str | None, atomic: bool = False, position=None) -> list[CheckResult]:
        """Run ``items`` (on the rows of ``inserted`` where they can); ``atomic``: inside the
        write's transaction; ``position``: the (version, logged since) of the items' one table."""
        import duckdb

        if inserted is not None:  # read the change once; each check scans the small copy
            self.store.con.execute(f"CREATE OR REPLACE TEMP TABLE {CHANGED} AS {inserted}")
            inserted = f"SELECT * FROM {CHANGED}"
        results = []
        counted = {self.counts[key] for key in ((i.table, i.name) for i in items) if key in self.counts}
        kept = self.store.kept_tables() if counted else None
        for counts in counted:
            counts.forget(kept, position)  # each key's counts catch up once per write
        if not atomic:  # a write already committed: its counts catch up all at once or not at all
            for counts in counted:
                try:
                    with transaction(self.store.con):
                        counts.catch_up()
                except duckdb.Error:
                    counts.forget()  # the check itself will meet the problem, and say so
        for item in items:
            key = (item.table, item.name)
            result = self.checks.run(item, None if key in self.failing else inserted, counts=self.counts.get(key))
            (self.failing.discard if result.status == PASSED else self.failing.add)(key)
            results.append(result)
        return results

    def _inserted(self, name: str, position: tuple[int, int]) -> str | None:
        """SQL of the rows the table's last write inserted, when its change log holds them
        (``position``: the table's version and the version its log is complete after)."""
        from engine.backends.local.changes import SIGN, VERSION, log_name

        version, logged_since = position
        if not version or logged_since >= version:
            return None  # recreated or recomputed without a log: check every row
        return f"SELECT * EXCLUDE ({VERSION}, {SIGN}) FROM {log_name(name)} WHERE {VERSION} = {int(version)} AND {SIGN} = 1"

    def _record(self, record, results):
        self.store.record_check_results(result_rows(results, record.data_timestamp, "REFRESH"))
        line = summary(results)
        if not line:
            return record
        note = CHECK_FAILED + line
        self.store.note_on_last_refresh(record.name, note)
        message = f"{record.state_message}; {note}" if record.state_message else note
        return dataclasses.replace(record, state_message=message)

@contextmanager
def transaction(con):
    """One transaction on ``con``: committed when the block ends, rolled back when it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def result_rows(results: list[CheckResult], data_timestamp, trigger: str) -> list[tuple]:
    """``_PIPE.CHECK_RESULTS`` rows of ``results``."""
    from engine.backends.local.store import utcnow

    now = utcnow()
    return [
        (now, r.table, r.check, r.kind, r.severity, r.status, r.failing_rows, sample_json(r.sample), r.scope,
         r.message, data_timestamp, trigger)
        for r in results
    ]


def failure_lines(results: list[CheckResult]) -> list[str]:
    """One line per table whose checks did not all pass, e.g. ``check failed: RAW_INTERACTIONS:
    not_null(member_id): 3 row(s)`` — for a command's output."""
    lines = []
    for table in dict.fromkeys(r.table for r in results):
        line = summary([r for r in results if r.table == table])
        if line:
            lines.append(f"{CHECK_FAILED}{table}: {line}")
    return lines
