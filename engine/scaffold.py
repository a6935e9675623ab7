"""``pipe init NAME``: a new pipeline file and generator module that validate, apply and stream
as written, and whose comments teach the format."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import PlanError

_TEMPLATES = Path(__file__).parent / "init_templates"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def init_pipeline(name: str, directory: str | Path = ".") -> list[Path]:
    """Write ``NAME.yaml`` and ``generators/NAME.py`` under ``directory``; return their paths.

    Raises:
        PlanError: the name is not a plain identifier, or a file to write already exists.
    """
    if not _NAME.fullmatch(name):
        raise PlanError(
            f"'{name}' cannot name a pipeline",
            hint="use letters, digits and _, starting with a letter (e.g. orders or shop_v2)",
        )
    name = name.lower()
    directory = Path(directory)
    files = {
        directory / f"{name}.yaml": "pipeline.yaml",
        directory / "generators" / f"{name}.py": "generator.py",
    }
    for path in files:
        if path.exists():
            raise PlanError(f"{path} already exists", hint="pick another name, or move the file away first")
    written = []
    for path, template in files.items():
        text = (_TEMPLATES / template).read_text(encoding="utf-8")
        text = text.replace("{{name}}", name).replace("{{NAME}}", name.upper())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
