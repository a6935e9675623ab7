"""Unit tests kept in files beside the pipeline: ``tests/*.yaml`` next to the pipeline file.

Each file holds ``tests:`` written exactly as under the pipeline file's own ``tests:`` key; CSV
files it names are relative to it. Its tests run with the file's own, by ``pipe test``, and are
validated with the pipeline (unknown tables, inputs and columns are errors at file:line:col).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import names
from engine.errors import Location, SpecError

FOLDER = "tests"
PATTERNS = ("*.yaml", "*.yml")


@dataclass(frozen=True)
class TestFile:
    """The unit tests of one file: it answers for them as the pipeline answers for its own
    (``tests``, ``source``, ``base_dir``, ``locate``); anything else is the pipeline's."""

    pipeline: Any
    path: Path
    source: Any
    tests: list

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def locate(self, *path, table: str | None = None, **_):
        """The :class:`Location` in this file of ``path`` (a unit test holds no SQL to point into)."""
        return self.source.locate(self.source.resolve_names(path), table=table)

    def __getattr__(self, name: str):
        return getattr(self.pipeline, name)


def test_owners(pipeline) -> list:
    """Who declares unit tests: the pipeline itself, then each ``tests/*.yaml`` file beside it
    (in name order), each with its ``tests``.

    Raises:
        SpecError: a file is not valid YAML or not a valid tests file, or two tests share a name.
    """
    owners = [pipeline, *(read_test_file(pipeline, path) for path in test_files(pipeline))]
    seen: dict[str, Location] = {}
    for owner in owners:
        for index, test in enumerate(owner.tests):
            where = owner.locate("tests", index, "name")
            first = seen.setdefault(names.key(test.name), where)
            if first is not where:
                raise SpecError(
                    f"two unit tests are named {test.name} (the first at {first})",
                    location=where, hint="give each unit test its own name",
                )
    return owners


def test_files(pipeline) -> list[Path]:
    """The ``tests/*.yaml`` files beside the pipeline file (none for a pipeline read from text)."""
    source = pipeline.source
    if source is None or not Path(source.file).is_file():
        return []
    folder = Path(source.file).resolve().parent / FOLDER
    if not folder.is_dir():
        return []
    return sorted({p for pattern in PATTERNS for p in folder.glob(pattern) if p.is_file()})


def read_test_file(pipeline, path: Path) -> TestFile:
    """Read and validate one tests file.

    Raises:
        SpecError: the file is not valid YAML, is not a mapping with ``tests:``, or a test in it
            is malformed (file:line:col of the problem).
    """
    from pydantic import ValidationError

    from engine.spec.checks import UnitTestFile
    from engine.spec.loader import validation_error
    from engine.spec.yamlsource import read_yaml

    data, source = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(
            "a unit tests file must be a mapping with tests: (a list of unit tests)",
            location=source.locate(()), hint="start the file with tests:",
        )
    for key in data:
        if key != "tests":
            raise SpecError(
                f"unknown key '{key}' in a unit tests file", location=source.locate((key,), key=True),
                hint="a unit tests file holds only tests:",
            )
    try:
        spec = UnitTestFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source) from None
    return TestFile(pipeline, path, source, list(spec.tests))
