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
import re
import types
from datetime import datetime

import pytest

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
    remote = run_as_snowflake(statement, args, NOW)
    local = [tuple(row) for row in generate_rows(pipeline, generator, list(args), seed=pipeline.seed, now=NOW)]
    assert len(remote) == len(local) == args[0]
    assert remote == local


def test_udtf_pins_the_faker_version_installed_here():
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function("gen_members")
    assert f"PACKAGES = ('faker=={FAKER_VERSION}')" in statement
    assert importlib.metadata.version("faker") == FAKER_VERSION


def test_the_body_seed_is_the_pipeline_seed():
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function("gen_interactions")
    other = run_as_snowflake(statement.replace(f"SEED = {pipeline.seed}\n$$", "SEED = 1\n$$"), [50, 1], NOW)
    assert other != run_as_snowflake(statement, [50, 1], NOW)
