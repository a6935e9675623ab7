"""The exact UDTF pipe sends to Snowflake, run the way Snowflake runs a Python UDTF, gives the rows
the local generator gives for the same seed and arguments.

Snowflake's Python UDTF protocol (developer-guide/udf/python/udf-python-tabular-functions): the
handler class named by HANDLER is instantiated with no arguments for each partition, ``process``
is called once per input row with that row's arguments and its yielded tuples are the output
rows, then ``end_partition`` is called if the class defines it. A ``TABLE(f(10, 1))`` call is
one partition of one input row. VARIANT values are what the handler yields.

The body is taken from the CREATE FUNCTION statement pipe renders (between ``AS $$`` and
``$$``) and executed as a fresh module, as Snowflake does; the only thing the test sets in it
is ``NOW``, the reference time the generators otherwise read from the clock.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import types
from datetime import datetime

import pytest
import sqlglot
from sqlglot import exp

from engine.generators import generate_rows
from engine.generators.packages import FAKER_VERSION
from engine.spec.loader import load_pipeline
from engine.sql.render import Statements
from helpers import ENGAGEMENT

NOW = datetime(2025, 6, 1, 12, 0, 0, 654321)
CALLS = [("gen_members", [25]), ("gen_resources", [12]), ("gen_interactions", [300, 3])]


def run_as_snowflake(create_function: str, args: list, now: datetime) -> list[tuple]:
    """Execute the UDTF body of ``create_function`` and call its handler like Snowflake does."""
    body = re.search(r"\nAS \$\$\n(.*)\n\$\$$", create_function, re.S).group(1)
    handler = re.search(r"\nHANDLER = '(\w+)'", create_function).group(1)
    module = types.ModuleType("udtf_body")
    exec(compile(body, "<udtf body>", "exec"), module.__dict__)
    module.NOW = now
    instance = getattr(module, handler)()  # no arguments, once per partition
    rows = [tuple(row) for row in instance.process(*args)]  # one input row
    if hasattr(instance, "end_partition"):
        rows += [tuple(row) for row in instance.end_partition() or ()]
    return rows


@pytest.mark.parametrize("generator, args", CALLS, ids=[c[0] for c in CALLS])
def test_udtf_body_gives_the_local_rows(generator, args):
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function(generator)
    remote = run_as_snowflake(statement, [*args, pipeline.seed], NOW)  # the seed argument last, as pipe calls it
    local = [tuple(row) for row in generate_rows(pipeline, generator, list(args), seed=pipeline.seed, now=NOW)]
    assert len(remote) == len(local) == args[0]
    assert remote == local


def test_udtf_pins_the_faker_version_installed_here():
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function("gen_members")
    assert f"PACKAGES = ('faker=={FAKER_VERSION}')" in statement
    assert importlib.metadata.version("faker") == FAKER_VERSION


def test_the_seed_argument_seeds_the_call():
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function("gen_interactions")
    assert run_as_snowflake(statement, [50, 1, 1], NOW) != run_as_snowflake(statement, [50, 1, pipeline.seed], NOW)
    # whatever SEED the module text ends with: the argument decides
    other_body = statement.replace(f"SEED = {pipeline.seed}\n", "SEED = 1\n")
    assert other_body != statement
    assert run_as_snowflake(other_body, [50, 1, pipeline.seed], NOW) == run_as_snowflake(statement, [50, 1, pipeline.seed], NOW)


# -- stream batches: the INSERT pipe sends per batch, against the local stream's own batches ------


def _seed_argument(insert: str, rows_before: int) -> int:
    """The value of the last argument of the generator call in ``insert`` when the table holds
    ``rows_before`` rows: Snowflake evaluates ``<n> + BEFORE_BATCH.N`` with N = COUNT(*)."""
    call = sqlglot.parse_one(insert, read="snowflake").find(exp.Anonymous)
    seed = call.expressions[-1]
    assert isinstance(seed, exp.Add) and seed.expression.sql() == "BEFORE_BATCH.N", seed.sql()
    counted = sqlglot.parse_one(insert, read="snowflake").find(exp.Subquery)
    assert counted.alias == "BEFORE_BATCH" and counted.this.sql() == "SELECT COUNT(*) AS N FROM RAW_INTERACTIONS"
    return int(seed.this.sql()) + rows_before


def _literal_args(insert: str) -> list:
    call = sqlglot.parse_one(insert, read="snowflake").find(exp.Anonymous)
    return [int(a.sql()) for a in call.expressions[:-1]]


def _as_compared(rows) -> list[tuple]:
    """(member_id, event_data as sorted JSON) sorted: DuckDB gives VARIANT back as JSON text."""
    def variant(value):
        return json.loads(value) if isinstance(value, str) else json.loads(json.dumps(value, default=str))

    return sorted((int(member), json.dumps(variant(data), sort_keys=True)) for member, data in rows)


def test_stream_batches_on_snowflake_are_the_local_batches(tmp_path, monkeypatch):
    """Two batches of ``pipe stream`` run locally, then the UDTF Snowflake would run for the INSERT
    pipe sends per batch: batch n gives the same rows on both targets, and batch 1 differs from 2."""
    from collections import Counter

    import engine
    from engine.generators import load_module
    from engine.project import batch_args

    project = engine.validate(ENGAGEMENT)
    pipeline = project.pipeline
    monkeypatch.setattr(load_module(pipeline, "gen_interactions"), "NOW", NOW)  # both targets: one clock
    settings = engine.stream_settings(project, batches=2, records=40, delay=0)
    with project.backend("local", db=tmp_path / "e.duckdb") as backend:
        engine.apply(project, backend)
        start = backend.row_count("RAW_INTERACTIONS")
        local = []
        for batch in (1, 2):
            before = backend.row_count("RAW_INTERACTIONS")
            held = Counter(backend.query("SELECT MEMBER_ID, EVENT_DATA FROM RAW_INTERACTIONS").rows)
            backend.insert_batch(settings.table, settings.generator, batch_args(project, settings, batch, rows=before))
            now_held = Counter(backend.query("SELECT MEMBER_ID, EVENT_DATA FROM RAW_INTERACTIONS").rows)
            local.append(list((now_held - held).elements()))  # the batch's rows
    assert start == 10_000 and [len(rows) for rows in local] == [40, 40]

    statements = Statements(pipeline)
    udtf = statements.create_function("gen_interactions")
    remote = []
    for batch, before in ((1, start), (2, start + 40)):
        args = batch_args(project, settings, batch, rows=before)
        insert = statements.insert_generated("RAW_INTERACTIONS", "gen_interactions", args)
        remote.append(run_as_snowflake(udtf, [*_literal_args(insert), _seed_argument(insert, before)], NOW))

    assert [_as_compared(rows) for rows in remote] == [_as_compared(rows) for rows in local]
    assert _as_compared(remote[0]) != _as_compared(remote[1])  # batches differ, not only in ids
    members = [{row[0] for row in rows} for rows in remote]
    assert members[0] != members[1]
