"""What happened to the local database behind pipe's back, and what pipe owns in it.

pipe holds the DuckDB file's lock for as long as a command runs, so no other client can write
while it does: checking once, when a command opens the file, is enough. The check compares each
table with the signature pipe stored when it last wrote it (row count, sum of row hashes,
columns; see :class:`~engine.backends.local.changes.Signature`):

- rows changed in a base table: its change log has a gap; readers refresh fully next time;
- rows changed in a dynamic table: its next refresh is a REINITIALIZE, saying why;
- columns changed in either: the table cannot be used as it is; refresh and stream refuse with
  what changed, and ``apply`` recreates it as declared (asking first for a base table).

Ownership: pipe touches only tables its bookkeeping says it made. A declared name that exists
without any record of pipe having made it is a conflict: ``apply`` refuses until it is adopted
(``--adopt NAME``) or dropped. Bookkeeping rows lost from ``_PIPE`` are rebuilt from the catalog
where the table itself shows pipe made it (its change log and signature are there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.backends.local.changes import ChangeLog, Signature
from engine.backends.local.store import Store
from engine.errors import BackendError, PlanError
from engine.graph import DYNAMIC_TABLE, EXTERNAL, PipelineGraph
from engine.planner import TABLE


@dataclass
class Findings:
    """The outcome of one check of the local database."""

    columns: dict[str, str] = field(default_factory=dict)  # table -> what changed in its columns
    rows: dict[str, str] = field(default_factory=dict)  # table -> why its rows are not pipe's
    foreign: dict[str, str] = field(default_factory=dict)  # declared name -> what exists there
    broken: dict[str, str] = field(default_factory=dict)  # pipe's table to recreate -> why
    unrecorded: list[str] = field(default_factory=list)  # pipe's base tables whose record is rebuilt


def declared(graph: PipelineGraph) -> list[str]:
    """The tables and dynamic tables pipe makes, in create order."""
    return [n for n in graph.create_order if graph.kind(n) != EXTERNAL]


def inspect(store: Store, graph: PipelineGraph, *, rows: bool) -> Findings:
    """Compare the database with pipe's bookkeeping. ``rows`` also hashes every table's rows
    (the costly part: a writable open does it once; read-only commands check columns only)."""
    found = Findings()
    objects = store.objects()
    versioned = store.table_signatures()
    dynamic = set(store.dynamic_tables())
    log = ChangeLog(store)
    for name in declared(graph):
        if not store.table_exists(name):
            continue
        is_dt = graph.kind(name) == DYNAMIC_TABLE
        if name not in objects:
            if name in versioned:  # pipe made it: its change log and signature are there
                if is_dt:
                    found.broken[name] = "pipe's record of its definition was lost: it is recreated from the file"
                else:  # rebuilt by repair(), keeping its rows
                    found.unrecorded.append(name)
            else:
                found.foreign[name] = _describe(store, name)
            continue
        if is_dt and name not in dynamic:
            found.broken[name] = "pipe's record of its refresh state was lost: it is recreated from the file"
            continue
        stored = Signature.parse(versioned.get(name))
        if stored is None:
            continue
        now = log.signature(name) if rows else Signature(stored.rows, stored.total, store.column_types(name))
        change = stored.column_change(now)
        if change:
            found.columns[name] = change
            found.broken[name] = f"its columns were changed outside pipe ({change})"
        elif rows and not stored.same_rows(now):
            found.rows[name] = (
                f"its rows were changed outside pipe ({stored.rows} rows written by pipe, {now.rows} found)"
            )
    return found


def _describe(store: Store, name: str) -> str:
    count = store.row_count(name)
    return f"{store.schema}.{name} exists in {store.path} ({count:,} rows) but pipe did not create it"


def repair(store: Store, graph: PipelineGraph, found: Findings, fingerprint) -> None:
    """Rebuild lost bookkeeping that the catalog can vouch for, and note outside changes.

    A base table pipe made (its change log is there) whose OBJECTS row is gone is recorded
    again with the file's definition, keeping its rows; a table whose version row is gone gets
    a new change log (readers refresh fully); dynamic tables whose rows changed are marked to
    reinitialise.
    """
    objects = store.objects()
    versioned = store.table_signatures()
    log = ChangeLog(store)
    with store.transaction():
        for name in declared(graph):
            if not store.table_exists(name) or name in found.foreign or name in found.broken:
                continue
            if name not in objects and graph.kind(name) != DYNAMIC_TABLE and name in versioned:
                store.put_object(name, name, TABLE, {"fingerprint": fingerprint(name)})
            if name not in versioned and name in objects:
                log.reset(name)
                _reinitialise(store, graph, graph.all_downstream(name))
        for name in found.rows:
            if graph.kind(name) == DYNAMIC_TABLE:
                _reinitialise(store, graph, [name])
            else:
                log.unlogged(name)


def _reinitialise(store: Store, graph: PipelineGraph, names) -> None:
    for name in names:
        if graph.kind(name) == DYNAMIC_TABLE:
            store.mark_reinitialize(name)


def check_usable(found: Findings, names) -> None:
    """Refuse to refresh or write to a table whose columns were changed outside pipe.

    Raises:
        BackendError: naming the table, what changed and how to proceed.
    """
    for name in names:
        if name in found.broken:
            raise BackendError(
                f"{name}: {found.broken[name]}",
                hint="run pipe apply to recreate it as declared; it asks before replacing a base table's rows",
            )


def check_adoptable(store: Store, graph: PipelineGraph, found: Findings, name: str, declared_columns) -> None:
    """``--adopt NAME`` takes over a table pipe did not make, if its columns match the file.

    Raises:
        PlanError: the name is not such a table, or its columns differ from the declared ones.
    """
    if name not in found.foreign:
        what = "is not declared by the file" if name not in graph.graph else "is not a table pipe did not create"
        raise PlanError(f"--adopt {name}: {name} {what}", hint="adopt only a conflict that pipe plan shows")
    have = store.column_types(name)  # names as stored: resolved, like the declared ones
    if declared_columns is None:
        return
    want = list(declared_columns)
    if [c for c, _ in have] != [c for c, _ in want] or any(
        w and h != w for (_, h), (_, w) in zip(have, want)
    ):
        describe = lambda cols: ", ".join(f"{c} {t}" for c, t in cols)  # noqa: E731
        raise PlanError(
            f"--adopt {name}: its columns ({describe(have)}) differ from the declared ones ({describe(want)})",
            hint=f"drop or rename {store.schema}.{name} and apply again, or declare its columns",
        )
