"""Change tracking: every write to a table gets a version, and its rows go to a change log.

Each table (base or dynamic) has ``_PIPE."LOG_<NAME>"`` holding the rows written since
``LOGGED_SINCE``, each with ``__VERSION`` and ``__SIGN`` (+1 inserted, -1 deleted). A dynamic
table remembers the version of each input it last refreshed from; the rows between that and
the current version are the change it has to apply. When the log cannot say what changed (the
table was recreated, or written outside pipe), ``LOGGED_SINCE`` moves past the gap and readers
refresh fully.
"""

from __future__ import annotations

import json

from engine.backends.local.store import META, Store, quote, utcnow

VERSION = "__VERSION"
SIGN = "__SIGN"


def log_name(table: str) -> str:
    """The change log of ``table``, qualified."""
    return f"{META}.{quote('LOG_' + table)}"


class ChangeLog:
    """Versions and change logs of the tables of one local database."""

    def __init__(self, store: Store):
        self.store = store
        # table -> the version up to which its log was compacted by this process: versions only
        # grow, so compacting up to it again finds nothing (pipe holds the file's lock while it runs)
        self._compacted: dict[str, int] = {}

    @property
    def con(self):
        return self.store.con

    def versions(self) -> dict[str, int]:
        """Current version of every table."""
        return {name: version for name, (version, _) in self.positions().items()}

    def positions(self) -> dict[str, tuple[int, int]]:
        """(current version, the version after which its log is complete) of every table, in one read."""
        rows = self.con.execute(f"SELECT NAME, VERSION, LOGGED_SINCE FROM {META}.TABLE_VERSIONS").fetchall()
        return {name: (version, since) for name, version, since in rows}

    def position(self, name: str) -> tuple[int, int]:
        """(current version, the version after which its log is complete) of ``name`` in one
        read; (0, 0) when unknown."""
        row = self.con.execute(f"SELECT VERSION, LOGGED_SINCE FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name]).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def _next(self, name: str) -> int:
        return self.position(name)[0] + 1

    def _next_signed(self, name: str) -> tuple[int, Signature | None]:
        """The version the next write to ``name`` takes, and the table's signature now; one read."""
        row = self.con.execute(f"SELECT VERSION, SIGNATURE FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name]).fetchone()
        return (row[0] if row else 0) + 1, Signature.parse(row[1] if row else None)

    def _set(self, name: str, version: int, logged_since: int | None = None, signature: Signature | None = None) -> None:
        """Move ``name`` to ``version`` (and its signature, when given): one UPDATE of its row
        (a third of the cost of an upsert), an INSERT when it has none yet."""
        dumped = signature.dump() if signature is not None else None
        updated = self.con.execute(
            f"""UPDATE {META}.TABLE_VERSIONS SET VERSION = ?, CHANGED_AT = ?, LOGGED_SINCE = coalesce(?, LOGGED_SINCE),
                SIGNATURE = coalesce(?, SIGNATURE) WHERE NAME = ?""",
            [version, utcnow(), logged_since, dumped, name],
        ).fetchone()[0]
        if updated:
            return
        self.con.execute(
            f"""INSERT INTO {META}.TABLE_VERSIONS (NAME, VERSION, LOGGED_SINCE, SIGNATURE, CHANGED_AT)
                VALUES (?, ?, ?, ?, ?)""",
            [name, version, logged_since if logged_since is not None else 0, dumped, utcnow()],
        )

    def reset(self, name: str) -> int:
        """``name`` was (re)created: a new version, with an empty log from there on."""
        version = self._next(name)
        self._compacted.pop(name, None)
        self.con.execute(f"DROP TABLE IF EXISTS {log_name(name)}")
        self.con.execute(
            f"CREATE TABLE {log_name(name)} AS SELECT *, 0::BIGINT AS {VERSION}, 0::TINYINT AS {SIGN} "
            f"FROM {self.store.qualified(name)} LIMIT 0"
        )
        self._set(name, version, logged_since=version)
        self.seal(name)
        return version

    def unlogged(self, name: str, signature: Signature | None = None) -> int:
        """``name`` changed in a way the log does not hold: readers must refresh fully.

        ``signature`` is the table's as it is now, when the caller computed it with the change
        (else it is computed here, reading the whole table)."""
        version = self._next(name)
        self.con.execute(f"DELETE FROM {log_name(name)}")
        self._set(name, version, logged_since=version, signature=signature)
        if signature is None:
            self.seal(name)
        return version

    def record(self, name: str, inserted: str | None = None, deleted: str | None = None) -> int:
        """Log a write to ``name``: ``inserted``/``deleted`` are SQL queries of its rows.

        The table's signature moves with the change, in the same transaction, so that it always
        describes what pipe last wrote, however the process ends.
        """
        version, signature = self._next_signed(name)
        for rows, sign in ((inserted, 1), (deleted, -1)):
            if rows:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_LOGGED AS {rows}")
                self.con.execute(
                    f"INSERT INTO {log_name(name)} SELECT *, {version}::BIGINT, {sign}::TINYINT FROM __PIPE_LOGGED"
                )
                n, total = self.con.execute(f"SELECT count(*), {_ROW_HASH_SUM} FROM __PIPE_LOGGED AS {ROW}").fetchone()
                if signature is not None:
                    signature = signature.moved(sign * n, sign * int(total))
        self._set(name, version, signature=signature)
        return version

    def record_counted(self, name: str, columns: list[str], counted: str) -> tuple[int, int]:
        """Log a write to ``name`` given as the temporary table ``counted``: its ``columns`` and
        ``__PIPE_COPIES``, how many copies of that row were inserted (above zero) or deleted
        (below). Returns (rows inserted, rows deleted); nothing is logged when both are 0.

        The counts and the change of the signature (see :meth:`record`) are read off the small
        table in one pass; the signature moves in the statement that moves the version."""
        listed = ", ".join(quote(c) for c in columns)
        # hash(struct_pack(<columns>)) is the hash(ROW) of the signature: each row's, times its copies
        row = "struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in columns) + ")"
        inserted, deleted, total = self.con.execute(
            f"""SELECT coalesce(sum(__PIPE_COPIES) FILTER (WHERE __PIPE_COPIES > 0), 0),
                       coalesce(-sum(__PIPE_COPIES) FILTER (WHERE __PIPE_COPIES < 0), 0),
                       coalesce(sum(hash({row})::HUGEINT * __PIPE_COPIES), 0)::VARCHAR FROM {counted}"""
        ).fetchone()
        if not inserted and not deleted:
            return 0, 0
        version, signature = self._next_signed(name)
        self.con.execute(
            f"""INSERT INTO {log_name(name)} SELECT {listed}, {version}::BIGINT, sign(__PIPE_COPIES)::TINYINT
                FROM {counted}, range(abs(__PIPE_COPIES)) AS __PIPE_COPY(__PIPE_I)"""
        )
        if signature is not None:
            signature = signature.moved(inserted - deleted, int(total))
        self._set(name, version, signature=signature)
        return inserted, deleted

    def changes(self, name: str, after: int, upto: int) -> str:
        """SQL of the rows (with ``__SIGN``) written to ``name`` in versions ``(after, upto]``."""
        return f"SELECT * EXCLUDE ({VERSION}) FROM {log_name(name)} WHERE {VERSION} > {int(after)} AND {VERSION} <= {int(upto)}"

    def inserts_only(self, name: str, after: int, upto: int) -> bool:
        """Whether the writes to ``name`` in versions ``(after, upto]`` only inserted rows."""
        return not self.con.execute(
            f"SELECT count(*) FROM {log_name(name)} WHERE {VERSION} > {int(after)} AND {VERSION} <= {int(upto)} AND {SIGN} < 0"
        ).fetchone()[0]

    def materialise(self, name: str, after: int, upto: int, into: str) -> None:
        """Copy :meth:`changes` to the temporary table ``into``."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {self.changes(name, after, upto)}")

    def drop(self, name: str) -> None:
        """Forget ``name`` entirely."""
        self._compacted.pop(name, None)  # its versions start again from 1
        self.con.execute(f"DROP TABLE IF EXISTS {log_name(name)}")
        self.con.execute(f"DELETE FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name])

    def compact(self, name: str, upto: int) -> None:
        """Delete the log rows of versions up to ``upto``, which every reader has applied.

        The log is then complete only after ``upto``: a reader still behind it (one that was
        not counted, as it recomputes anyway) finds so and recomputes instead of missing rows.
        A compaction rolled back leaves rows every reader has applied, which a later one deletes.
        """
        if upto <= self._compacted.get(name, -1):
            return
        self._compacted[name] = upto
        deleted = self.con.execute(f"DELETE FROM {log_name(name)} WHERE {VERSION} <= {int(upto)}").fetchone()[0]
        if deleted:
            self.con.execute(
                f"UPDATE {META}.TABLE_VERSIONS SET LOGGED_SINCE = ? WHERE NAME = ? AND LOGGED_SINCE < ?",
                [int(upto), name, int(upto)],
            )

    # -- writes made outside pipe ---------------------------------------------------------------

    def signature(self, name: str) -> Signature:
        """A fingerprint of a table as it is now: its columns, row count and the sum of its
        rows' hashes."""
        count, total = self.con.execute(
            f"SELECT count(*), {_ROW_HASH_SUM} FROM {self.store.qualified(name)} AS {ROW}"
        ).fetchone()
        return Signature(count, int(total), self.store.column_types(name))

    def stored_signature(self, name: str) -> str | None:
        row = self.con.execute(f"SELECT SIGNATURE FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name]).fetchone()
        return row[0] if row else None

    def seal(self, name: str) -> None:
        """Remember the table's signature, to detect later writes made outside pipe."""
        self._store_signature(name, self.signature(name).dump())

    def _store_signature(self, name: str, signature: str) -> None:
        self.con.execute(f"UPDATE {META}.TABLE_VERSIONS SET SIGNATURE = ? WHERE NAME = ?", [signature, name])


# Each row's 64-bit hash, summed exactly as a HUGEINT: unlike an XOR, a sum cannot cancel, so
# any change to the multiset of rows (two identical rows updated alike included) moves it,
# unless it happens to preserve the sum of 64-bit hashes, which random changes do with
# probability about 2^-64. A 128-bit total overflows only past 2^64 rows.
# The alias naming a whole row: hash(<alias>) hashes a column instead when the table has one of
# that name, so the alias is one no table of a pipeline has.
ROW = "__PIPE_ROW"
_ROW_HASH_SUM = f"coalesce(sum(hash({ROW})::HUGEINT), 0)::VARCHAR"


class Signature:
    """What pipe last wrote to a table: row count, sum of row hashes, and (name, type) columns."""

    def __init__(self, rows: int, total: int, columns: list[tuple[str, str]]):
        self.rows = rows
        self.total = total
        self.columns = [tuple(c) for c in columns]

    @classmethod
    def parse(cls, text: str | None) -> Signature | None:
        """The stored form read back; None when there is none or it is of an older layout
        (count:xor), which is replaced by the next seal rather than trusted."""
        if not text or not text.startswith("{"):
            return None
        data = json.loads(text)
        return cls(data["rows"], int(data["sum"]), data["columns"])

    def dump(self) -> str:
        return json.dumps({"rows": self.rows, "sum": str(self.total), "columns": [list(c) for c in self.columns]})

    def moved(self, rows: int, total: int) -> Signature:
        """This signature after a logged write of ``rows`` rows whose hashes sum to ``total``."""
        return Signature(self.rows + rows, self.total + total, self.columns)

    def same_rows(self, other: Signature) -> bool:
        return (self.rows, self.total) == (other.rows, other.total)

    def column_change(self, now: Signature) -> str | None:
        """What changed in the columns, in words, or None when nothing did."""
        if self.columns == now.columns:
            return None
        before, after = dict(self.columns), dict(now.columns)
        parts = []
        gone = [c for c in before if c not in after]
        new = [c for c in after if c not in before]
        if gone:
            parts.append("column " + ", ".join(gone) + " removed or renamed")
        if new:
            parts.append("column " + ", ".join(new) + " added")
        retyped = [f"{c} {before[c]} → {after[c]}" for c in before if c in after and before[c] != after[c]]
        if retyped:
            parts.append("type changed: " + ", ".join(retyped))
        if not parts:
            parts.append("columns reordered")
        return "; ".join(parts)
