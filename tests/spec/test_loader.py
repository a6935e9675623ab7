"""Loading a pipeline file: vars rendered in a sandbox, references checked, errors located."""

from __future__ import annotations

import pytest

from engine.errors import Location, SpecError
from engine.spec.loader import coerce_scalar, load_pipeline, load_pipeline_text, render_template
from helpers import BAD, ENGAGEMENT, PIPELINES, SHOP

HEAD = """\
version: 1
name: t
snowflake: {database: DB, schema: SC, warehouse: WH}
generators:
  gen_orders:
    module: generators/shop.py
    handler: Orders
    args: {num_records: number, customers: number}
    returns: {order_id: number, customer_id: number, detail: variant}
"""


def load(text: str):
    return load_pipeline_text(text, file="t.yaml", base_dir=PIPELINES)


def test_engagement_loads():
    p = load_pipeline(ENGAGEMENT)
    assert p.name == "engagement"
    assert list(p.tables) == ["MEMBERS", "RESOURCES", "RAW_INTERACTIONS"]
    assert list(p.dynamic_tables) == [
        "MEMBER_SESSIONS",
        "RESOURCE_CATALOG",
        "SESSION_ENGAGEMENT_DETAIL",
        "MEMBER_ENGAGEMENT_SUMMARY",
        "ENGAGEMENT_DASHBOARD",
    ]
    assert p.base_dir == ENGAGEMENT.parent
    assert p.stream.args == ["{{ records }}", 1]  # filled per batch, not at load time


def test_vars_are_rendered_into_sql():
    p = load_pipeline(SHOP)
    assert "WHERE o.detail:status::VARCHAR = 'paid'" in p.dynamic_tables["ORDER_ITEMS"].sql
    assert "WHERE total >= 5)" in p.dynamic_tables["CUSTOMER_TOTALS"].sql
    assert "{{" not in p.dynamic_tables["CUSTOMER_TOTALS"].sql


def test_vars_in_generator_arguments_become_numbers():
    p = load(HEAD + """vars: {rows: 25, label: abc}
tables:
  ORDERS: {generator: gen_orders, args: ["{{ vars.rows }}", "{{ vars.rows * 2 }}"]}
""")
    assert p.tables["ORDERS"].args == [25, 50]


def test_jinja_statements_work_in_sql():
    p = load(HEAD + """vars: {cols: [order_id, customer_id]}
tables:
  ORDERS: {generator: gen_orders, args: [1, 1]}
dynamic_tables:
  D:
    target_lag: 1 minute
    sql: SELECT {% for c in vars.cols %}{{ c }}{{ ", " if not loop.last }}{% endfor %} FROM ORDERS
""")
    assert p.dynamic_tables["D"].sql == "SELECT order_id, customer_id FROM ORDERS"


def test_locate_finds_sql_lines_in_the_file():
    p = load_pipeline(SHOP)
    # CUSTOMER_TOTALS' sql is a block scalar starting on file line 52 (counted in
    # tests/fixtures/pipelines/shop.yaml); its 4th line ("    GROUP BY customer_id") is file
    # line 55, and SQL column 5 is file column 11 (6 spaces of block indent).
    text = SHOP.read_text().splitlines()
    loc = p.locate("dynamic_tables", "customer_totals", "sql", table="CUSTOMER_TOTALS", sql_line=4, sql_column=5)
    assert text[loc.line - 1].strip() == "GROUP BY customer_id"
    assert (loc.line, loc.column) == (55, 11)
    assert loc.table == "CUSTOMER_TOTALS"


def test_names_are_case_insensitive_for_references():
    p = load(HEAD + """tables:
  orders: {generator: GEN_ORDERS, args: [1, 1], order_by: [ORDER_ID]}
stream: {table: Orders, generator: Gen_Orders, args: ["{{ records }}", 2]}
""")
    assert "ORDERS" in p.tables and p.stream.table == "ORDERS"


@pytest.mark.parametrize(
    ("yaml", "message", "line"),
    [
        ("tables:\n  A: {columns: {x: number}}\n  a: {columns: {x: number}}\n", "duplicate name a", 12),
        ("tables:\n  A: {columns: {x: number}}\ndynamic_tables:\n  a: {target_lag: 1 minute, sql: SELECT 1}\n",
         "duplicate name a: already declared as A in tables", 13),
        ("tables:\n  O: {generator: gen_orders, args: [1]}\n", "gen_orders takes 2 argument(s)", 11),
        ("tables:\n  O: {generator: gen_order, args: [1, 2]}\n", "unknown generator gen_order", 11),
    ],
)
def test_reference_errors(yaml, message, line):
    with pytest.raises(SpecError) as info:
        load(HEAD + yaml)
    assert message in str(info.value)
    assert info.value.location.file == "t.yaml" and info.value.location.line == line


def test_unknown_key_suggests_the_closest():
    with pytest.raises(SpecError) as info:
        load(HEAD + "tables:\n  O: {generator: gen_orders, args: [1, 2], order: [order_id]}\n")
    assert info.value.message == "unknown key 'order'"
    assert info.value.hint == "did you mean order_by?"
    assert (info.value.location.line, info.value.location.column) == (11, 44)


def test_unknown_key_wins_over_the_missing_key_it_causes():
    with pytest.raises(SpecError, match="unknown key 'target_lagg' \\(did you mean target_lag\\?\\)"):
        load(HEAD + "dynamic_tables:\n  D: {target_lagg: 1 minute, sql: SELECT 1}\n")


def test_a_generator_whose_process_takes_defaults():
    # Orders.process(self, num_records, customers=10): one or two declared args both fit.
    p = load("""version: 1
name: t
snowflake: {database: DB, schema: SC, warehouse: WH}
generators:
  g:
    module: generators/shop.py
    handler: Orders
    args: {num_records: number}
    returns: {order_id: number, customer_id: number, detail: variant}
""")
    assert list(p.generators["g"].args) == ["num_records"]


def test_module_containing_dollar_dollar_is_caught_when_rendering(tmp_path):
    (tmp_path / "g.py").write_text("class G:\n    def process(self):\n        yield ('$$',)\n")
    from engine.sql.render import Statements

    p = load_pipeline_text(
        "version: 1\nname: t\nsnowflake: {database: DB, schema: SC, warehouse: WH}\n"
        "generators:\n  g: {module: g.py, handler: G, returns: {x: varchar}}\n",
        file="t.yaml",
        base_dir=tmp_path,
    )
    with pytest.raises(SpecError, match=r"contains '\$\$'"):
        Statements(p).create_function("g")


GENERATOR = "version: 1\nname: t\nsnowflake: {database: DB, schema: SC, warehouse: WH}\ngenerators:\n  g: {module: g.py, handler: G, args: {n: number}, returns: {x: varchar}}\n"


@pytest.mark.parametrize(
    "module, error",
    [
        ("class G:\n    def process(self, n, m=1):\n        yield (n,)\n", None),
        ("class G:\n    def process(self, *args):\n        yield args\n", None),
        ("class G:\n    def process(self, n, m):\n        yield (n,)\n", "G.process takes 2 argument\\(s\\) but g declares 1"),
        ("class G:\n    def rows(self, n):\n        yield (n,)\n", "handler G has no process"),
        ("class H:\n    def process(self, n):\n        yield (n,)\n", "handler class G not found in g.py"),
        ("class G(:\n", "syntax error"),
    ],
    ids=["defaults", "varargs", "too-many", "no-process", "no-class", "syntax"],
)
def test_a_generator_module_is_judged_the_same_when_read_back_from_the_cache(tmp_path, monkeypatch, module, error):
    # What the loader keeps of a module (its classes and their process arguments) gives the same
    # verdict as parsing it; editing the module is seen at once.
    monkeypatch.setenv("PIPE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "g.py").write_text("class G:\n    def process(self, n):\n        yield (n,)\n")
    assert load_pipeline_text(GENERATOR, file="t.yaml", base_dir=tmp_path).generators["g"].handler == "G"
    (tmp_path / "g.py").write_text(module)
    for _ in range(2):  # computed, then read back (a syntax error is never kept)
        if error is None:
            assert load_pipeline_text(GENERATOR, file="t.yaml", base_dir=tmp_path).generators["g"].handler == "G"
        else:
            with pytest.raises(SpecError, match=error):
                load_pipeline_text(GENERATOR, file="t.yaml", base_dir=tmp_path)
    assert len(list((tmp_path / "cache" / "generator_handlers").glob("*.json"))) == (2 if error != "syntax error" else 1)


# -- render_template ------------------------------------------------------------------------

WHERE = Location("f.yaml", 3, 5, "T")


def test_render_template_reads_vars():
    assert render_template("x = {{ vars.a }}", {"vars": {"a": 1}}, WHERE) == "x = 1"


def test_render_template_undefined_is_an_error():
    with pytest.raises(SpecError) as info:
        render_template("{{ vars.b }}", {"vars": {"a": 1}}, WHERE)
    assert "undefined template value" in info.value.message and "'b'" in info.value.message
    assert info.value.location == WHERE
    assert info.value.hint == "define it under vars:"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ vars.update({'a': 2}) }}",
        "{{ vars.a.append(1) }}",
        "{% set x = vars.pop('a') %}",
    ],
)
def test_render_template_sandbox(template):
    with pytest.raises(SpecError, match="unsafe template expression"):
        render_template(template, {"vars": {"a": [1]}}, WHERE)


def test_render_template_syntax_error():
    with pytest.raises(SpecError, match="template syntax error"):
        render_template("{{ vars.a ", {"vars": {"a": 1}}, WHERE)


def test_render_template_runtime_error_is_a_spec_error():
    with pytest.raises(SpecError, match="template error: division by zero"):
        render_template("{{ 1 / 0 }}", {"vars": {}}, WHERE)


@pytest.mark.parametrize(("text", "value"), [("10", 10), (" 2.5 ", 2.5), ("abc", "abc"), ("1e3", 1000.0)])
def test_coerce_scalar(text, value):
    assert coerce_scalar(text) == value


def test_loading_is_independent_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = load_pipeline(SHOP)
    assert p.base_dir == SHOP.parent


def test_bad_fixture_folder_has_only_failing_files():
    # A guard for tests/fixtures/bad: every file there must fail to load or to build.
    from engine.errors import PipeError
    from engine.graph import build_graph

    for path in sorted(BAD.glob("*.yaml")):
        with pytest.raises(PipeError):
            build_graph(load_pipeline(path))
