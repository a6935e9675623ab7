"""Statements pipe sends to Snowflake per command, counted on the connection double.

Run from a checkout (the double is tests/backends/snowflake_double.py of that checkout):

    PYTHONPATH=$PWD python bench/bench_snowflake_statements.py

Counts for: a first apply, a re-apply of the unchanged file, status, and a 5-batch stream
(engagement.yaml; the scheduler is made to refresh once between batches; 10 s between batches,
time passing on the double's clock only).
"""

from __future__ import annotations

import inspect
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import engine  # noqa: E402
from backends.snowflake_double import FakeSnowflake  # noqa: E402
from engine.backends.snowflake import SnowflakeBackend  # noqa: E402
from engine.graph import build_graph  # noqa: E402
from engine.planner import build_plan  # noqa: E402
from engine.report import Reporter  # noqa: E402
from engine.spec import load_pipeline  # noqa: E402


def main() -> None:
    fake = FakeSnowflake()
    graph = build_graph(load_pipeline(ROOT / "pipelines" / "engagement.yaml"))
    options = {"connect": fake.connect, "clock": fake.now}
    if "monotonic" in inspect.signature(SnowflakeBackend).parameters:
        options["monotonic"] = fake.monotonic
    counts = {}

    def measure(label, action):
        mark = len(fake.statements)
        with SnowflakeBackend(graph, **options) as backend:
            action(backend)
        counts[label] = len(fake.statements) - mark

    def apply(backend):
        backend.apply(build_plan(graph, backend.read_state(), target="snowflake"), Reporter())

    measure("apply", apply)
    measure("re-apply", lambda b: build_plan(graph, b.read_state(), target="snowflake"))
    measure("status", lambda b: b.status())

    project = engine.validate(ROOT / "pipelines" / "engagement.yaml")
    start = fake.now()

    def stream(backend):
        settings = engine.stream_settings(project, batches=5, delay=10)
        sleeps = {"n": 0}

        def sleep(seconds):
            fake._now += timedelta(seconds=seconds)
            sleeps["n"] += 1
            if sleeps["n"] % 10 == 5:  # Snowflake's scheduler refreshes once between batches
                target = graph.pipeline.snowflake
                fake.run_scheduler(target.database, target.schema_name, inserted=1)

        engine.stream(project, backend, settings, clock=lambda: (fake.now() - start).total_seconds(), sleep=sleep)

    measure("stream (5 batches)", stream)
    for label, count in counts.items():
        print(f"{label:20} {count:4d} statements")


if __name__ == "__main__":
    main()
