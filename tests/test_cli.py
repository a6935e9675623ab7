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
    return re.sub(r"'pipe:[0-9a-f]{16}", "'pipe:<fingerprint>", script)


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
