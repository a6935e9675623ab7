"""Rendering: golden files for whole scripts and single statements, and every statement of every
pipeline in the repository parsed back with sqlglot's Snowflake dialect.

Golden files live in tests/fixtures/render/. Lines starting with ``--!`` are notes (how the
expected text was checked), not compared. UDTF bodies and fingerprints are masked in the
script goldens and checked on their own below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import pytest
import sqlglot
from sqlglot import exp

from engine.generators.seeding import seeded_handler
from engine.graph import build_graph
from engine.planner import TargetState, build_destroy_plan, build_plan
from engine.spec.loader import load_pipeline
from engine.sql.parsing import normalize_sql
from engine.sql.render import TEMPLATES, Statements, render, sql_literal
from helpers import ENGAGEMENT, FIXTURES, PIPELINES, ROOT, SHOP

RENDER = FIXTURES / "render"
ALL_PIPELINES = sorted([*(ROOT / "pipelines").glob("*.yaml"), *PIPELINES.glob("*.yaml")])


def golden(name: str) -> str:
    """A golden file without its ``--!`` note lines."""
    lines = (RENDER / name).read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("--!"))


def masked(script: str) -> str:
    """A script with each UDTF body and fingerprint replaced by a placeholder."""
    script = re.sub(r"AS \$\$\n.*?\n\$\$", "AS $$\n<module source>\n$$", script, flags=re.S)
    return re.sub(r"(?<=['(])pipe:[0-9a-f]{16}", "pipe:<fingerprint>", script)


def graph(path: Path):
    return build_graph(load_pipeline(path))


# -- golden scripts ---------------------------------------------------------------------------


def test_engagement_create_script():
    script = build_plan(graph(ENGAGEMENT), TargetState.empty(), target="snowflake").script()
    assert masked(script) == golden("engagement_create.sql")


def test_engagement_destroy_script():
    assert build_destroy_plan(graph(ENGAGEMENT)).script() == golden("engagement_destroy.sql")


def test_shop_create_script():
    assert masked(build_plan(graph(SHOP), TargetState.empty()).script()) == golden("shop_create.sql")


def test_no_target_lag_is_written_as_lag():
    script = build_plan(graph(ENGAGEMENT), TargetState.empty()).script()
    assert re.search(r"(?<!TARGET_)LAG\s*=", script) is None
    assert script.count("TARGET_LAG = DOWNSTREAM") == 4 and script.count("TARGET_LAG = '1 minute'") == 1


# -- UDTF bodies and fingerprints -------------------------------------------------------------


def test_udtf_body_is_the_module_with_the_seed():
    pipeline = load_pipeline(ENGAGEMENT)
    statement = Statements(pipeline).create_function("gen_members")
    body = re.search(r"AS \$\$\n(.*)\n\$\$$", statement, flags=re.S).group(1)
    source = (ENGAGEMENT.parent / "generators" / "engagement.py").read_text(encoding="utf-8").rstrip()
    assert body == f"{source}\n\nSEED = 42" + seeded_handler("Members")
    assert "\nHANDLER = 'PipeSeededHandler'\n" in statement
    assert statement.startswith("CREATE OR REPLACE FUNCTION GEN_MEMBERS(NUM_RECORDS NUMBER, PIPE_SEED NUMBER)\n")
    ast.parse(body)  # the embedded module is valid Python


def test_function_fingerprint(pipeline_dir):
    folder = pipeline_dir("pipelines")
    sql = Statements(load_pipeline(folder / "shop.yaml"))
    first = sql.function_fingerprint("gen_customers")
    assert re.fullmatch(r"pipe:[0-9a-f]{16} Fake customers", first)
    assert re.fullmatch(r"pipe:[0-9a-f]{16}", sql.function_fingerprint("gen_orders"))  # no comment
    assert sql.function_fingerprint("gen_customers") == first  # stable
    assert f"COMMENT = '{first}'" in sql.create_function("gen_customers")
    module = folder / "generators" / "shop.py"
    module.write_text(module.read_text() + "\n# changed\n")
    assert Statements(load_pipeline(folder / "shop.yaml")).function_fingerprint("gen_customers") != first


def test_table_fingerprint_records_the_call():
    sql = Statements(load_pipeline(SHOP))
    assert sql.table_fingerprint("CUSTOMERS") == "pipe: GEN_CUSTOMERS(10) seed 7 order by CUSTOMER_ID"
    assert sql.table_fingerprint("RETURNS_LOG") == (
        "Filled by hand (pipe: ORDER_ID NUMBER, REASON VARCHAR, LOGGED_AT TIMESTAMP_NTZ)"
    )


# -- golden statements ------------------------------------------------------------------------

_CASE = re.compile(r"^-- case: (.+)$")


def statement_cases() -> list[tuple[str, str]]:
    cases, current = [], None
    for line in golden("statements.sql").splitlines():
        match = _CASE.match(line)
        if match:
            current = [match.group(1), []]
            cases.append(current)
        elif current is not None:
            current[1].append(line)
    return [(call, "\n".join(lines).strip()) for call, lines in cases]


def call_statement(sql: Statements, call: str) -> str:
    """Run ``METHOD ARG... KEY=VALUE...`` (Python literals) on ``sql``."""
    method, _, rest = call.partition(" ")
    node = ast.parse(f"f({', '.join(_split(rest))})", mode="eval").body
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return getattr(sql, method)(*args, **kwargs)


def _split(text: str) -> list[str]:
    """Split on spaces outside quotes and brackets."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == " " and depth == 0:
            if current:
                parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current] if current else parts


@pytest.mark.parametrize(("call", "expected"), statement_cases(), ids=[c for c, _ in statement_cases()])
def test_statement(call, expected):
    assert masked(call_statement(Statements(load_pipeline(ENGAGEMENT)), call)) == expected


# -- literals and templates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("abc", "'abc'"),
        ("it's", "'it\\'s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("x'); DROP TABLE t; --", "'x\\'); DROP TABLE t; --'"),
        (10, "10"),
        (2.5, "2.5"),
        (True, "TRUE"),
        (False, "FALSE"),
        (None, "NULL"),
    ],
)
def test_sql_literal(value, literal):
    assert sql_literal(value) == literal


@pytest.mark.parametrize("text", ["it's", "x'); DROP TABLE t; --", "a\\'b", "\\", "'''"])
def test_sql_literal_reads_back_as_one_string(text):
    parsed = sqlglot.parse_one(f"SELECT {sql_literal(text)}", read="snowflake")
    literal = parsed.expressions[0]
    assert isinstance(literal, exp.Literal) and literal.is_string and literal.this == text


def test_every_template_names_its_reference_page_and_inputs():
    templates = sorted(TEMPLATES.glob("*.sql.j2"))
    assert len(templates) >= 14
    for path in templates:
        head = path.read_text(encoding="utf-8").split("#}", 1)[0]
        assert head.startswith("{#-"), path.name
        assert re.search(r"(sql-reference|developer-guide)/", head), path.name
        assert "Inputs:" in head, path.name


def test_templates_are_strict():
    with pytest.raises(jinja2.UndefinedError):
        render("drop_table")  # name is missing


# -- every statement parses -------------------------------------------------------------------

# sqlglot (Snowflake dialect) has no grammar for these two documented statements and falls
# back to exp.Command; for them the same text with TABLE for DYNAMIC TABLE must parse fully,
# which still checks every clause after the object kind. REFRESH has no TABLE analogue: it is
# matched against its documented form instead (sql-reference/sql/alter-dynamic-table).
_NO_SQLGLOT_GRAMMAR = re.compile(r"^(ALTER|DROP) DYNAMIC TABLE ")
_DATA_METRIC_FUNCTION = re.compile(r"^ALTER TABLE \w+ ADD DATA METRIC FUNCTION SNOWFLAKE\.CORE\.\w+ ON \(.*\) EXPECTATION PIPE_\w+ \(.*\)$")
_REFRESH = re.compile(r"^ALTER DYNAMIC TABLE [A-Z_][A-Z0-9_$]* REFRESH$")


def every_statement(path: Path) -> list[str]:
    """Every statement pipe renders for a pipeline: create and destroy plans, and the ALTER,
    COMMENT, REFRESH and INSERT statements of each object."""
    g = graph(path)
    sql = Statements(g.pipeline)
    statements = [*build_plan(g, TargetState.empty()).statements(), *build_destroy_plan(g).statements()]
    for name, dt in g.pipeline.dynamic_tables.items():
        other_lag = "downstream" if dt.lag_seconds else "2 hours"
        statements += [
            sql.alter_dynamic_table(name, target_lag=other_lag),
            sql.alter_dynamic_table(name, target_lag="90 seconds", warehouse="OTHER_WH"),
            sql.alter_dynamic_table(name, warehouse="OTHER_WH"),
            sql.comment_dynamic_table(name, "a 'quoted' comment"),
            sql.comment_dynamic_table(name, None),
            sql.refresh_dynamic_table(name),
        ]
    for name, table in g.pipeline.tables.items():
        if table.generator:
            statements.append(sql.insert_generated(name, table.generator, list(table.args)))
    return statements


def _parse_one(statement: str) -> exp.Expression:
    parsed = [s for s in sqlglot.parse(statement, read="snowflake") if s is not None]
    assert len(parsed) == 1, statement
    return parsed[0]


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_statement_parses_as_snowflake(path):
    statements = every_statement(path)
    assert len(statements) > 10
    for statement in statements:
        tree = _parse_one(statement)
        if not isinstance(tree, exp.Command):
            continue
        if _DATA_METRIC_FUNCTION.match(statement):  # no sqlglot grammar: see tests/checks/test_snowflake.py
            continue
        assert _NO_SQLGLOT_GRAMMAR.match(statement), f"parsed only as a Command:\n{statement}"
        if statement.endswith(" REFRESH"):
            assert _REFRESH.match(statement), statement
            continue
        surrogate = _parse_one(statement.replace("DYNAMIC TABLE", "TABLE", 1))
        assert not isinstance(surrogate, exp.Command), f"does not parse:\n{statement}"


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: str(p.relative_to(ROOT)))
def test_create_dynamic_table_keeps_the_query(path):
    g = graph(path)
    sql = Statements(g.pipeline)
    for name, dt in g.pipeline.dynamic_tables.items():
        tree = _parse_one(sql.create_dynamic_table(name))
        assert isinstance(tree, exp.Create) and tree.args["kind"] == "TABLE"
        properties = tree.args["properties"].expressions
        assert any(isinstance(p, exp.DynamicProperty) for p in properties)
        named = {p.name.upper(): p.args["value"].sql(dialect="snowflake") for p in properties if type(p) is exp.Property}
        assert set(named) == {"TARGET_LAG", "WAREHOUSE", "REFRESH_MODE", "INITIALIZE"}
        assert named["REFRESH_MODE"] == dt.refresh_mode.upper()
        assert tree.this.name == name
        assert normalize_sql(tree.expression.sql(dialect="snowflake")) == normalize_sql(dt.sql)
