"""Key counts: how many rows hold each key of a ``unique`` check, kept from the table's changes.

After an incremental refresh a uniqueness check must know, for each key the refresh wrote,
whether another row holds it, old rows included. Looking those keys up in the table reads its
whole key column at every refresh, and an index on the table makes every recompute rebuild it.
Instead each checked key has a narrow kept table of (hash of the key, signed row count) rows:
every write appends its net count per key (+1 per row inserted, -1 per row deleted; an update
keeping its key appends nothing), so keeping it costs what the change costs. A key's count is
the sum of its rows; a key whose count exceeds one is *suspected* duplicated, and only then is
the table read, for those keys alone, to confirm it (two keys may share a 64-bit hash) and to
show the rows. Finding the suspects reads the hash column (8 bytes a key, no text), never the
table itself.

The counts remember the table version they reflect, and catch up from the table's change log
(:mod:`engine.backends.local.changes`). When the log no longer holds every write since (the
table was recreated, recomputed without a log, or written outside pipe) they are counted again
from the table. Once the appended rows outnumber the keys, they are folded into one row a key.
"""

from __future__ import annotations

from engine import names

STATES = "UNIQUE_COUNTS"  # one row per kept key count: its table, version, hash probe and size
# State rows are found by hash: a DuckDB whose hash function differs must count again.
HASH_PROBE = "hash(1, 'pipe', 2.5::DOUBLE, DATE '2026-01-01', NULL::VARCHAR)"


def state_name(table: str, columns: list[str]) -> str:
    """The kept table counting the keys ``columns`` of ``table``."""
    return "UNIQUE_" + "_".join([table, *(names.key(c) for c in columns)])


def kept_versions(store) -> dict[str, int]:
    """The table version each kept key count reflects, by its name."""
    if not store.kept_exists(STATES):
        return {}
    return dict(store.con.execute(f"SELECT NAME, VERSION FROM {_sql(store.kept_table(STATES))}").fetchall())


def forget_others(store, declared) -> None:
    """Drop the key counts not among ``declared`` (their checks are no longer declared)."""
    stale = {t for t in store.kept_tables() if t.startswith("UNIQUE_") and t != STATES} - set(declared)
    if not stale:
        return
    store.drop_kept(sorted(stale))
    if store.kept_exists(STATES):
        marks = ", ".join("?" * len(stale))
        store.con.execute(f"DELETE FROM {_sql(store.kept_table(STATES))} WHERE NAME IN ({marks})", sorted(stale))


def drop_counts(store, table: str) -> None:
    """Drop the key counts of ``table`` (it is dropped)."""
    if not store.kept_exists(STATES):
        return
    states = _sql(store.kept_table(STATES))
    kept = [n for (n,) in store.con.execute(f"SELECT NAME FROM {states} WHERE TABLE_NAME = ?", [table]).fetchall()]
    store.drop_kept(kept)
    store.con.execute(f"DELETE FROM {states} WHERE TABLE_NAME = ?", [table])


class KeyCounts:
    """The kept key counts of one ``unique`` check's columns of one table.

    Args:
        store: the local database.
        log: the :class:`ChangeLog` of its tables.
        table: the checked table.
        columns: the key's columns, as declared (resolved by Snowflake's rules).
    """

    def __init__(self, store, log, table: str, columns: list[str]):
        self.store = store
        self.log = log
        self.table = table
        self.name = state_name(table, columns)
        self.relation = _sql(store.kept_table(self.name))
        self.states = _sql(store.kept_table(STATES))
        keys = [_col(c) for c in columns]
        self.hash = f"hash({', '.join(keys)})"
        self.present = " AND ".join(f"{k} IS NOT NULL" for k in keys)  # a NULL key part is not compared
        self._followed: bool | None = None
        self._written = 0  # keys whose count the last catch-up moved
        self._one_row_a_key = False  # whether the counts hold one row a key (none appended since)
        self._rows = 0  # rows of the counts (appended ones included), as last counted or followed
        self._indexed: bool | None = None  # whether the counts' index exists (None: not known yet)
        self._known: set[str] | None = None  # the kept tables, when the caller read them
        self._position: tuple[int, int] | None = None  # the table's, when the caller read it
        # The version last counted, as this process knows it (None: not known yet). A rolled back
        # write may leave it ahead of the stored one: the log is then compacted too far for the
        # counts to follow, and they are counted again, never wrongly.
        self.version: int | None = None
        self.delta = names.quoted("__PIPE_DELTA_" + self.name)  # the last catch-up's net count per key

    def forget(self, kept: set[str] | None = None, position: tuple[int, int] | None = None) -> None:
        """A new write is to be checked: the next call counts it. ``kept``: the kept tables that
        exist, ``position``: the table's (version, logged since), when the caller has just read them."""
        self._followed = None
        self._known = kept
        self._position = position

    def catch_up(self) -> bool:
        """Bring the counts up to date, once per write (see :meth:`forget`); True when they
        followed the writes since the last call, False when every row was counted again."""
        if self._followed is None:
            self._followed = self._catch_up()
        return self._followed

    def suspects(self, scoped: bool) -> list[int] | None:
        """Bring the counts up to date; return the hashes of the keys more than one row holds:
        among the keys written since the last write checked when ``scoped`` (and the counts
        could follow the writes), else among all. None when there are too many to list."""
        followed = self.catch_up()
        looked_up = False
        if scoped and followed:
            if not self._written:
                return []
            query = (f"SELECT __H FROM {self.relation} WHERE __H IN (SELECT __H FROM {self.delta}) "
                     "GROUP BY __H HAVING sum(__N) > 1")
            looked_up = self._looked_up()
        elif self._one_row_a_key:  # just counted or folded: no key has two rows
            query = f"SELECT __H FROM {self.relation} WHERE __N > 1"
        else:
            query = f"SELECT __H FROM {self.relation} GROUP BY __H HAVING sum(__N) > 1"
        with self.store.lookups(looked_up):
            found = self.store.con.execute(f"{query} LIMIT {MAX_SUSPECTS + 1}").fetchall()
        return None if len(found) > MAX_SUSPECTS else [int(h) for (h,) in found]

    def _looked_up(self) -> bool:
        """Whether the keys written since the last write checked are looked up in the counts
        through their index (see ``Store.lookups``): when the counts are many for so few keys;
        else a scan of the hash column costs less than the lookups."""
        from engine.backends.local.incremental.aggstate import SCAN_ROWS_PER_KEY
        from engine.backends.local.incremental.keys import MAX_LITERAL_KEYS, has_index

        if self._rows < SCAN_ROWS_PER_KEY * self._written or self._written > MAX_LITERAL_KEYS:
            return False
        if self._indexed is None:
            self._indexed = has_index(self.store, self.store.kept_table(self.name), f"{self.name}_H", "__H")
        return self._indexed

    def duplicates_where(self, suspects: list[int] | None) -> str:
        """The condition on the table's rows holding a suspected key (TRUE when not listed)."""
        if suspects is None:
            return "TRUE"
        return f"{self.hash} IN ({', '.join(str(h) for h in suspects)})" if suspects else "FALSE"

    # -- keeping the counts ----------------------------------------------------------------------

    def _catch_up(self) -> bool:
        """Count the writes since the counts' version (their net counts per key go to
        ``delta``); True when the log held them, False when every row was counted again."""
        from engine.backends.local.changes import SIGN, VERSION, log_name

        con = self.store.con
        current, logged_since = self._position or self.log.position(self.table)
        kept = self._kept()
        self._written = 0
        if kept is None or logged_since > kept[0] or kept[0] > current:
            self._recount(current, insert=kept is None)
            self._one_row_a_key = True
            return False
        version, rows, keys = kept
        self._rows = rows
        self._one_row_a_key = rows == keys
        if version == current:
            return True
        self._written = added = con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.delta} AS SELECT {self.hash} AS __H, sum({SIGN})::BIGINT AS __N "
            f"FROM {log_name(self.table)} WHERE {VERSION} > {int(version)} AND {VERSION} <= {int(current)} "
            f"AND {self.present} GROUP BY 1 HAVING sum({SIGN}) <> 0"
        ).fetchone()[0]
        if added:
            con.execute(f"INSERT INTO {self.relation} SELECT __H, __N FROM {self.delta}")
        rows += added
        if rows > 2 * keys + FOLD_AFTER:  # fold the appended rows: one a key
            rows = keys = con.execute(
                f"CREATE OR REPLACE TABLE {self.relation} AS SELECT __H, sum(__N)::BIGINT AS __N FROM {self.relation} "
                "GROUP BY 1 HAVING sum(__N) <> 0"
            ).fetchone()[0]
            self._indexed = None  # the table is new, without the index
        self._rows = rows
        self._one_row_a_key = rows == keys
        self._remember(current, rows, keys)
        return True

    def _recount(self, version: int, insert: bool) -> None:
        keys = self.store.con.execute(
            f"CREATE OR REPLACE TABLE {self.relation} AS SELECT {self.hash} AS __H, count(*)::BIGINT AS __N "
            f"FROM {self.store.qualified(self.table)} WHERE {self.present} GROUP BY 1"
        ).fetchone()[0]
        self._indexed = None  # the table is new, without the index
        self._rows = keys
        self._remember(version, keys, keys, insert=insert)

    def _kept(self) -> tuple[int, int, int] | None:
        """(version, rows, keys) of the counts, or None when there are none to trust."""
        kept = self.store.kept_tables() if self._known is None else self._known
        if STATES not in kept or self.name not in kept:
            return None
        row = self.store.con.execute(
            f"SELECT VERSION, ROWS, KEYS, PROBE = {HASH_PROBE} FROM {self.states} WHERE NAME = ?", [self.name]
        ).fetchone()
        return None if row is None or not row[3] else row[:3]

    def _remember(self, version: int, rows: int, keys: int, insert: bool = False) -> None:
        con = self.store.con
        self.version = version
        if not insert:
            con.execute(f"UPDATE {self.states} SET VERSION = ?, ROWS = ?, KEYS = ? WHERE NAME = ?",
                        [int(version), int(rows), int(keys), self.name])
            return
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.states} (NAME VARCHAR, TABLE_NAME VARCHAR, VERSION BIGINT, "
            "ROWS BIGINT, KEYS BIGINT, PROBE UBIGINT)"
        )
        con.execute(f"DELETE FROM {self.states} WHERE NAME = ?", [self.name])
        con.execute(
            f"INSERT INTO {self.states} VALUES (?, ?, ?, ?, ?, {HASH_PROBE})",
            [self.name, self.table, int(version), int(rows), int(keys)],
        )


MAX_SUSPECTS = 2_000  # above this many suspected keys, the table is read whole to confirm them
FOLD_AFTER = 10_000  # rows appended beyond twice the keys before the counts are folded


def _sql(relation) -> str:
    return relation.sql(dialect="duckdb")


def _col(name: str) -> str:
    """A column as written in the file (``member_id``, ``"café"``), quoted for DuckDB."""
    return names.quoted(names.key(name))
