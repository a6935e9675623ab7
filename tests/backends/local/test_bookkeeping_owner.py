"""pipe's bookkeeping tables (the ``_PIPE`` schema) have one owner: the Store (with the refresh state
it is made of, and the change log it delegates to). No other module writes SQL about them, and no
module of the local engine calls another's private names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[3] / "engine"
OWNERS = {"backends/local/store.py", "backends/local/refresh_state.py", "backends/local/changes.py"}
SCHEMA = re.compile(r"(?<![A-Za-z0-9_])_PIPE\b")  # the schema, not the engine's __PIPE_… temp tables


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of ``tree`` (text about the schema is fine)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _bookkeeping_sql(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if SCHEMA.search(node.value):
                found.append(f"line {node.lineno}: {node.value.strip()[:60]!r}")
        elif isinstance(node, ast.Name) and node.id == "META":
            found.append(f"line {node.lineno}: META")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "META" for a in node.names):
            found.append(f"line {node.lineno}: imports META")
    return found


def test_only_the_store_writes_sql_about_the_bookkeeping_tables():
    offenders = {}
    for path in sorted(ENGINE.rglob("*.py")):
        relative = path.relative_to(ENGINE).as_posix()
        if relative in OWNERS:
            continue
        found = _bookkeeping_sql(path)
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_check_finds_bookkeeping_sql(tmp_path):
    # the check itself: it would catch a module writing such SQL, and lets temp tables and docs be
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Reads _PIPE.OBJECTS."""\n'
        'from engine.backends.local.store import META\n'
        'a = f"SELECT * FROM {META}.OBJECTS"\n'
        'b = "DELETE FROM _PIPE.REFRESH_HISTORY"\n'
        'c = "SELECT * FROM __PIPE_NEW"\n'
    )
    assert sorted(line.split(":")[0] for line in _bookkeeping_sql(sample)) == ["line 2", "line 3", "line 4"]


def _private_uses(path: Path) -> list[str]:
    """Private names of other modules that ``path`` imports or calls (``x._name``, x not self/cls)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_local_engine_calls_no_other_module_private_names():
    offenders = {}
    for path in sorted((ENGINE / "backends" / "local").rglob("*.py")):
        relative = path.relative_to(ENGINE).as_posix()
        found = _private_uses(path)
        if found:
            offenders[relative] = found
    assert offenders == {}
