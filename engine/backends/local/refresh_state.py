"""The refresh state and history of the dynamic tables, in pipe's bookkeeping schema.

:class:`RefreshState` is part of :class:`~engine.backends.local.store.Store`: these are Store
methods, kept in a module of their own so that each stays short.
"""

from __future__ import annotations

import json
from datetime import datetime

META = "_PIPE"  # pipe's bookkeeping schema


class RefreshState:
    """The DYNAMIC_TABLES and REFRESH_HISTORY tables (for a Store: ``self.con`` is its connection)."""

    con: object  # and has_meta(), from Store

    def dynamic_table(self, name: str) -> dict | None:
        """The refresh state of dynamic table ``name`` (its DYNAMIC_TABLES row), or None."""
        cursor = self.con.execute(f"SELECT * FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def dynamic_tables(self) -> dict[str, dict]:
        """The refresh state of every dynamic table, by name (none before the first apply)."""
        if not self.has_meta():
            return {}
        cursor = self.con.execute(f"SELECT * FROM {META}.DYNAMIC_TABLES")
        columns = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(columns, row)) for row in cursor.fetchall()}

    def register_dynamic_table(self, name: str, mode: str, reason: str) -> None:
        """Start the refresh state of a dynamic table just created: active, never refreshed."""
        self.con.execute(f"DELETE FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])
        self.con.execute(
            f"""INSERT INTO {META}.DYNAMIC_TABLES (NAME, STATE, REFRESH_MODE, REFRESH_MODE_REASON,
                DATA_TIMESTAMP, INPUT_VERSIONS, CONSECUTIVE_FAILURES, LAST_ACTION, NEEDS_REINITIALIZE)
                VALUES (?, 'ACTIVE', ?, ?, NULL, NULL, 0, NULL, FALSE)""",
            [name, mode, reason],
        )

    def forget_dynamic_table(self, name: str) -> None:
        """Drop the refresh state of a dynamic table dropped, and what its refreshes kept."""
        self.drop_kept([f"PRE_{name}"])
        self.con.execute(f"DELETE FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])

    def mark_reinitialize(self, name: str) -> None:
        """Make the next refresh of ``name`` a REINITIALIZE."""
        self.con.execute(f"UPDATE {META}.DYNAMIC_TABLES SET NEEDS_REINITIALIZE = TRUE WHERE NAME = ?", [name])

    def pending_reinitialize(self) -> list[str]:
        """The dynamic tables whose next refresh is a REINITIALIZE."""
        rows = self.con.execute(f"SELECT NAME FROM {META}.DYNAMIC_TABLES WHERE NEEDS_REINITIALIZE").fetchall()
        return [name for (name,) in rows]

    def record_refreshed(self, name: str, data_timestamp: datetime, input_versions: dict, action: str) -> None:
        """``name`` refreshed at ``data_timestamp`` from ``input_versions``: active again (unless
        suspended), its failures forgotten."""
        self.con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET DATA_TIMESTAMP = ?, INPUT_VERSIONS = ?,
                CONSECUTIVE_FAILURES = 0, LAST_ACTION = ?, NEEDS_REINITIALIZE = FALSE,
                STATE = CASE WHEN STATE = 'SUSPENDED' THEN STATE ELSE 'ACTIVE' END WHERE NAME = ?""",
            [data_timestamp, json.dumps(input_versions), action, name],
        )

    def record_failed(self, name: str, suspend_after: int | None) -> None:
        """A refresh of ``name`` failed: FAILED, or SUSPENDED once ``suspend_after`` refreshes in
        a row have (None: never suspended)."""
        self.con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET CONSECUTIVE_FAILURES = CONSECUTIVE_FAILURES + 1,
                STATE = CASE WHEN ? AND CONSECUTIVE_FAILURES + 1 >= ? THEN 'SUSPENDED' ELSE 'FAILED' END
                WHERE NAME = ?""",
            [suspend_after is not None, suspend_after or 0, name],
        )

    def incremental_input_versions(self) -> dict[str, dict[str, int]]:
        """For each dynamic table whose next refresh applies its inputs' changes (incremental,
        refreshed before, not waiting to be reinitialised), the version of each input it read."""
        rows = self.con.execute(
            f"""SELECT NAME, INPUT_VERSIONS FROM {META}.DYNAMIC_TABLES WHERE REFRESH_MODE = 'INCREMENTAL'
                AND INPUT_VERSIONS IS NOT NULL AND NOT NEEDS_REINITIALIZE"""
        ).fetchall()
        return {name: json.loads(versions) for name, versions in rows}

    # -- refresh history ---------------------------------------------------------------------

    def append_history(self, row: tuple) -> None:
        """Append a refresh: (name, state, message, action, trigger, data timestamp, start, end,
        inserted rows, deleted rows)."""
        self.con.execute(
            f"""INSERT INTO {META}.REFRESH_HISTORY VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                (SELECT coalesce(max(SEQ), 0) + 1 FROM {META}.REFRESH_HISTORY))""",
            list(row),
        )

    def history(self, names=(), limit: int | None = None) -> list[tuple]:
        """The refreshes of ``names`` (every table when empty), latest first, as
        :meth:`append_history` took them."""
        if not self.has_meta():
            return []
        where = f"WHERE NAME IN ({', '.join('?' for _ in names)})" if names else ""
        sql = f"SELECT * EXCLUDE (SEQ) FROM {META}.REFRESH_HISTORY {where} ORDER BY SEQ DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.con.execute(sql, list(names)).fetchall()

    def history_view(self, name: str) -> str:
        """A temporary view ``name`` of the whole refresh history (with its SEQ), for queries
        that reshape it; returns ``name``."""
        from engine.backends.local.store import quote

        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS SELECT * FROM {META}.REFRESH_HISTORY")
        return name

    def table_signatures(self) -> dict[str, str | None]:
        """Each versioned table's stored signature (see :mod:`.changes`)."""
        if not self.has_meta():
            return {}
        return dict(self.con.execute(f"SELECT NAME, SIGNATURE FROM {META}.TABLE_VERSIONS").fetchall())
