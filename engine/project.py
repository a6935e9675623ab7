"""The library's front door: a loaded pipeline and the operations on it.

Each operation returns values and reports progress through a :class:`Reporter`; nothing here
prints. The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine import interrupts
from engine import names as identifiers
from engine.errors import PipeError, PlanError
from engine.graph import PipelineGraph, Warning_, build_graph
from engine.report import Reporter, Silent
from engine.spec.loader import coerce_scalar, load_pipeline, render_template
from engine.spec.model import Pipeline

if TYPE_CHECKING:  # imported where used: validate needs neither backends nor the planner
    from engine.backends.base import ActionResult, Backend, ObjectStatus, QueryResult, RefreshRecord
    from engine.planner import Plan

Confirm = Callable[["Plan"], bool]


@dataclass
class Project:
    """A validated pipeline, its graph and the warnings found while checking it."""

    pipeline: Pipeline
    graph: PipelineGraph
    warnings: list[Warning_] = field(default_factory=list)

    def backend(self, target: str = "local", **options) -> Backend:
        """Open the backend for ``target`` (``local`` or ``snowflake``)."""
        from engine.backends.base import get_backend

        return get_backend(target)(self.graph, **options)


def validate(path: str | Path, *, target: str = "local") -> Project:
    """Load ``path``, type-check it, build its graph and lint its queries.

    For the local target, every query must also be one the local engine can run.

    Raises:
        PipeError: the first problem found, with where it is and how to fix it.
    """
    from engine.precompile import precompiled
    from engine.sql.limits import few_full_collections

    with few_full_collections():  # the compiled queries stay alive: full collections only walk them
        pipeline = load_pipeline(path)
        with precompiled(pipeline, local=target == "local"):  # a wide file's queries, on every core
            graph = build_graph(pipeline)
            project = Project(pipeline, graph, list(graph.warnings))
            if target == "local":
                _check_local_sql(project)
                project.warnings += _local_refresh_warnings(project)
    return project


def _local_refresh_warnings(project: Project) -> list[Warning_]:
    """Where the local engine refreshes fully a table Snowflake would refresh incrementally."""
    warnings = []
    pipeline = project.pipeline
    for name, compiled in project.graph.queries.items():
        modes = compiled.modes(pipeline.dynamic_tables[name].refresh_mode)
        if modes.differs:
            warnings.append(
                Warning_(
                    f"Snowflake: {modes.snowflake}; locally: {modes.local}, because {modes.local_reason}",
                    pipeline.locate("dynamic_tables", name, "sql", table=name),
                )
            )
    return warnings


def _check_local_sql(project: Project) -> None:
    for name in project.graph.dynamic_tables:
        project.graph.duckdb_sql(name)


def plan(project: Project, backend: Backend | None = None, *, prune: bool = False) -> Plan:
    """What applying ``project`` to ``backend`` would do (everything, when there is no backend)."""
    from engine.planner import TargetState, build_plan

    state = backend.read_state() if backend is not None else TargetState.empty()
    target = backend.name if backend is not None else "local"
    return build_plan(project.graph, state, target=target, prune=prune)


def apply(
    project: Project,
    backend: Backend,
    *,
    reporter: Reporter | None = None,
    confirm: Confirm | None = None,
    prune: bool = False,
    adopt: Sequence[str] = (),
) -> tuple[Plan, list[ActionResult]]:
    """Make the target match the file. Asks ``confirm`` before replacing or dropping data.

    ``adopt`` names tables of declared names that pipe did not create, to take over with their
    rows (their columns must match the file); any other such table makes apply refuse.

    Raises:
        PlanError: the user declined a destructive plan, or a table pipe did not create is in
            the way.
    """
    reporter = reporter or Silent()
    if adopt:
        if not hasattr(backend, "adopt"):
            raise PlanError(f"--adopt is not supported by the {backend.name} target")
        backend.adopt(adopt)
    the_plan = plan(project, backend, prune=prune)
    if the_plan.conflicts:
        first = the_plan.conflicts[0]
        raise PlanError(
            f"{first.reason}: apply never replaces a table it did not make",
            hint=f"rerun with --adopt {first.name} to keep its rows and manage it if its columns match the file, "
            f"or drop it with pipe query FILE \"DROP TABLE {first.name}\" and apply again",
        )
    if not the_plan.has_changes:
        backend.recover(reporter)
        return the_plan, []
    if the_plan.destructive and confirm is not None and not confirm(the_plan):
        raise PlanError("apply cancelled: nothing was changed")
    return the_plan, backend.apply(the_plan, reporter)


def destroy(
    project: Project, backend: Backend, *, reporter: Reporter | None = None, confirm: Confirm | None = None
) -> tuple[Plan, list[ActionResult]]:
    """Drop every object the file declares, in reverse dependency order."""
    from engine.planner import build_destroy_plan

    reporter = reporter or Silent()
    the_plan = build_destroy_plan(project.graph, backend.read_state(), target=backend.name)
    if not the_plan.actions:
        return the_plan, []
    if confirm is not None and not confirm(the_plan):
        raise PlanError("destroy cancelled: nothing was dropped")
    return the_plan, backend.apply(the_plan, reporter)


@dataclass(frozen=True)
class StreamSettings:
    """How many batches of how many rows, and the pause between them."""

    table: str
    generator: str
    args: tuple
    batches: int
    records: int
    delay: float


def stream_settings(
    project: Project, *, batches: int | None = None, records: int | None = None, delay: float | None = None
) -> StreamSettings:
    """The file's stream block with the command line's overrides.

    Raises:
        PlanError: the file has no stream block.
    """
    spec = project.pipeline.stream
    if spec is None:
        raise PlanError(
            "the pipeline has no stream: block", hint="add stream: with table, generator and args"
        )
    for label, value in (("--batches", batches), ("--records", records)):
        if value is not None and value < 1:
            raise PlanError(f"{label} must be at least 1")
    if delay is not None and delay < 0:
        raise PlanError("--delay must be zero or more")
    return StreamSettings(
        spec.table,
        spec.generator,
        tuple(spec.args),
        batches if batches is not None else spec.batches,
        records if records is not None else spec.records,
        delay if delay is not None else spec.delay_seconds,
    )


def batch_args(project: Project, settings: StreamSettings, batch: int, rows: int = 0) -> list:
    """The generator arguments of one batch, with {{ records }}, {{ batch }} and {{ rows }} (the
    table's row count before the batch) filled in."""
    location = project.pipeline.locate("stream", "args")
    context = {"vars": project.pipeline.vars, "records": settings.records, "batch": batch, "rows": rows}
    return [
        coerce_scalar(render_template(a, context, location)) if isinstance(a, str) and "{" in a else a
        for a in settings.args
    ]


def stream(
    project: Project,
    backend: Backend,
    settings: StreamSettings,
    *,
    reporter: Reporter | None = None,
    until_fresh: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RefreshRecord]:
    """Insert the batches, letting the target's scheduler refresh in between.

    Ends with every dynamic table refreshed at least once after the last batch. Stops cleanly
    between batches on Ctrl-C: the first one is honoured once the batch in progress is committed
    (KeyboardInterrupt is raised then); a second one raises at once, rolling back what was running.
    """
    from engine.checks.after_refresh import failure_lines

    reporter = reporter or Silent()
    refreshes: list[RefreshRecord] = []
    with interrupts.deferred() as stop:
        uses_rows = any(isinstance(a, str) and "rows" in a for a in settings.args)
        total = (backend.row_count(settings.table) or 0) if uses_rows else 0
        for batch in range(1, settings.batches + 1):
            args = batch_args(project, settings, batch, rows=total or 0)
            rows = backend.insert_batch(settings.table, settings.generator, args)
            total = backend.row_count(settings.table)
            reporter.event("batch", batch=batch, batches=settings.batches, rows=rows, table=settings.table, total=total)
            for line in failure_lines(backend.batch_checks()):  # the batch's rows broke its table's checks
                reporter.warn(line)
            stop.check()
            refreshes += backend.tick(reporter)
            stop.check()
            if batch < settings.batches:
                deadline = clock() + settings.delay
                while clock() < deadline:
                    sleep(min(0.5, max(deadline - clock(), 0)))
                    stop.check()
                    refreshes += backend.tick(reporter)
                    stop.check()
        refreshes += backend.settle(reporter)
        stop.check()
        if until_fresh:
            refreshes += _wait_until_fresh(project, backend, reporter, clock, sleep, stop)
    return refreshes


def _wait_until_fresh(
    project, backend, reporter, clock, sleep, stop: interrupts.StopRequest | None = None, timeout: float = 600
) -> list[RefreshRecord]:
    """Let the scheduler run until every dynamic table is within its effective target lag."""
    stop = stop or interrupts.StopRequest()
    refreshes: list[RefreshRecord] = []
    deadline = clock() + timeout
    while True:
        refreshes += backend.tick(reporter)
        stop.check()
        behind = [s.name for s in backend.status() if _behind(project.graph, s)]
        if not behind:
            return refreshes
        if clock() >= deadline:
            raise PipeError(f"still behind the target lag after {timeout:.0f}s: {', '.join(behind)}")
        sleep(1)
        stop.check()


def _behind(graph: PipelineGraph, status: ObjectStatus) -> bool:
    if status.kind != "dynamic_table":
        return False
    lag = graph.effective_lag(status.name)
    if lag is None:
        return False
    return status.lag_seconds is None or status.lag_seconds > lag


def status(backend: Backend) -> list[ObjectStatus]:
    """Every declared object's status."""
    return backend.status()


def history(backend: Backend, *, names: Sequence[str] = (), limit: int | None = None) -> list[RefreshRecord]:
    """Refresh history, newest first."""
    return backend.history(names=list(names), limit=limit)  # each backend resolves them (Backend.resolved)


def refresh(
    project: Project, backend: Backend, names: Sequence[str] = (), *, full: bool = False, reporter: Reporter | None = None
) -> list[RefreshRecord]:
    """Refresh ``names`` (every dynamic table when empty), upstream first, at one data timestamp.

    Raises:
        PlanError: a name is not a dynamic table of the pipeline.
    """
    from engine.errors import did_you_mean

    wanted = [identifiers.pick(n, project.pipeline.dynamic_tables) or n for n in names]
    for name in wanted:
        if name not in project.pipeline.dynamic_tables:
            raise PlanError(
                f"{name} is not a dynamic table of {project.pipeline.name}",
                hint=did_you_mean(name, project.pipeline.dynamic_tables) or "see pipe status",
            )
    return backend.refresh(wanted, full=full, reporter=reporter or Silent())


def query(backend: Backend, sql: str) -> QueryResult:
    """Run one Snowflake SQL statement on the target."""
    return backend.query(sql)
