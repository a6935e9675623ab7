"""``pipe test``: run every declared check now, and the query unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.checks.after_refresh import result_rows
from engine import names as identifiers
from engine.checks.declared import check_key, declared_checks
from engine.checks.local import ERROR, CheckResult, LocalChecks
from engine.checks.unit import UnitResult, run_unit_tests
from engine.errors import PlanError, did_you_mean


@dataclass(frozen=True)
class TestReport:
    """What ``pipe test`` found."""

    checks: list[CheckResult] = field(default_factory=list)
    units: list[UnitResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error check failed and every unit test passed."""
        return not any(r.blocks for r in self.checks) and all(u.passed for u in self.units)


def run_tests(project, backend, names=()) -> TestReport:
    """Run the checks (on ``backend``'s current data) and unit tests selected by ``names``:
    table, check or unit test names; everything when empty.

    Raises:
        PlanError: a name matches no table, check or unit test.
    """
    _check_names(project, names)
    checks = declared_checks(project.pipeline, names)
    results = backend_checks(backend, project, checks) if checks else []
    return TestReport(results, run_unit_tests(project, names))


def backend_checks(backend, project, checks) -> list[CheckResult]:
    """Evaluate ``checks`` on the backend's data."""
    if backend.name == "local":
        return _local(backend, project, checks)
    from engine.checks.snowflake import run_as_queries

    return run_as_queries(backend, project, checks)


def _local(backend, project, checks) -> list[CheckResult]:
    store = backend.store
    if store is None:
        return [_missing(item, "the local database does not exist yet: run pipe apply") for item in checks]
    runner = LocalChecks(store, project.pipeline)
    results = []
    for item in checks:
        if not store.table_exists(item.table):
            results.append(_missing(item, f"{item.table} does not exist locally: run pipe apply"))
        else:
            results.append(runner.run(item))
    if not store.read_only:
        store.record_check_results(result_rows(results, None, "TEST"))
    return results


def _missing(item, message: str) -> CheckResult:
    check = item.check
    return CheckResult(item.table, item.name, check.kind.value, check.severity, ERROR, message=message)


def _check_names(project, names) -> None:
    pipeline = project.pipeline
    from engine.checks.files import test_owners

    known = {n: identifiers.sql(n) for n in pipeline.object_names}  # compared -> shown
    known |= {identifiers.key(t.name): t.name for owner in test_owners(pipeline) for t in owner.tests}
    known |= {item.key: item.name for item in declared_checks(pipeline)}
    for name in names:
        if check_key(name) not in known and name not in known:  # resolved, or a stored name as typed
            raise PlanError(
                f"{name} is not a table, check or unit test of {pipeline.name}",
                hint=did_you_mean(name, known.values()) or "pass table, check or unit test names, or none for all",
            )
