"""The CLI as a user sees it: help for every command, validate / plan / graph / schema output."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import typing

import pytest

from helpers import ENGAGEMENT, FIXTURES, ROOT

ANSI = re.compile(r"\x1b\[")


def _commands():
    from engine.cli import app

    return {(c.name or c.callback.__name__.replace("_", "-")): c for c in app.registered_commands}


def test_every_command_and_option_has_help():
    commands = _commands()
    assert {"validate", "plan", "apply", "destroy", "stream", "graph", "status", "history", "refresh", "query", "schema"} <= set(commands)
    for name, command in commands.items():
        doc = command.help or inspect.getdoc(command.callback)
        assert doc and len(doc) > 15, f"pipe {name} has no help text"
        hints = typing.get_type_hints(command.callback, include_extras=True)
        for param in inspect.signature(command.callback).parameters:
            info = [m for m in getattr(hints[param], "__metadata__", ()) if hasattr(m, "help")]
            assert info and info[0].help, f"pipe {name}: {param} has no help text"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_command_help(command, run_pipe):
    result = run_pipe(command, "--help")
    assert result.code == 0 and result.stderr == ""
    first_line = (_commands()[command].help or inspect.getdoc(_commands()[command].callback)).splitlines()[0]
    assert " ".join(first_line.split()[:4]) in " ".join(result.stdout.split())
    # The program name depends on how Python was started; the command and its options do not.
    assert re.search(rf"^Usage: .*\b{command} \[OPTIONS\]", result.stdout, re.M)


def test_top_level_help_lists_every_command(run_pipe):
    result = run_pipe("--help", subprocess=True)
    assert result.code == 0
    for command in _commands():
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


def test_no_arguments_shows_the_help_not_an_error(run_pipe):
    result = run_pipe(subprocess=True)
    assert re.search(r"^Usage: .*COMMAND", result.stdout + result.stderr, re.M)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "Missing argument"),
        (["validate", "x.yaml", "--target", "nowhere"], "'nowhere' is not one of"),
        (["nosuch"], "No such command"),
        (["plan", "x.yaml", "--bogus"], "No such option"),
    ],
)
def test_usage_errors_are_click_messages_not_internal_errors(args, message, run_pipe, tmp_path):
    result = run_pipe(*args, cwd=tmp_path, subprocess=True)
    assert result.code == 2
    assert message in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


# -- validate ---------------------------------------------------------------------------------


def test_validate_engagement(run_pipe):
    result = run_pipe("validate", ENGAGEMENT, cwd=ROOT)
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "✓ engagement: valid — 3 generators, 3 tables, 5 dynamic tables"
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0].isupper()}
    assert "AUTO → INCREMENTAL" in rows["MEMBER_SESSIONS"] and "DOWNSTREAM" in rows["MEMBER_SESSIONS"]
    assert "AUTO → FULL" in rows["RESOURCE_CATALOG"] and "CURRENT_DATE outside WHERE/HAVING/QUALIFY" in rows["RESOURCE_CATALOG"]
    assert "1 minute" in rows["ENGAGEMENT_DASHBOARD"] and "CURRENT_TIMESTAMP" in rows["ENGAGEMENT_DASHBOARD"]
    assert lines[-1] == (
        "create order: MEMBERS → RESOURCES → RAW_INTERACTIONS → MEMBER_SESSIONS → RESOURCE_CATALOG → "
        "SESSION_ENGAGEMENT_DETAIL → MEMBER_ENGAGEMENT_SUMMARY → ENGAGEMENT_DASHBOARD"
    )
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings)
    assert "engagement.yaml:120:41: RESOURCE_CATALOG: CURRENT_DATE outside WHERE/HAVING/QUALIFY" in warnings[0]


def test_validate_summarizes_a_wide_pipeline(run_pipe, tmp_path):
    """More than 100 dynamic tables: one row per lag, mode and reason, with its first and last
    table and how many; the create order shows its ends."""
    lines = ["version: 1\nname: wide\nsnowflake: {database: DB, schema: SC, warehouse: WH}\n",
             "tables:\n  BASE: {columns: {id: number}}\ndynamic_tables:\n"]
    for i in range(150):
        lag = "1 minute" if i % 3 else "5 minutes"
        lines.append(f"  DT_{i}:\n    target_lag: {lag}\n    sql: SELECT id FROM BASE WHERE id > {i}\n")
    (tmp_path / "wide.yaml").write_text("".join(lines))
    result = run_pipe("validate", tmp_path / "wide.yaml")
    assert result.code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "✓ wide: valid — 0 generators, 1 tables, 150 dynamic tables"
    rows = [line for line in out if line.lstrip().startswith("DT_")]
    assert len(rows) == 2
    assert "DT_0 … DT_147 (50 tables)" in rows[0] and "5 minutes" in rows[0]
    assert "DT_1 … DT_149 (100 tables)" in rows[1] and "1 minute " in rows[1]
    assert out[-1] == "create order: BASE → DT_0 → DT_1 → … 147 more … → DT_149"


def test_validate_warns_about_downstream_without_consumer(run_pipe, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "version: 1\nname: p\nsnowflake: {database: DB, schema: SC, warehouse: WH}\n"
        "tables:\n  T: {columns: {id: number}}\n"
        "dynamic_tables:\n  D:\n    target_lag: downstream\n    sql: SELECT id FROM T\n"
    )
    result = run_pipe("validate", "p.yaml", "--target", "snowflake", cwd=tmp_path)
    assert result.code == 0
    assert result.stderr.startswith("warning: p.yaml:8:17: D: target_lag is downstream but no dynamic table")


# -- plan -------------------------------------------------------------------------------------


def _golden_create_script() -> str:
    lines = (FIXTURES / "render" / "engagement_create.sql").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("--!"))


def _masked(script: str) -> str:
    script = re.sub(r"AS \$\$\n.*?\n\$\$", "AS $$\n<module source>\n$$", script, flags=re.S)
    return re.sub(r"(?<=['(])pipe:[0-9a-f]{16}", "pipe:<fingerprint>", script)


def test_plan_with_a_missing_db_creates_everything(run_pipe, engagement_dir, tmp_path):
    db = tmp_path / "nowhere" / "state.duckdb"
    result = run_pipe("plan", "engagement.yaml", "--db", db, cwd=engagement_dir)
    assert result.code == 0, result.stderr
    actions = re.findall(r"^ (create|alter|replace|unchanged|drop) ", result.stdout, re.M)
    assert actions == ["create"] * (13 + 7)  # and the data metric functions of 7 tables' checks
    assert "20 to create" in result.stdout
    assert "CREATE OR REPLACE DYNAMIC TABLE ENGAGEMENT_DASHBOARD" in result.stdout
    assert not db.exists() and not db.parent.exists()  # plan reads, never creates


def test_plan_out_writes_the_script(run_pipe, engagement_dir, tmp_path):
    out = tmp_path / "plan.sql"
    result = run_pipe("plan", "engagement.yaml", "--db", tmp_path / "none.duckdb", "--out", out, cwd=engagement_dir)
    assert result.code == 0, result.stderr
    assert _masked(out.read_text()) == _golden_create_script()
    assert f"wrote {out}" in result.stderr


def test_plan_piped_is_plain(run_pipe, engagement_dir, tmp_path):
    result = run_pipe("plan", "engagement.yaml", "--db", tmp_path / "none.duckdb", cwd=engagement_dir, subprocess=True)
    assert result.code == 0, result.stderr
    assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr)
    assert "CREATE DATABASE IF NOT EXISTS UNDERSTOOD_DEMO;" in result.stdout.splitlines()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_plan_on_a_terminal_is_highlighted(engagement_dir, tmp_path):
    import pty

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="160")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "plan", "engagement.yaml", "--db", str(tmp_path / "none.duckdb")],
        cwd=engagement_dir, stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    output = b"".join(chunks).decode("utf-8", "replace")
    assert ANSI.search(output)
    assert "DYNAMIC" in output
    # Each function body (the whole generator module) is one line on a terminal.
    module_lines = (engagement_dir / "generators" / "engagement.py").read_text().rstrip().count("\n") + 1
    plain_output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    # The body is the module, a blank line, SEED = … and the handler that takes the seed argument.
    from engine.generators.seeding import seeded_handler

    body_lines = module_lines + 2 + seeded_handler("Members").count("\n")
    assert plain_output.count(f"# … {body_lines} lines: the generator module") == 3
    assert "class Members" not in plain_output


def test_plan_piped_keeps_the_function_bodies(run_pipe, engagement_dir, tmp_path):
    result = run_pipe("plan", "engagement.yaml", "--db", tmp_path / "none.duckdb", cwd=engagement_dir, subprocess=True)
    assert result.stdout.count("class Members:") == 3  # the module, once per function
    assert "lines: the generator module" not in result.stdout


def _tiny(tmp_path, run_pipe):
    import shutil

    shutil.copy(FIXTURES / "cli" / "tiny.yaml", tmp_path / "tiny.yaml")
    assert run_pipe("apply", "tiny.yaml", "--db", tmp_path / "t.duckdb", cwd=tmp_path).code == 0
    return tmp_path / "tiny.yaml"


def test_plan_shows_a_changed_query_as_a_diff_of_the_normalised_sql(run_pipe, tmp_path):
    path = _tiny(tmp_path, run_pipe)
    text = path.read_text()
    # Layout and keyword case only: not a change.
    path.write_text(text.replace("SELECT colour, COUNT(*) AS n FROM ITEMS GROUP BY colour",
                                 "select colour,\n      count(*) as n\n      from ITEMS group by colour"))
    assert "no changes" in run_pipe("plan", "tiny.yaml", "--db", tmp_path / "t.duckdb", cwd=tmp_path).stdout
    path.write_text(text.replace("FROM ITEMS GROUP BY", "FROM ITEMS WHERE id > 1 GROUP BY"))
    result = run_pipe("plan", "tiny.yaml", "--db", tmp_path / "t.duckdb", cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.search(r"^ replace +│ dynamic table │ COLOURS +│ query changed \(diff below\)", result.stdout, re.M)
    start = lines.index("--- COLOURS query on the target")
    assert lines[start + 1] == "+++ COLOURS query in the file"
    diff = lines[start + 2:lines.index("", start)]
    assert diff[0].startswith("@@")
    added = [l for l in diff if l.startswith("+")]
    removed = [l for l in diff if l.startswith("-")]
    # Only the new WHERE clause is added, nothing removed: the query gained one clause.
    assert removed == []
    assert " ".join(l[1:].strip() for l in added) == "WHERE id > 1"


def test_plan_shows_a_changed_generator_module_once_for_all_its_functions(run_pipe, engagement_dir, tmp_path):
    db = tmp_path / "e.duckdb"
    assert run_pipe("apply", "engagement.yaml", "--db", db, cwd=engagement_dir).code == 0
    module = engagement_dir / "generators" / "engagement.py"
    module.write_text(module.read_text().replace("class Members:", "class Members:  # people", 1))
    result = run_pipe("plan", "engagement.yaml", "--db", db, cwd=engagement_dir)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = "--- GEN_MEMBERS, GEN_RESOURCES, GEN_INTERACTIONS module on the target"
    assert lines.count(header) == 1
    start = lines.index(header)
    diff = lines[start + 2:lines.index("", start)]
    assert [l for l in diff if l[:1] in "+-"] == ["-class Members:", "+class Members:  # people"]


def test_plan_json_is_for_tools(run_pipe, tmp_path):
    path = _tiny(tmp_path, run_pipe)
    path.write_text(path.read_text().replace("target_lag: 1 minute", "target_lag: 5 minutes")
                    .replace("GROUP BY colour", "WHERE colour <> 'green' GROUP BY colour"))
    result = run_pipe("plan", "tiny.yaml", "--db", tmp_path / "t.duckdb", "--format", "json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["pipeline"] == "tiny" and record["summary"] == {"replace": 1}
    by_name = {a["name"]: a for a in record["actions"]}
    assert by_name["ITEMS"]["action"] == "unchanged"
    colours = by_name["COLOURS"]
    assert colours["action"] == "replace" and colours["kind"] == "dynamic_table"
    (query,) = [c for c in colours["changes"] if c["property"] == "query"]
    assert "+" in query["diff"] and "<> 'green'" in query["diff"]
    assert colours["statements"][0].startswith("CREATE OR REPLACE DYNAMIC TABLE COLOURS")
    assert "TARGET_LAG = '5 minutes'" in colours["statements"][0]
    assert record["script"].startswith("-- pipe plan: tiny (1 change(s))")


# -- graph and schema -------------------------------------------------------------------------


def test_graph_text(run_pipe):
    result = run_pipe("graph", ENGAGEMENT, cwd=ROOT)
    assert result.code == 0
    assert result.stdout.startswith("engagement: 3 tables → 5 dynamic tables\n")
    assert re.search(r"^ 4 ENGAGEMENT_DASHBOARD +lag 1 minute, FULL +◄ MEMBER_ENGAGEMENT_SUMMARY$", result.stdout, re.M)


@pytest.mark.parametrize(("fmt", "first", "edge"), [
    ("mermaid", "flowchart TD", "    MEMBER_ENGAGEMENT_SUMMARY --> ENGAGEMENT_DASHBOARD"),
    ("dot", 'digraph "engagement" {', '    "MEMBER_ENGAGEMENT_SUMMARY" -> "ENGAGEMENT_DASHBOARD";'),
])
def test_graph_formats(fmt, first, edge, run_pipe, tmp_path):
    result = run_pipe("graph", ENGAGEMENT, "--format", fmt, cwd=ROOT)
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == first and edge in lines
    out = tmp_path / f"dag.{fmt}"
    result = run_pipe("graph", ENGAGEMENT, "-f", fmt, "--out", out, cwd=ROOT)
    assert result.code == 0 and result.stdout == ""
    assert out.read_text().splitlines() == lines


def test_schema(run_pipe):
    result = run_pipe("schema")
    assert result.code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"version", "name", "snowflake", "generators", "tables", "dynamic_tables", "stream"} <= set(schema["properties"])


def test_schema_of_unit_tests_files(run_pipe):
    """``pipe schema --tests`` accepts a unit tests file the loader accepts, and rejects an unknown key."""
    import jsonschema
    import yaml

    result = run_pipe("schema", "--tests")
    assert result.code == 0
    schema = json.loads(result.stdout)
    tests_file = yaml.safe_load((ROOT / "tests" / "fixtures" / "checks" / "test_files" / "lines.yaml").read_text())
    jsonschema.validate(tests_file, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**tests_file, "unknown_key": 1}, schema)


# -- habits: version, completion, query input, lint warnings ------------------------------------


def test_version_is_the_installed_distributions(run_pipe):
    from importlib.metadata import version

    result = run_pipe("--version", subprocess=True)
    assert result.code == 0
    assert result.stdout == f"pipe {version('pipe')}\n"


def test_shell_completion_is_offered_and_completes_commands_and_options(run_pipe):
    result = run_pipe("--help", subprocess=True)
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    env = {**os.environ, "_PIPE_COMPLETE": "complete_bash", "COMP_WORDS": "pipe va", "COMP_CWORD": "1"}
    proc = subprocess.run([sys.executable, "-m", "engine.cli"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["validate"]
    env.update(COMP_WORDS="pipe query x.yaml --for", COMP_CWORD="3")
    proc = subprocess.run([sys.executable, "-m", "engine.cli"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["--format"]


@pytest.fixture
def tiny_db(tmp_path, run_pipe):
    """tests/fixtures/cli/tiny.yaml applied to a fresh database, with three ITEMS rows."""
    import shutil

    shutil.copy(FIXTURES / "cli" / "tiny.yaml", tmp_path / "tiny.yaml")
    db = tmp_path / "tiny.duckdb"
    assert run_pipe("apply", "tiny.yaml", "--db", db, cwd=tmp_path).code == 0
    insert = "INSERT INTO ITEMS VALUES (1, 'red'), (2, 'red'), (3, 'blue')"
    assert run_pipe("query", "tiny.yaml", insert, "--db", db, cwd=tmp_path).code == 0
    return tmp_path, db


def test_query_takes_sql_that_starts_with_a_comment(tiny_db, run_pipe):
    folder, db = tiny_db
    sql = "-- how many red items?\nSELECT COUNT(*) AS n FROM ITEMS WHERE colour = 'red'"
    result = run_pipe("query", "tiny.yaml", sql, "--db", db, "--format", "csv", cwd=folder, subprocess=True)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["N", "2"]


def test_query_reads_sql_from_a_file_and_from_stdin(tiny_db, run_pipe):
    folder, db = tiny_db
    (folder / "q.sql").write_text("-- all of them\nSELECT COUNT(*) AS n FROM ITEMS;\n")
    result = run_pipe("query", "tiny.yaml", "-f", "q.sql", "--db", db, "--format", "csv", cwd=folder)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["N", "3"]
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "query", "tiny.yaml", "-", "--db", str(db), "--format", "csv"],
        input="SELECT id FROM ITEMS WHERE colour = 'blue'", cwd=folder, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ID", "3"]


@pytest.mark.parametrize(("args", "message"), [
    ((), "error: pipe query needs the SQL once (give it as an argument"),
    (("SELECT 1", "-f", "q.sql"), "error: pipe query needs the SQL once"),
    (("-f", "missing.sql"), "error: cannot read missing.sql: No such file or directory (check the path)"),
    (("   ",), "error: the SQL is empty"),
])
def test_query_without_one_sql_says_how_to_give_it(args, message, run_pipe, tmp_path):
    (tmp_path / "q.sql").write_text("SELECT 1")
    (tmp_path / "tiny.yaml").write_text((FIXTURES / "cli" / "tiny.yaml").read_text())
    result = run_pipe("query", "tiny.yaml", *args, "--db", tmp_path / "x.duckdb", cwd=tmp_path)
    assert result.code == 1
    assert len(result.error_lines) == 1 and result.error_lines[0].startswith(message)


def test_lint_warnings_are_counted_outside_validate_and_plan(run_pipe, engagement_dir, tmp_path):
    db = tmp_path / "e.duckdb"
    plan = run_pipe("plan", "engagement.yaml", "--db", db, cwd=engagement_dir)
    assert len([l for l in plan.stderr.splitlines() if l.startswith("warning: ")]) == 2
    graph = run_pipe("graph", "engagement.yaml", cwd=engagement_dir)
    assert graph.stderr.splitlines() == ["2 lint warnings (pipe validate shows them)"]
    status = run_pipe("status", "engagement.yaml", "--db", db, cwd=engagement_dir)
    assert "2 lint warnings (pipe validate shows them)" in status.stderr.splitlines()
    assert "warning: " not in status.stderr


# -- --memory-limit -------------------------------------------------------------------------------


def test_memory_limit_option_holds_duckdb_to_it(run_pipe, tmp_path, monkeypatch):
    """--memory-limit reaches DuckDB: the connection pipe opens reports the limit it was given."""
    import shutil

    from engine.backends.local import store

    seen = []
    original = store._limit_memory

    def spy(con, path, memory_limit):
        original(con, path, memory_limit)
        seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    monkeypatch.setattr(store, "_limit_memory", spy)
    monkeypatch.delenv("PIPE_MEMORY_LIMIT", raising=False)
    shutil.copy(FIXTURES / "cli" / "tiny.yaml", tmp_path / "tiny.yaml")
    result = run_pipe("apply", "tiny.yaml", "--db", tmp_path / "t.duckdb", "--memory-limit", "300MB", cwd=tmp_path)
    assert result.code == 0, result.stderr
    # DuckDB reports the limit in its own units: 300MB is 286.1 MiB.
    assert seen and all(value.startswith("286") for value in seen), seen


def test_memory_limit_that_is_not_a_size_is_one_line(run_pipe, tmp_path):
    import shutil

    shutil.copy(FIXTURES / "cli" / "tiny.yaml", tmp_path / "tiny.yaml")
    result = run_pipe("apply", "tiny.yaml", "--db", tmp_path / "t.duckdb", "--memory-limit", "lots", cwd=tmp_path)
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and "memory limit 'lots' is not a size" in result.stderr
    assert "4GB or 500MB" in result.stderr


def test_query_computes_sha2_512_on_the_local_database(run_pipe, tmp_path):
    """SHA2 with 512 bits runs through the local database's connection (FIPS 180-2, appendix C.1: "abc")."""
    path = _tiny(tmp_path, run_pipe)
    result = run_pipe("query", path.name, "SELECT SHA2('abc', 512) AS H", "--db", tmp_path / "t.duckdb",
                      "--format", "csv", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    )


def test_apply_shows_sinks_whose_names_must_be_quoted(run_pipe, tmp_path):
    """The sinks pipe apply prints are read by their names as Snowflake writes them ("Ventes par café")."""
    import shutil

    shutil.copy(FIXTURES / "names" / "quoted.yaml", tmp_path / "quoted.yaml")
    db = tmp_path / "q.duckdb"
    assert run_pipe("apply", "quoted.yaml", "--db", db, cwd=tmp_path).code == 0
    run_pipe("query", "quoted.yaml", """INSERT INTO "Café Orders" VALUES (1, 'noir', 2.50, 'x'), (2, 'noir', 1.25, 'y')""",
             "--db", db, cwd=tmp_path)
    result = run_pipe("apply", "quoted.yaml", "--db", db, cwd=tmp_path)
    assert result.code == 0, result.stderr
    result = run_pipe("refresh", "quoted.yaml", "--db", db, cwd=tmp_path)
    assert result.code == 0, result.stderr
    shown = run_pipe("query", "quoted.yaml", 'SELECT "café", "Nombre", TOTAL FROM "Ventes par café"', "--db", db,
                     "--format", "csv", cwd=tmp_path)
    assert shown.stdout.splitlines() == ["café,Nombre,TOTAL", "noir,2,3.75"]
