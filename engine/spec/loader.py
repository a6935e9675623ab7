"""Load a pipeline file into a validated :class:`Pipeline`, with file:line errors."""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine import names
from engine.errors import Location, SpecError, did_you_mean
from engine.spec.model import Pipeline
from engine.spec.yamlsource import SourceMap, parse_yaml, read_yaml

SUPPORTED_VERSIONS = (1,)


@lru_cache(maxsize=1)
def _jinja():
    """The sandboxed environment, made (and Jinja imported) on the first template that needs it.
    Immutable: a template may read vars but not call methods that change them (vars.update(…))."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


# ``{{ name }}`` or ``{{ name.key }}``: a lookup Jinja would render as ``str(value)``.
_LOOKUP = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}")
_MISSING = object()


def _lookup(text: str, context: dict[str, Any]) -> str | None:
    """``text`` rendered without Jinja when it is plain text or one lookup of defined plain values
    (dict keys that are not dict methods), else None."""
    if "{" not in text:  # no {{, {% or {#
        return text
    match = _LOOKUP.fullmatch(text)
    if match is None:
        return None
    value: Any = context
    for part in match.group(1).split("."):
        if not isinstance(value, dict) or hasattr(dict, part):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None  # Jinja says what is undefined
    return str(value) if isinstance(value, (str, int, float)) else None


def load_pipeline(path: str | Path) -> Pipeline:
    """Read, validate and resolve the pipeline file at ``path``.

    Raises:
        SpecError: anything wrong with the file, with its file:line:column.
    """
    path = Path(path)
    data, source = read_yaml(path)
    return _load(data, source, path.resolve().parent)


def load_pipeline_text(text: str, *, file: str = "<string>", base_dir: str | Path = ".") -> Pipeline:
    """Like :func:`load_pipeline`, from YAML text."""
    data, source = parse_yaml(text, file)
    return _load(data, source, Path(base_dir).resolve())


def _load(data: Any, source: SourceMap, base_dir: Path) -> Pipeline:
    if data is None:
        raise SpecError("the pipeline file is empty", location=Location(source.file), hint="start with 'version: 1'")
    if not isinstance(data, dict):
        raise SpecError(
            "the pipeline file must be a mapping of keys (version, name, snowflake, …)",
            location=source.locate(()),
        )
    version = data.get("version")
    if "version" in data and version not in SUPPORTED_VERSIONS:
        raise SpecError(
            f"unsupported version {version!r}",
            location=source.locate(("version",)),
            hint="this pipe reads version: 1",
        )
    _check_case_duplicates(data, source)
    data = _render_vars(data, source)
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, source) from None
    pipeline._source = source
    pipeline._base_dir = base_dir
    _check_references(pipeline, source)
    return pipeline


def _check_case_duplicates(data: dict, source: SourceMap) -> None:
    """Names are case-insensitive: ``members`` and ``MEMBERS`` are one table."""
    seen: dict[str, tuple[str, str]] = {}
    for section in ("tables", "dynamic_tables"):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        for name in entries:
            key = names.key(str(name))
            if key in seen:
                other_section, other = seen[key]
                raise SpecError(
                    f"duplicate name {name}: already declared as {other} in {other_section}",
                    location=source.locate((section, name), key=True),
                    hint="unquoted names are case-insensitive; rename one of them",
                )
            seen[key] = (section, str(name))
    generators = data.get("generators")
    if isinstance(generators, dict):
        declared: dict[str, str] = {}
        for name in generators:
            if names.key(str(name)) in declared:
                raise SpecError(
                    f"duplicate generator {name}: already declared as {declared[names.key(str(name))]}",
                    location=source.locate(("generators", name), key=True),
                    hint="unquoted names are case-insensitive; rename one of them",
                )
            declared[names.key(str(name))] = str(name)


def render_template(text: str, context: dict[str, Any], location: Location) -> str:
    """Render ``{{ … }}`` in ``text`` with a sandboxed Jinja environment and strict undefineds.

    Raises:
        SpecError: an undefined name, a syntax error or an unsafe expression.
    """
    simple = _lookup(text, context)
    if simple is not None:
        return simple
    import jinja2

    try:
        return _jinja().from_string(text).render(**context)
    except jinja2.UndefinedError as exc:
        raise SpecError(
            f"undefined template value: {exc.message}", location=location, hint="define it under vars:"
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        raise SpecError(
            f"unsafe template expression: {exc}", location=location, hint="templates may only read vars"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"template syntax error: {exc.message}", location=location) from None
    except Exception as exc:  # a sandboxed template can still raise e.g. ZeroDivisionError
        raise SpecError(f"template error: {exc}", location=location) from None


def _render_vars(data: dict, source: SourceMap) -> dict:
    """Render {{ vars.NAME }} in dynamic-table SQL and generator arguments."""
    vars_ = data.get("vars") or {}
    if not isinstance(vars_, dict):
        return data  # the model reports the type error
    context = {"vars": vars_}
    data = dict(data)
    dts = data.get("dynamic_tables")
    if isinstance(dts, dict):
        rendered = {}
        for name, dt in dts.items():
            if isinstance(dt, dict) and isinstance(dt.get("sql"), str):
                loc = source.locate(("dynamic_tables", name, "sql"), table=names.key(str(name)))
                dt = {**dt, "sql": render_template(dt["sql"], context, loc)}
            rendered[name] = dt
        data["dynamic_tables"] = rendered
    tables = data.get("tables")
    if isinstance(tables, dict):
        data["tables"] = {
            name: _render_args(table, ("tables", name), context, source) for name, table in tables.items()
        }
    stream = data.get("stream")
    if isinstance(stream, dict):
        # {{ records }}, {{ batch }} and {{ rows }} are filled per batch; check the rest renders now.
        checked = _render_args(stream, ("stream",), {**context, "records": 1, "batch": 1, "rows": 0}, source)
        if isinstance(checked.get("args"), list) and isinstance(stream.get("args"), list):
            stream = {**stream, "args": [_keep_per_batch(a, r) for a, r in zip(stream["args"], checked["args"])]}
        data["stream"] = stream
    return data


def _keep_per_batch(original: Any, rendered: Any) -> Any:
    if isinstance(original, str) and any(word in original for word in ("records", "batch", "rows")):
        return original
    return rendered


def _render_args(entry: Any, path: tuple, context: dict, source: SourceMap) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("args"), list):
        return entry
    args = []
    for i, arg in enumerate(entry["args"]):
        if isinstance(arg, str) and ("{{" in arg or "{%" in arg):
            arg = coerce_scalar(render_template(arg, context, source.locate((*path, "args", i))))
        args.append(arg)
    return {**entry, "args": args}


def coerce_scalar(text: str) -> Any:
    """A rendered argument as a number when it reads as one."""
    stripped = text.strip()
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            pass
    return text


def validation_error(exc: ValidationError, source: SourceMap) -> SpecError:
    """The first problem of a document read with ``source`` that failed validation, at its
    file:line:col (for files beside the pipeline file shaped like parts of it)."""
    return _spec_error(exc, source)


def _spec_error(exc: ValidationError, source: SourceMap) -> SpecError:
    errors = exc.errors()
    # An unknown key is usually a misspelt one: report it before the "missing" it causes.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        # A dict key failed validation (e.g. a table name): point at the key itself.
        loc = loc[:-1]
        field = ".".join(str(p) for p in loc[:-1]) or "file"
        message = error["msg"].removeprefix("Value error, ")
        return SpecError(f"{field}: {message}", location=source.locate(loc, key=True))
    # Pydantic reports a field alias, our positions use the YAML keys: they are the same.
    location = source.locate(loc, key=error["type"] == "extra_forbidden")
    field = ".".join(str(p) for p in loc) or "file"
    hint = None
    if error["type"] == "extra_forbidden":
        model = _model_at(Pipeline, loc[:-1])
        allowed = list(model.model_fields) if model else []
        if model is not None:
            allowed = [f.alias or name for name, f in model.model_fields.items()]
        hint = did_you_mean(str(loc[-1]), allowed)
        hint = hint or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return SpecError(f"unknown key '{loc[-1]}'", location=location, hint=hint)
    if error["type"] == "missing":
        # Point at the entry that lacks the key (its name), or the document's start.
        where = source.locate(loc[:-1], key=True) if loc[:-1] else source.locate(())
        owner = ".".join(str(p) for p in loc[:-1]) or "the file"
        return SpecError(f"{owner}: missing required key '{loc[-1]}'", location=where, hint=f"add {loc[-1]}:")
    if error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        return SpecError(f"{field} is empty", location=location, hint=f"write a value for {loc[-1]}")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return SpecError(
            f"{field}: {_shown(error.get('input'))} is not one of {expected}",
            location=location,
            hint=f"write one of {expected}",
        )
    if error["type"] != "value_error" and "input" in error and not isinstance(error["input"], (dict, list)):
        # A type error: echo the value it got, so the user sees what was read.
        return SpecError(f"{field}: {message}; got {_shown(error['input'])}", location=location)
    if error["type"].endswith("_type") and isinstance(error.get("input"), (dict, list)):
        got = "a mapping" if isinstance(error["input"], dict) else "a list"
        return SpecError(f"{field}: {message}; got {got}", location=location)
    return SpecError(f"{field}: {message}", location=location)


def _shown(value: Any) -> str:
    """A value as the user wrote it, for an error message."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing (null)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _model_at(model: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The model class that the value at ``path`` (below ``model``) is validated by."""
    import typing

    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
            continue
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) is dict:
            current = args[1]
        elif args:
            current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if not args:
            return None
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[-1])
    return current


def _check_references(pipeline: Pipeline, source: SourceMap) -> None:
    """Generators, tables and the stream must refer to things that exist and fit."""
    for name in pipeline.generators:
        _check_module(pipeline, name, source)
    for name, table in pipeline.tables.items():
        if table.generator is None:
            continue
        key = _table_key(pipeline, name)
        _check_call(pipeline, table.generator, table.args, ("tables", key), source, name)
        gen = pipeline.generator(table.generator)
        returns = {names.key(c) for c in gen.returns}
        for i, column in enumerate(table.order_by):
            if names.key(column) not in returns:
                raise SpecError(
                    f"order_by column {column} is not returned by {table.generator}",
                    location=source.locate(("tables", key, "order_by", i), table=name),
                    hint=did_you_mean(column, gen.returns) or f"columns: {', '.join(gen.returns)}",
                )
    stream = pipeline.stream
    if stream is not None:
        if stream.table not in pipeline.tables or pipeline.tables[stream.table].external:
            hint = did_you_mean(stream.table, [n for n, t in pipeline.tables.items() if not t.external])
            raise SpecError(
                f"stream.table {stream.table} is not a base table of this pipeline",
                location=source.locate(("stream", "table")),
                hint=hint or "name one of the tables under tables:",
            )
        _check_call(pipeline, stream.generator, stream.args, ("stream",), source, None)
        table = pipeline.tables[stream.table]
        gen = pipeline.generator(stream.generator)
        columns = _table_columns(pipeline, table)
        if columns is not None and [names.key(c) for c in gen.returns] != [names.key(c) for c in columns]:
            raise SpecError(
                f"stream generator {stream.generator} returns ({', '.join(gen.returns)}) but "
                f"{stream.table} has ({', '.join(columns)})",
                location=source.locate(("stream", "generator")),
                hint="stream a generator whose columns match the table",
            )


def _table_key(pipeline: Pipeline, name: str) -> str:
    """The YAML spelling of table ``name`` (positions are recorded under it)."""
    positions = pipeline.source.key_positions if pipeline.source else {}
    for path in positions:
        if len(path) == 2 and path[0] == "tables" and names.key(str(path[1])) == name:
            return path[1]
    return name


def _table_columns(pipeline: Pipeline, table) -> list[str] | None:
    if table.generator:
        return list(pipeline.generator(table.generator).returns)
    return list(table.columns) if table.columns else None


def _check_call(pipeline, generator: str, args: list, path: tuple, source, table) -> None:
    gen = pipeline.generator(generator)
    if gen is None:
        raise SpecError(
            f"unknown generator {generator}",
            location=source.locate((*path, "generator"), table=table),
            hint=did_you_mean(generator, pipeline.generators) or "declare it under generators:",
        )
    declared = pipeline.generator_name(generator)
    if len(args) != len(gen.args):
        raise SpecError(
            f"{declared} takes {len(gen.args)} argument(s) ({', '.join(gen.args)}) but {len(args)} given",
            location=source.locate((*path, "args"), table=table),
            hint="pass one value per argument declared under the generator's args:",
        )


def _check_module(pipeline: Pipeline, name: str, source: SourceMap) -> None:
    """The generator's module must exist and define the handler class with ``process``."""
    gen = pipeline.generators[name]
    path = (pipeline.base_dir or Path(".")) / gen.module
    where = source.locate(("generators", name, "module"))
    try:
        classes = _handlers(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise SpecError(
            f"generator module {gen.module} not found (looked at {path})",
            location=where,
            hint="module paths are relative to the pipeline file",
        ) from None
    except SyntaxError as exc:
        raise SpecError(
            f"generator module {gen.module} has a Python syntax error: {exc.msg}",
            location=Location(str(path), exc.lineno, exc.offset),
        ) from None
    if gen.handler not in classes:
        raise SpecError(
            f"handler class {gen.handler} not found in {gen.module}",
            location=source.locate(("generators", name, "handler")),
            hint=did_you_mean(gen.handler, classes) or f"classes there: {', '.join(classes) or 'none'}",
        )
    process = classes[gen.handler]
    if process is None:
        raise SpecError(
            f"handler {gen.handler} has no process(self, …) method",
            location=source.locate(("generators", name, "handler")),
            hint="a UDTF handler yields rows from process",
        )
    positional, required, varargs = process
    if not varargs:
        if not required <= len(gen.args) <= positional:
            raise SpecError(
                f"{gen.handler}.process takes {positional} argument(s) but {name} declares {len(gen.args)}",
                location=source.locate(("generators", name, "args")),
                hint="make the generator's args: match process(self, …)",
            )


def _handlers(text: str, filename: str) -> dict[str, list | None]:
    """Each class of a generator module's source -> its ``process`` method's arguments after
    ``self`` as [how many, how many are required, whether it takes ``*args``], or None without one.

    Kept in pipe's cache (:mod:`engine.sql.cache`): parsing a module costs more than the rest of
    loading a file.

    Raises:
        SyntaxError: the module is not valid Python (never kept).
    """
    from engine.sql import cache

    def read() -> dict[str, list | None]:
        classes: dict[str, list | None] = {}
        for node in ast.parse(text, filename=filename).body:
            if not isinstance(node, ast.ClassDef):
                continue
            process = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "process"), None)
            if process is None:
                classes[node.name] = None
                continue
            params = process.args
            positional = len(params.posonlyargs) + len(params.args) - 1
            classes[node.name] = [positional, positional - len(params.defaults), params.vararg is not None]
        return classes

    return cache.cached("generator_handlers", (text,), read)
