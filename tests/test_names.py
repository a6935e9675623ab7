"""Snowflake's identifier rules (sql-reference/identifiers-syntax, mirrored in szeno/snowflake-docs
at markdown/en/sql-reference/identifiers-syntax.md), and a pipeline whose names are all quoted:
validated, applied and refreshed incrementally locally, and rendered for Snowflake."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from engine import names
from engine import project as api
from engine.errors import SqlError
from engine.report import Reporter
from engine.sql.render import Statements

FIXTURES = Path(__file__).parent / "fixtures" / "names"
QUOTED = FIXTURES / "quoted.yaml"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        # "id is stored and resolved as ID"; "MyIdentifier1", "My$identifier", "_my_identifier" are valid.
        ("id", "ID"), ("MyIdentifier1", "MYIDENTIFIER1"), ("My$identifier", "MY$IDENTIFIER"),
        ("_my_identifier", "_MY_IDENTIFIER"),
        # '"id" is stored and resolved as id'; case, blanks, punctuation and non-ASCII are kept.
        ('"id"', "id"), ('"My identifier"', "My identifier"), ('"my.identifier"', "my.identifier"),
        ('"идентификатор"', "идентификатор"), ('"3rd_identifier"', "3rd_identifier"),
        # 'CREATE TABLE "quote""andunquote""" creates a table named quote"andunquote"'
        ('"quote""andunquote"""', 'quote"andunquote"'),
        # Python's str.upper would make these CAFÉ and STRASSE.
        ('"café"', "café"), ('"straße"', "straße"),
    ],
)
def test_names_resolve_as_snowflake_stores_them(written, stored):
    assert names.resolve(written) == stored
    assert names.resolve(names.sql(stored)) == stored  # written back, it reads as itself


@pytest.mark.parametrize("written", ["café", "my identifier", "3rd", "a-b", "", '""', '"a"b"', "select", "x" * 256])
def test_what_snowflake_refuses_is_refused_with_the_reason(written):
    with pytest.raises(names.IdentifierError, match="not a valid Snowflake identifier|reserved"):
        names.resolve(written)


def test_a_name_is_quoted_only_when_snowflake_needs_it():
    assert [names.sql(n) for n in ("MEMBERS", "MY$ID", "members", "Café", "A B", 'a"b', "TABLE")] == [
        "MEMBERS", "MY$ID", '"members"', '"Café"', '"A B"', '"a""b"', '"TABLE"',
    ]
    assert names.duckdb("MEMBERS") == '"MEMBERS"'


def test_the_four_spellings_of_one_name_and_four_names():
    # "TABLENAME, tablename, tableName, TableName all resolve to TABLENAME"; quoted, four names.
    assert {names.resolve(w) for w in ("TABLENAME", "tablename", "tableName", "TableName")} == {"TABLENAME"}
    assert len({names.resolve(f'"{w}"') for w in ("TABLENAME", "tablename", "tableName", "TableName")}) == 4


def test_names_written_back_for_users_and_lists():
    # shown: lower-case where that reads back as the same name, quoted exactly otherwise
    assert [names.shown(n) for n in ("MEMBER_ID", "Région", "café", "members", 'a"b')] == [
        "member_id", '"Région"', '"café"', '"members"', '"a""b"',
    ]
    assert names.split('a, "b, c",  "d""e" ,f') == ["a", '"b, c"', '"d""e"', "f"]
    assert names.dotted("QUOTED_DB", "NAMES", "Ventes par café") == 'QUOTED_DB.NAMES."Ventes par café"'
    known = {"MEMBERS", "Montant", "Ventes par café"}
    assert [names.pick(t, known) for t in ("members", '"Montant"', "Montant", "Ventes par café", "montant")] == [
        "MEMBERS", "Montant", "Montant", "Ventes par café", None,
    ]


def test_check_names_compare_their_columns_as_resolved_names():
    from engine.checks.declared import check_key

    assert check_key("not_null(member_id, email)") == check_key("NOT_NULL(MEMBER_ID, EMAIL)") == "NOT_NULL(MEMBER_ID, EMAIL)"
    assert check_key('not_null("Région")') == "NOT_NULL(Région)" != check_key('not_null("région")')
    assert check_key('unique("a, b", c)') == "UNIQUE(a, b, C)"  # a quoted comma is part of the name
    assert check_key("amount_ok") == "AMOUNT_OK"


def test_parsed_identifiers_resolve_the_same_way():
    tree = sqlglot.parse_one('SELECT "café", id, "Montant" FROM "Café Orders"', read="snowflake")
    assert [names.of(c) for c in tree.find_all(exp.Column)] == ["café", "ID", "Montant"]
    assert names.of(tree.find(exp.Table)) == "Café Orders"


# -- a pipeline of quoted names -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quoted():
    return api.validate(QUOTED)


def test_quoted_names_are_declared_and_typed_as_written(quoted):
    assert quoted.pipeline.object_names == ["Café Orders", "Ventes par café", "DETAIL"]
    columns = {name: [(c.name, c.type) for c in q.columns] for name, q in quoted.graph.queries.items()}
    assert columns == {
        "Ventes par café": [("café", "VARCHAR"), ("Nombre", "NUMBER(38,0)"), ("TOTAL", "NUMBER(10,2)")],
        "DETAIL": [("ORDER_ID", "NUMBER(38,0)"), ("Straße", "VARCHAR"), ('a"b', "VARCHAR"), ("DOUBLE_AMOUNT", "NUMBER(10,2)")],
    }
    assert quoted.graph.upstream("DETAIL") == ["Café Orders"]
    assert {n: q.modes("auto").local for n, q in quoted.graph.queries.items()} == {
        "Ventes par café": "INCREMENTAL", "DETAIL": "INCREMENTAL",
    }


def test_quoted_names_render_for_snowflake_as_golden(quoted):
    statements = Statements(quoted.pipeline)
    rendered = [
        statements.create_table("Café Orders"),
        statements.create_dynamic_table("Ventes par café"),
        statements.refresh_dynamic_table("Ventes par café"),
        statements.drop_dynamic_table("Ventes par café"),
        statements.drop_table("Café Orders"),
    ]
    golden = [s.strip() for s in (FIXTURES / "quoted_create.sql").read_text(encoding="utf-8").split("\n;\n")]
    assert rendered == golden
    for statement in (rendered[0], rendered[1], rendered[4]):  # each names, for Snowflake, the object declared
        table = sqlglot.parse_one(statement, read="snowflake").find(exp.Table)
        assert names.of(table) in quoted.pipeline.object_names


def test_quoted_names_apply_and_refresh_incrementally_locally(quoted, tmp_path):
    rows = [(1, "noir", "2.5", "x"), (2, "noir", "1.5", "y"), (3, "crème", "0", "z")]
    later = [(4, "crème", "4", "w")]
    with quoted.backend("local", db=tmp_path / "quoted.duckdb") as backend:
        api.apply(quoted, backend)
        actions = []
        for batch in (rows, later):
            values = ", ".join(f"({i}, '{c}', {m}, '{ab}')" for i, c, m, ab in batch)
            backend.query(f'INSERT INTO "Café Orders" VALUES {values}')
            actions += [(r.name, r.state, r.refresh_action) for r in api.refresh(quoted, backend, reporter=Reporter())]
        by_cafe = backend.query('SELECT "café", "Nombre", total FROM "Ventes par café"')
        detail = backend.query('SELECT order_id, "Straße", "a""b", double_amount FROM DETAIL')
    assert set(actions) == {("Ventes par café", "SUCCEEDED", "INCREMENTAL"), ("DETAIL", "SUCCEEDED", "INCREMENTAL")}
    # Worked out from the rows inserted: per café, the count and sum of Montant; DETAIL keeps Montant > 0.
    everything = rows + later
    expected = {}
    for _, cafe, amount, _ in everything:
        count, total = expected.get(cafe, (0, Decimal(0)))
        expected[cafe] = (count + 1, total + Decimal(amount))
    assert by_cafe.columns == ["café", "Nombre", "TOTAL"]
    assert {r[0]: (r[1], r[2]) for r in by_cafe.rows} == expected
    assert detail.columns == ["ORDER_ID", "Straße", 'a"b', "DOUBLE_AMOUNT"]
    assert sorted(detail.rows) == sorted(
        (i, c, ab, Decimal(m) * 2) for i, c, m, ab in everything if Decimal(m) > 0
    )


def test_an_unquoted_non_ascii_name_in_sql_is_refused_with_its_position():
    from engine.sql.parsing import parse_select

    with pytest.raises(SqlError) as info:
        parse_select("SELECT id,\n  café FROM t")
    assert "café is not a valid unquoted Snowflake identifier" in info.value.message
    assert (info.value.sql_line, info.value.sql_column) == (2, 3)
    assert info.value.hint.startswith('quote it: "café"')


# -- refresh history and SHOW output of quoted names ------------------------------------------------


def test_refresh_history_names_a_quoted_table_as_an_identifier_inside_the_string(quoted):
    """NAME is resolved as an object name (sql-reference/functions/dynamic_table_refresh_history:
    "refer to Object name resolution"): a name that must be quoted is double-quoted in the string."""
    from engine.backends.snowflake.state import refresh_history

    sql = refresh_history(quoted.pipeline.snowflake, names=["Ventes par café"])
    argument = sqlglot.parse_one(sql, read="snowflake").find(exp.Kwarg)
    assert argument.this.name.upper() == "NAME"
    named = exp.to_table(argument.expression.to_py(), dialect="snowflake")
    assert [names.of(p) for p in named.parts] == ["QUOTED_DB", "NAMES", "Ventes par café"]


def test_local_history_finds_a_quoted_table_however_it_is_typed(quoted, tmp_path):
    with quoted.backend("local", db=tmp_path / "quoted.duckdb") as backend:
        api.apply(quoted, backend)
        as_sql = api.history(backend, names=['"Ventes par café"'])
        as_shell = api.history(backend, names=["Ventes par café"])  # a shell drops the quotes
        queried = backend.query(
            "SELECT NAME, REFRESH_TRIGGER FROM TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY("
            """NAME => 'QUOTED_DB.NAMES."Ventes par café"'))"""
        ).rows
        other_schema = backend.query(
            "SELECT NAME FROM TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY("
            """NAME => 'ELSEWHERE."Ventes par café"'))"""
        ).rows
    assert [(r.name, r.refresh_trigger) for r in as_sql] == [("Ventes par café", "CREATION")]
    assert [(r.name, r.refresh_trigger) for r in as_shell] == [("Ventes par café", "CREATION")]
    assert [tuple(r) for r in queried] == [("Ventes par café", "CREATION")]
    assert other_schema == []


def test_show_output_of_quoted_tables_plans_no_change(quoted):
    """SHOW's ``name`` is the name as stored: "Ventes par café" is the file's dynamic table, and the
    tables its query reads are listed as SQL writes them."""
    from backends.snowflake_double import rewritten_text
    from engine.backends.snowflake.diff import target_state
    from engine.planner import build_plan

    statements = Statements(quoted.pipeline)
    target = quoted.pipeline.snowflake

    def comment(statement: str) -> str:
        return sqlglot.parse_one(statement, read="snowflake").find(exp.SchemaCommentProperty).this.to_py()

    tables = [{"name": "Café Orders", "comment": comment(statements.create_table("Café Orders")), "is_dynamic": "N"}]
    dynamic = []
    for name in ("Ventes par café", "DETAIL"):
        create = statements.create_dynamic_table(name)
        text = rewritten_text(target.database, target.schema_name, name, comment(create), {"TARGET_LAG": "1 minute"}, "", create)
        dynamic.append({"name": name, "comment": comment(create), "text": text, "target_lag": "1 minute",
                        "warehouse": target.warehouse})
    state = target_state(quoted.pipeline, dynamic, tables, [])
    assert state.objects["Ventes par café"].properties["reads"] == '"Café Orders"'
    plan = build_plan(quoted.graph, state, target="snowflake")
    assert not plan.has_changes, [(a.kind, a.name, a.reason) for a in plan.changes]


# -- no name upper-cased outside engine.names ---------------------------------------------------

# Modules that once upper-cased names with str.upper: every name there goes through engine.names.
NAME_MODULES = [
    "engine/checks", "engine/backends/local/incremental/recognition.py", "engine/planner.py",
    "engine/backends/snowflake/executor.py", "engine/backends/snowflake/diff.py", "engine/ui/wire.py",
    "engine/ui/state.py", "engine/generators", "engine/backends/local/information_schema.py",
    "engine/backends/local/outside.py", "engine/diagram.py", "engine/console/plans.py",
]
# The .upper() left there, by what it is applied to: none is a table, column or check name.
NOT_NAMES = {
    ("engine/checks/snowflake.py", "digest[:12]"),  # a hex digest
    ("engine/checks/snowflake.py", "kind.split('(')[0].strip()"),  # a type name
    ("engine/checks/snowflake.py", "t"),  # a declared type
    ("engine/checks/unit.py", "duck"),  # a DuckDB type name
    ("engine/backends/local/incremental/recognition.py", "str(d[1])"),  # a DuckDB type name
    ("engine/backends/local/incremental/recognition.py", "type(agg).__name__"),  # MIN / MAX
    ("engine/backends/local/incremental/recognition.py", "join.kind or ''"),  # INNER / CROSS
    ("engine/planner.py", "types"),  # argument type names
    ("engine/backends/snowflake/executor.py", "d[0]"),  # result column headers, keyed by convention
    ("engine/backends/snowflake/diff.py", "str(value)"),  # Y / N
    ("engine/backends/snowflake/diff.py", "token.text"),  # property keywords
    ("engine/backends/snowflake/diff.py", "tokens[i + 2].text.strip(\"'\")"),  # REFRESH_MODE / INITIALIZE values
    ("engine/ui/wire.py", "str(statement.this)"),  # SHOW / DESCRIBE
    ("engine/ui/wire.py", "statement.key"),  # a statement kind
    ("engine/ui/state.py", "kind"),  # a type name
    ("engine/ui/state.py", "dt.refresh_mode"),  # AUTO / FULL / INCREMENTAL
    ("engine/generators/values.py", "snowflake_type.split('(')[0].strip()"),  # a type name
    ("engine/backends/local/information_schema.py", "sql"),  # looking for a function name in SQL text
    ("engine/backends/local/information_schema.py",
     "call.name if isinstance(call, exp.Anonymous) else call.expression.name"),  # a function name
    ("engine/backends/local/information_schema.py", "arg.this.name"),  # an argument keyword (NAME =>)
    ("engine/diagram.py", "dt.refresh_mode"),
    ("engine/diagram.py", "t"),  # a type name
    ("engine/console/plans.py", "dt.refresh_mode"),
    ("engine/console/plans.py", "dt.target_lag"),  # DOWNSTREAM
}


def test_names_are_not_upper_cased_outside_engine_names():
    import ast

    root = Path(__file__).resolve().parents[1]
    found = set()
    for module in NAME_MODULES:
        path = root / module
        for file in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                call = node.func if isinstance(node, ast.Call) else None
                if isinstance(call, ast.Attribute) and call.attr == "upper":
                    if isinstance(call.value, ast.Name) and call.value.id in ("names", "identifiers"):
                        continue  # engine.names.upper: Snowflake's own rule
                    found.add((file.relative_to(root).as_posix(), ast.unparse(call.value), node.lineno))
    new = sorted((f, text, line) for f, text, line in found if (f, text) not in NOT_NAMES)
    assert not new, (
        "str.upper() on what may be a name: resolve names with engine.names (key, of, pick) instead, "
        f"or add the expression to NOT_NAMES with what it is: {new}"
    )
    assert {(f, text) for f, text, _ in found} == NOT_NAMES  # an entry no longer used goes too
