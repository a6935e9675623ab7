"""Every Snowflake statement pipe runs, rendered from the templates in ``templates/``."""

from __future__ import annotations

import hashlib
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from engine import lag, names
from engine.errors import SpecError
from engine.generators import seeding
from engine.spec.model import Pipeline
from engine.sql import cache

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def sql_literal(value: object) -> str:
    """A Snowflake literal: quoted string (quotes and backslashes escaped), number, boolean, NULL."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _lag(value: str) -> str:
    formatted = lag.format_lag(value)
    return formatted if formatted == "DOWNSTREAM" else f"'{formatted}'"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2  # on first render not found in the cache: validate renders nothing

    folder = cache.directory()  # compiled templates are kept, per version of this code and of Jinja
    if folder is not None:
        folder = folder / "templates" / f"{cache.code_version()[:16]}-{jinja2.__version__}"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        bytecode_cache=None if folder is None else _compiled_templates(folder),
    )
    env.filters["lit"] = sql_literal
    env.filters["lag"] = _lag
    # str() first: an undefined value raises rather than being written.
    env.filters["ident"] = lambda name: names.sql(str(name))  # a resolved name: MEMBERS, "Café Orders"
    env.filters["column"] = lambda name: names.sql_of(str(name))  # as written in the file: member_id, "café"
    return env


def _compiled_templates(folder: Path) -> jinja2.BytecodeCache | None:
    """Jinja's cache of compiled templates in ``folder`` (None when it cannot be made); a template
    that cannot be stored there is compiled again next time."""
    import jinja2

    class Cache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass  # a read-only or full disk

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Cache(str(folder))


def render(template: str, **context: object) -> str:
    """Render ``templates/<template>.sql.j2`` into one statement (no trailing semicolon).

    A statement is a function of the template and its inputs, so one rendered before is read back
    from pipe's cache (:mod:`engine.sql.cache`): a plan of an unchanged file does without Jinja.
    The inputs are keyed by their ``repr``, which shows every field of the typed values templates
    receive (pydantic models, dataclasses, names, lists), along with the code of the modules
    defining them (their properties compute values too); an input whose ``repr`` does not show its
    value is rendered every time.
    """
    inputs = repr(sorted(context.items()))
    if " at 0x" in inputs:
        return _render(template, context)
    code = sorted({_module_digest(module) for module in _modules(context)})
    parts = (template, _template_digest(template), code, inputs)
    return cache.cached("rendered", parts, lambda: _render(template, context))


def _render(template: str, context: dict[str, object]) -> str:
    return _environment().get_template(f"{template}.sql.j2").render(**context).strip()


@lru_cache(maxsize=None)
def _template_digest(template: str) -> str:
    """A digest of a template's text and of the filters' code outside ``engine/sql`` (the lag's
    format; :func:`engine.sql.cache.code_version` covers the rest)."""
    digest = hashlib.sha256()
    for path in (TEMPLATES / f"{template}.sql.j2", Path(lag.__file__)):
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"missing")  # rendering says what is wrong
    return digest.hexdigest()


def _modules(value: object) -> set[str]:
    """The modules of the classes of ``value`` and of the items of the lists and mappings in it."""
    found = {type(value).__module__}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found |= _modules(item)
    return found


@lru_cache(maxsize=None)
def _module_digest(module: str) -> str:
    """A digest of the source of the module defining an input's class ("" for built-in types)."""
    path = getattr(sys.modules.get(module), "__file__", None)
    if not path:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path


def function_source(pipeline: Pipeline, generator_name: str) -> str:
    """The generator module's source as embedded in its UDTF, with the pipeline's seed set."""
    generator = pipeline.generator(generator_name)
    path = Path(pipeline.base_dir or ".") / generator.module
    source = path.read_text(encoding="utf-8").rstrip()
    if "$$" in source:
        raise SpecError(
            f"generator module {generator.module} contains '$$', which would end the UDTF body",
            location=pipeline.locate("generators", generator_name, "module"),
            hint="remove $$ from the module (e.g. split the string)",
        )
    return f"{source}\n\nSEED = {pipeline.seed}"


class Statements:
    """The Snowflake SQL of every object and operation of one pipeline."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.target = pipeline.snowflake

    def create_database(self) -> str:
        return render("create_database", target=self.target)

    def create_schema(self) -> str:
        return render("create_schema", target=self.target)

    def use(self) -> list[str]:
        """USE SCHEMA and USE WAREHOUSE: every later statement names objects unqualified."""
        return [render("use_schema", target=self.target), render("use_warehouse", target=self.target)]

    def function_fingerprint(self, name: str) -> str:
        """``pipe:<hash>`` of the function's definition, then the generator's comment if any:
        stored as the function's comment, compared by plan."""
        body = self._function(name, fingerprint="")
        fingerprint = "pipe:" + hashlib.sha256(body.encode()).hexdigest()[:16]
        comment = self.pipeline.generator(name).comment
        return f"{fingerprint} {comment}" if comment else fingerprint

    def create_function(self, name: str) -> str:
        return self._function(name, fingerprint=self.function_fingerprint(name))

    def _function(self, name: str, fingerprint: str) -> str:
        from engine.generators.packages import pinned_packages

        generator = self.pipeline.generator(name)
        source = function_source(self.pipeline, name) + seeding.seeded_handler(generator.handler)
        return render(
            "create_function",
            name=self.function_name(name),
            generator=generator,
            packages=pinned_packages(list(generator.packages)),
            source=source,
            seed_argument=seeding.SEED_ARGUMENT,
            seed_type=seeding.SEED_TYPE,
            handler=seeding.HANDLER,
            fingerprint=fingerprint,
        )

    def function_arg_types(self, name: str) -> list[str]:
        """A generator's UDTF argument types: its own, then the seed's."""
        return [*self.pipeline.generator(name).args.values(), seeding.SEED_TYPE]

    def function_name(self, name: str) -> str:
        """A generator's function name as Snowflake stores it (unquoted: upper-case)."""
        return names.resolve(self.pipeline.generator_name(name))

    def drop_function(self, name: str) -> str:
        return self.drop_function_named(self.function_name(name), self.function_arg_types(name))

    def drop_function_named(self, function: str, arg_types: list[str]) -> str:
        """DROP FUNCTION of a function as it exists (an old overload, or one no longer declared)."""
        return render("drop_function", name=function, arg_types=arg_types)

    def table_fingerprint(self, name: str) -> str:
        """What a base table was made from, stored as its comment and compared by plan."""
        table = self.pipeline.tables[name]
        if table.generator:
            call = f"{self.function_name(table.generator)}({', '.join(sql_literal(a) for a in table.args)})"
            order = f" order by {', '.join(names.sql_of(c) for c in table.order_by)}" if table.order_by else ""
            made = f"pipe: {call} seed {self.pipeline.seed}{order}"
        else:
            made = "pipe: " + ", ".join(f"{names.sql_of(c)} {t}" for c, t in table.columns.items())
        return f"{table.comment} ({made})" if table.comment else made

    def create_table(self, name: str) -> str:
        table = self.pipeline.tables[name]
        fingerprint = self.table_fingerprint(name)
        if table.generator:
            return render(
                "create_table_generated",
                name=name,
                function=self.function_name(table.generator),
                args=[*(sql_literal(a) for a in table.args), sql_literal(self.pipeline.seed)],
                order_by=[names.sql_of(c) for c in table.order_by],
                fingerprint=fingerprint,
            )
        return render("create_table_empty", name=name, columns=table.columns, fingerprint=fingerprint)

    def drop_table(self, name: str) -> str:
        return render("drop_table", name=name)

    def insert_generated(self, table: str, generator: str, args: list) -> str:
        return render(
            "insert_generated",
            table=table,
            function=self.function_name(generator),
            args=[sql_literal(a) for a in args],
            seed=sql_literal(self.pipeline.seed),
        )

    def warehouse(self, name: str) -> str:
        """The warehouse of dynamic table ``name``."""
        return self.pipeline.dynamic_tables[name].warehouse or self.target.warehouse

    def dynamic_table_fingerprint(self, name: str) -> str:
        """``pipe:<hash>`` of what only CREATE OR REPLACE can change (query, refresh mode,
        initialize). Snowflake rewrites a dynamic table's CREATE text but keeps its comment, so
        the fingerprint rides in the comment: it marks the table as pipe's and dates its query."""
        dt = self.pipeline.dynamic_tables[name]
        definition = "\n".join((dt.sql.strip().rstrip(";").rstrip(), dt.refresh_mode.upper(), dt.initialize.upper()))
        return "pipe:" + hashlib.sha256(definition.encode()).hexdigest()[:16]

    def dynamic_table_comment(self, name: str) -> str:
        """The comment a dynamic table is created with: the file's comment, then the fingerprint."""
        comment = self.pipeline.dynamic_tables[name].comment
        fingerprint = self.dynamic_table_fingerprint(name)
        return f"{comment} ({fingerprint})" if comment else fingerprint

    def create_dynamic_table(self, name: str) -> str:
        dt = self.pipeline.dynamic_tables[name]
        return render(
            "create_dynamic_table",
            name=name,
            dt=dt,
            warehouse=self.warehouse(name),
            comment=self.dynamic_table_comment(name),
            sql=dt.sql.strip().rstrip(";").rstrip(),
        )

    def alter_dynamic_table(self, name: str, *, target_lag: str | None = None, warehouse: str | None = None) -> str:
        return render("alter_dynamic_table", name=name, target_lag=target_lag, warehouse=warehouse)

    def comment_dynamic_table(self, name: str, comment: str | None = None) -> str:
        """SET COMMENT to the file's comment (``comment``, default the declared one) and the fingerprint."""
        dt = self.pipeline.dynamic_tables[name]
        text = comment if comment is not None else dt.comment
        fingerprint = self.dynamic_table_fingerprint(name)
        return render("comment_dynamic_table", name=name, comment=f"{text} ({fingerprint})" if text else fingerprint)

    def drop_dynamic_table(self, name: str) -> str:
        return render("drop_dynamic_table", name=name)

    def refresh_dynamic_table(self, name: str) -> str:
        return render("refresh_dynamic_table", name=name)
