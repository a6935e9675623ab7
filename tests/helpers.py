"""Paths and small helpers shared by the tests (conftest.py holds the fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PIPELINES = FIXTURES / "pipelines"
BAD = FIXTURES / "bad"
ENGAGEMENT = ROOT / "pipelines" / "engagement.yaml"
SHOP = PIPELINES / "shop.yaml"
# engagement.yaml's DAG, written out by hand from the seed plan (upstream, downstream).
ENGAGEMENT_EDGES = frozenset({
    ("RAW_INTERACTIONS", "MEMBER_SESSIONS"),
    ("RESOURCES", "RESOURCE_CATALOG"),
    ("MEMBERS", "SESSION_ENGAGEMENT_DETAIL"),
    ("MEMBER_SESSIONS", "SESSION_ENGAGEMENT_DETAIL"),
    ("RESOURCE_CATALOG", "SESSION_ENGAGEMENT_DETAIL"),
    ("SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY"),
    ("MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"),
})


@dataclass(frozen=True)
class Run:
    """What one ``pipe`` invocation did: its exit code and what it wrote."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """The lines of stderr that start with ``error:``."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def load_text(text: str, base_dir: Path = PIPELINES):
    """A pipeline from YAML text, its generator modules looked up under ``base_dir``."""
    from engine.spec.loader import load_pipeline_text

    return load_pipeline_text(text, file="test.yaml", base_dir=base_dir)


def graph_of(text: str, base_dir: Path = PIPELINES):
    """The checked graph of a pipeline given as YAML text."""
    from engine.graph import build_graph

    return build_graph(load_text(text, base_dir))
