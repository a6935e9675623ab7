"""What a compile finds is reused by the later stages, with the results they would find alone; and
a translation is read back (to find functions DuckDB lacks) only when its text leaves a doubt.

The local translation records on each node the type the compile found, instead of qualifying and
typing the query again; the key analysis starts from the compile's bound tree instead of
qualifying the query again. Each test computes both ways over every dynamic table of the repo's
pipelines and pipeline fixtures (and the translation fixtures' queries) and compares the results.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from engine.errors import PipeError, SqlError
from engine.sql import compiler, translate
from engine.sql.partition import analyze
from helpers import FIXTURES, ROOT

from .test_translate import RESULT_CASES, load_case


def _pipeline_files() -> list[Path]:
    files = [*sorted((ROOT / "pipelines").glob("*.yaml")), *sorted(FIXTURES.rglob("*.yaml"))]
    return [f for f in files if "dynamic_tables:" in f.read_text(encoding="utf-8")]


def _compiled_queries() -> list[tuple[str, compiler.CompiledQuery, dict, str | None, str | None]]:
    """(label, compiled query, the types of what it reads, database, schema) of every dynamic table
    of every pipeline file that compiles."""
    from engine.graph import build_graph
    from engine.spec.loader import load_pipeline

    found = []
    for path in _pipeline_files():
        try:
            pipeline = load_pipeline(path)
            graph = build_graph(pipeline)
        except PipeError:
            continue  # a fixture of a bad file
        target = pipeline.snowflake
        for name, query in graph.queries.items():
            label = f"{path.relative_to(ROOT)}:{name}"
            found.append((label, query, graph._types_read_by(name), target.database, target.schema_name))
    return found


def _fixture_queries() -> list[tuple[str, compiler.CompiledQuery, dict, str | None, str | None]]:
    """The translation fixtures' queries, compiled against the tables their setup creates."""
    found = []
    for path in sorted((FIXTURES / "translate").glob("*.sql")):
        case = load_case(path)
        catalog = json.loads(case["catalog"]) if case["catalog"] else _setup_catalog(case["setup"] or "")
        try:
            tree, refs = compiler.parse(case["snowflake"])
        except SqlError:
            continue
        known = {name.upper(): columns for name, columns in catalog.items()}
        query = compiler.compile_query("Q", case["snowflake"], tree, refs, {r.name: known.get(r.name) for r in refs})
        if not query.problems:
            found.append((path.name, query, catalog, case["database"] or None, case["schema"] or None))
    return found


def _setup_catalog(setup: str) -> dict[str, dict[str, str]]:
    """The Snowflake column types of the tables a fixture's (DuckDB) setup creates."""
    catalog = {}
    for statement in sqlglot.parse(setup, read="duckdb"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            catalog[statement.this.this.name.upper()] = {
                column.name.upper(): translate.snowflake_type(column.args["kind"].sql("duckdb")) or "VARIANT"
                for column in statement.this.expressions
                if isinstance(column, exp.ColumnDef)
            }
    return catalog


@pytest.fixture(scope="module")
def corpus():
    import os

    saved = os.environ.get("PIPE_CACHE_DIR")
    os.environ["PIPE_CACHE_DIR"] = "off"  # compiled here, not read back: each query carries its types
    try:
        yield _compiled_queries() + _fixture_queries()
    finally:
        if saved is None:
            os.environ.pop("PIPE_CACHE_DIR")
        else:
            os.environ["PIPE_CACHE_DIR"] = saved


def _outcome(**options) -> str:
    try:
        return translate.to_duckdb(**options)
    except SqlError as exc:
        return f"error: {exc}"


def test_translation_typed_by_the_compile_equals_translation_typed_afresh(corpus):
    compared = 0
    for label, query, types, database, schema in corpus:
        if not query.types:
            continue  # nothing typed (or a star): the translation types it afresh anyway
        options = {"sql": query.sql, "database": database, "schema": schema, "catalog": types, "parsed": query.tree}
        assert _outcome(**options, types=query.types) == _outcome(**options), label
        compared += 1
    assert compared >= 200  # the corpus is the repo's pipelines and fixtures: most queries are typed


def _keys(partitioning) -> tuple[dict, dict]:
    return {t: (k.output, k.expression) for t, k in partitioning.keys.items()}, dict(partitioning.reasons)


def test_keys_found_from_the_bound_tree_equal_keys_found_from_the_query(corpus):
    compared = 0
    for label, query, _, _, _ in corpus:
        catalog = query.catalog or {}
        inputs = dict.fromkeys(r.name for r in query.reads)
        if query.bound is None or any(catalog.get(t) is None for t in inputs):
            continue
        schema = {t: list(catalog[t]) for t in inputs}
        assert _keys(analyze(query.bound, schema, qualified=True)) == _keys(analyze(query.tree, schema)), label
        compared += 1
    assert compared >= 200


def test_the_bound_tree_is_not_changed_by_the_key_analysis(corpus):
    for label, query, _, _, _ in corpus[:40]:
        if query.bound is None or any((query.catalog or {}).get(r.name) is None for r in query.reads):
            continue
        before = query.bound.sql(dialect="snowflake")
        query.partitioning  # noqa: B018 - computed from the bound tree
        assert query.bound.sql(dialect="snowflake") == before, label


def test_a_star_query_is_typed_afresh():
    tree, refs = compiler.parse("SELECT * FROM T WHERE d > '2024-01-01'")
    query = compiler.compile_query("Q", "SELECT * FROM T", tree, refs, {"T": {"D": "DATE"}})
    assert query.types is None  # binding expanded the star: its columns are not nodes of the query


def test_a_query_typed_by_its_compile_keeps_snowflake_date_arithmetic():
    # DATEADD by days on a DATE stays a DATE (the dialect's typed rule): the type comes from the compile.
    sql = "SELECT DATEADD(day, 1, d) AS next_day FROM T"
    tree, refs = compiler.parse(sql)
    query = compiler.compile_query("Q", sql, tree, refs, {"T": {"D": "DATE"}})
    assert query.types
    typed = translate.to_duckdb(sql, catalog={"T": {"D": "DATE"}}, parsed=query.tree, types=query.types)
    afresh = translate.to_duckdb(sql, catalog={"T": {"D": "DATE"}})
    assert typed == afresh
    con = duckdb.connect()
    con.execute("CREATE TABLE T (D DATE)")
    con.execute("INSERT INTO T VALUES ('2024-02-28')")
    assert con.execute(typed).fetchall() == [(datetime.date(2024, 2, 29),)]  # a DATE, not a TIMESTAMP


@pytest.mark.parametrize(
    ("duck_sql", "known"),
    [
        ('SELECT "A" FROM "T" WHERE "A" IN (1, 2)', True),  # IN is never read as a function
        ('SELECT abs("A") AS "X", row_number() OVER (ORDER BY "A") AS "N" FROM "T"', True),
        ('SELECT no_such_function("A") FROM "T"', False),
        ('SELECT "my function"(1)', False),  # a quoted name: read it back to tell
        ('SELECT "S".in(1)', False),  # after a dot any word may name a function
        ("SELECT 'no_such_function(' AS \"X\"", False),  # text in a string: read back, found harmless
    ],
)
def test_a_translation_is_read_back_unless_every_call_is_known(duck_sql: str, known: bool) -> None:
    from engine.sql.translate import _only_known_calls

    assert _only_known_calls(duck_sql) is known


def test_an_unknown_function_is_still_refused() -> None:
    with pytest.raises(SqlError, match="NO_SUCH_FUNCTION"):
        translate.to_duckdb("SELECT no_such_function(a) AS x FROM t")


def test_the_shortcut_never_passes_a_translation_that_calls_an_unknown_function() -> None:
    """Over every result fixture: where the shortcut says every call is known, reading the DuckDB SQL
    back finds no function DuckDB lacks."""
    from engine.sql.translate import _local_functions, _only_known_calls

    shortcut = 0
    for path in RESULT_CASES:
        case = load_case(path)
        if case["session"]:  # $variables: translated in a pipe query session only
            continue
        duck_sql = translate.to_duckdb(case["snowflake"])
        if _only_known_calls(duck_sql):
            shortcut += 1
            calls = {c.name.lower() for c in sqlglot.parse_one(duck_sql, read="duckdb").find_all(exp.Anonymous)}
            assert calls <= _local_functions(), path.name
    assert shortcut >= 10


def test_full_collections_are_held_off_while_compiling_and_restored_after():
    import gc

    from engine.sql.limits import few_full_collections

    before = gc.get_threshold()
    with few_full_collections():
        with few_full_collections():  # nested (a validate inside another): restored by the outer one
            assert gc.get_threshold()[2] > before[2]
        assert gc.get_threshold()[2] > before[2]
    assert gc.get_threshold() == before
    with pytest.raises(ValueError), few_full_collections():
        raise ValueError("a compile that fails")
    assert gc.get_threshold() == before
