"""Generator modules: imported from their file locally, embedded as text in Snowflake UDTFs."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import traceback
import types
from pathlib import Path

from engine.errors import BackendError, Location
from engine.spec.model import Generator, Pipeline

_cache: dict[Path, tuple[int, types.ModuleType]] = {}
_cache_lock = threading.Lock()


def find_generator(pipeline: Pipeline, generator_name: str) -> tuple[str, Generator]:
    """The declared name and spec of generator ``generator_name`` (case-insensitive).

    Raises:
        BackendError: the pipeline declares no such generator.
    """
    generator = pipeline.generator(generator_name)
    if generator is None:
        known = ", ".join(pipeline.generators) or "none"
        raise BackendError(f"unknown generator {generator_name}", hint=f"generators of this pipeline: {known}")
    return pipeline.generator_name(generator_name), generator


def module_path(pipeline: Pipeline, generator_name: str) -> Path:
    """The absolute path of the generator's module file."""
    _, generator = find_generator(pipeline, generator_name)
    return (Path(pipeline.base_dir or ".") / generator.module).resolve()


def load_module(pipeline: Pipeline, generator_name: str) -> types.ModuleType:
    """Import the generator's module from its file, with ``SEED`` set to the pipeline's seed.

    Modules are cached per path and re-imported when the file changes, so every generator of
    one file shares one module object (and its ``SEED``/``NOW`` globals).

    Raises:
        BackendError: the file is missing or fails to import.
    """
    name, _ = find_generator(pipeline, generator_name)
    path = module_path(pipeline, generator_name)
    with _cache_lock:
        module = _cached(path) or _import(path, name)
    module.SEED = pipeline.seed
    return module


def _cached(path: Path) -> types.ModuleType | None:
    entry = _cache.get(path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return entry[1] if entry and entry[0] == mtime else None


def _import(path: Path, generator_name: str) -> types.ModuleType:
    unique = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(f"pipe_generator_{path.stem}_{unique}", path)
    if spec is None or spec.loader is None:
        raise BackendError(f"generator {generator_name}: cannot import {path}", location=Location(str(path)))
    module = importlib.util.module_from_spec(spec)
    try:
        mtime = path.stat().st_mtime_ns
        spec.loader.exec_module(module)
    except FileNotFoundError:
        raise BackendError(
            f"generator {generator_name}: module file {path} not found",
            location=Location(str(path)),
            hint="module paths are relative to the pipeline file",
        ) from None
    except Exception as exc:
        raise BackendError(
            f"generator {generator_name}: importing its module failed: {type(exc).__name__}: {exc}",
            location=error_location(path, exc),
            hint="a generator module may import only the standard library and its declared packages",
        ) from exc
    _cache[path] = (mtime, module)
    return module


def error_location(path: Path, exc: BaseException) -> Location:
    """The innermost line of ``path`` in ``exc``'s traceback (or the file alone)."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        return Location(str(path), exc.lineno, exc.offset)
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return Location(str(path), lines[-1] if lines else None)


def udtf_source(pipeline: Pipeline, generator_name: str) -> str:
    """The module source to embed between ``$$ … $$``, ending with ``SEED = <seed>``.

    Raises:
        SpecError: the module contains ``$$``, which would end the function body early.
    """
    from engine.sql.render import function_source

    return function_source(pipeline, find_generator(pipeline, generator_name)[0])
