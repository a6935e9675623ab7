"""A query made only of plain nodes (columns, literals, comparisons, AND/OR/NOT, a table and its
WHERE) is translated by the naming passes alone: every other pass leaves such a tree as it is
(:data:`engine.sql.translate._PLAIN`). Each test translates both ways, the shortcut and every pass,
and compares the DuckDB SQL (or the error): over every query of the repository's pipelines and
fixtures, and over generated queries of every plain kind against columns of every type.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.errors import SqlError
from engine.sql import compiler, translate

from .test_compiler_reuse import _compiled_queries, _fixture_queries
from .test_translate import RESULT_CASES, load_case


def _both_ways(monkeypatch, **options) -> tuple[str, str]:
    """The outcome of translating with the shortcut where it applies, and with every pass."""
    shortcut = _outcome(**options)
    with monkeypatch.context() as patched:
        patched.setattr(translate, "_plain", lambda tree: False)
        full = _outcome(**options)
    return shortcut, full


def _outcome(**options) -> str:
    try:
        return translate.to_duckdb(**options)
    except SqlError as exc:
        return f"error: {exc} at {exc.sql_line}:{exc.sql_column}"


@pytest.fixture(scope="module")
def corpus():
    saved = pytest.MonkeyPatch()
    saved.setenv("PIPE_CACHE_DIR", "off")  # compiled here, not read back
    try:
        yield _compiled_queries() + _fixture_queries()
    finally:
        saved.undo()


def test_the_shortcut_translates_every_plain_query_of_the_repository_as_every_pass_does(corpus, monkeypatch):
    plain = 0
    for label, query, types, database, schema in corpus:
        options = {"sql": query.sql, "database": database, "schema": schema, "catalog": types,
                   "parsed": query.tree, "types": query.types}
        shortcut, full = _both_ways(monkeypatch, **options)
        assert shortcut == full, label
        plain += translate._plain(query.tree)
    assert plain >= 10  # the comparison covers real queries, not only the generated ones below


def test_the_shortcut_translates_every_translation_fixture_as_every_pass_does(monkeypatch):
    for path in RESULT_CASES:
        case = load_case(path)
        if case["session"]:
            continue  # $variables: translated in a session, which never takes the shortcut
        shortcut, full = _both_ways(monkeypatch, sql=case["snowflake"], database=case["database"] or None,
                                    schema=case["schema"] or None)
        assert shortcut == full, path.name


# Generated plain queries: every plain kind of node, over columns of every type the catalog may
# give (a VARIANT, a DATE, text...), quoted and unquoted names, qualified table names.
_TYPES = ["NUMBER(38,0)", "NUMBER(10,2)", "FLOAT", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP_NTZ",
          "TIMESTAMP_TZ", "TIME", "VARIANT", "OBJECT", "ARRAY", "BINARY"]
_COLUMNS = ["a", "B", '"c"', '"Mixed"', "t.a", "T.B", "x.a"]
_LITERALS = ["1", "0.5", "2.50", "1e3", "'text'", "'2024-01-31'", "TRUE", "FALSE", "NULL"]


def _operand():
    return st.sampled_from(_COLUMNS + _LITERALS)


def _condition(depth: int = 2):
    comparison = st.builds(lambda a, op, b: f"{a} {op} {b}", _operand(),
                           st.sampled_from(["=", "<>", "!=", ">", ">=", "<", "<="]), _operand())
    null_test = st.builds(lambda a, neg: f"{a} IS {neg}NULL", _operand(), st.sampled_from(["", "NOT "]))
    boolean = st.builds(lambda a, neg: f"{a} IS {neg}TRUE", _operand(), st.sampled_from(["", "NOT "]))
    leaf = st.one_of(comparison, null_test, boolean, _operand())
    if depth == 0:
        return leaf
    inner = _condition(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["AND", "OR"]), inner),
        st.builds(lambda a: f"NOT ({a})", inner),
        st.builds(lambda a: f"({a})", inner),
    )


def _projection():
    aliased = st.builds(lambda value, name: f"{value} AS {name}", st.one_of(_operand(), _condition(1)),
                        st.sampled_from(["out", "OUT2", '"Out"', '"o u t"']))
    return st.one_of(st.sampled_from(_COLUMNS), aliased, _condition(1))


@st.composite
def _plain_queries(draw):
    projections = draw(st.lists(_projection(), min_size=1, max_size=4))
    table = draw(st.sampled_from(["t", "T", "GRAPH.t", "BENCH.GRAPH.t", "OTHER.t"]))
    alias = draw(st.sampled_from(["", " x", " AS x"]))
    where = draw(st.one_of(st.just(""), _condition().map(lambda c: f" WHERE {c}")))
    types = draw(st.lists(st.sampled_from(_TYPES), min_size=2, max_size=2))
    return f"SELECT {', '.join(projections)} FROM {table}{alias}{where}", dict(zip(("A", "B"), types))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_plain_queries())
def test_the_shortcut_translates_generated_plain_queries_as_every_pass_does(query):
    sql, columns = query
    try:
        tree, refs = compiler.parse(sql)
    except SqlError:
        return  # not a query (e.g. a name sqlglot refuses): nothing is translated
    assert translate._plain(tree), sql  # the shortcut is taken: what is compared below is it
    catalog = {"T": {**columns, "c": "VARCHAR", "Mixed": "NUMBER(38,0)"}}
    compiled = compiler.compile_query("Q", sql, tree, refs, {r.name: catalog.get(r.name) for r in refs})
    with pytest.MonkeyPatch.context() as monkeypatch:
        for parsed, types in ((None, None), (compiled.tree, compiled.types)):
            options = {"sql": sql, "database": "BENCH", "schema": "GRAPH", "catalog": catalog,
                       "parsed": parsed, "types": types}
            shortcut, full = _both_ways(monkeypatch, **options)
            assert shortcut == full, sql
