"""Rendered statements read back from pipe's cache are the statements Jinja renders, and any change
of template, input or the code behind an input renders again."""

from __future__ import annotations

import shutil

import pytest

from engine.checks.snowflake import Binding
from engine.spec.model import SnowflakeTarget
from engine.sql import render as rendering
from engine.sql.render import render

from .test_render import ALL_PIPELINES, every_statement


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PIPE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def jinja_calls(monkeypatch):
    """The templates Jinja renders (a render read from the cache is not one)."""
    calls: list[str] = []
    real = rendering._render

    def counted(template, context):
        calls.append(template)
        return real(template, context)

    monkeypatch.setattr(rendering, "_render", counted)
    return calls


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: p.name)
def test_statements_read_back_are_those_rendered(path, cache_dir, jinja_calls, monkeypatch):
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    uncached = every_statement(path)
    rendered = len(jinja_calls)
    monkeypatch.setenv("PIPE_CACHE_DIR", str(cache_dir))
    assert every_statement(path) == uncached  # first run: rendered and kept
    kept = len(jinja_calls)
    assert rendered < kept <= 2 * rendered  # a statement repeated within the run is read back
    assert every_statement(path) == uncached  # second run: read back, Jinja not called
    assert len(jinja_calls) == kept
    assert any((cache_dir / "rendered").iterdir())


def test_another_input_is_rendered_anew(cache_dir, jinja_calls):
    assert render("drop_table", name="MEMBERS") == "DROP TABLE IF EXISTS MEMBERS"
    assert render("drop_table", name="Café") == 'DROP TABLE IF EXISTS "Café"'
    target = SnowflakeTarget(database="DB", schema="SC", warehouse="WH")
    other = SnowflakeTarget(database="DB", schema="OTHER", warehouse="WH")
    assert render("use_schema", target=target) == "USE SCHEMA DB.SC"
    assert render("use_schema", target=other) == "USE SCHEMA DB.OTHER"
    assert render("drop_table", name="MEMBERS") == "DROP TABLE IF EXISTS MEMBERS"
    assert jinja_calls == ["drop_table", "drop_table", "use_schema", "use_schema"]


def test_an_edited_template_is_rendered_anew(cache_dir, jinja_calls, tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    shutil.copytree(rendering.TEMPLATES, templates)
    monkeypatch.setattr(rendering, "TEMPLATES", templates)
    for cached in (rendering._environment, rendering._template_digest):
        cached.cache_clear()
    try:
        assert render("drop_table", name="T") == "DROP TABLE IF EXISTS T"
        path = templates / "drop_table.sql.j2"
        path.write_text(path.read_text(encoding="utf-8").replace("IF EXISTS ", ""), encoding="utf-8")
        rendering._template_digest.cache_clear()
        assert render("drop_table", name="T") == "DROP TABLE T"
        assert jinja_calls == ["drop_table", "drop_table"]
    finally:
        rendering._environment.cache_clear()
        rendering._template_digest.cache_clear()


def test_an_input_without_a_readable_value_is_rendered_every_time(cache_dir, jinja_calls):
    class Opaque:  # its repr is its address, not its value
        def __str__(self) -> str:
            return "T"

    for _ in range(2):
        assert render("drop_table", name=Opaque()) == "DROP TABLE IF EXISTS T"
    assert jinja_calls == ["drop_table", "drop_table"]
    assert not (cache_dir / "rendered").exists()


def test_the_key_holds_the_code_of_the_inputs_classes():
    binding = Binding(table="T", check="c", function="F", arguments="(x)", expression="VALUE = 0")
    context = {"binding": binding, "names": ["A", "B"]}
    assert rendering._modules(context) == {"builtins", "engine.checks.snowflake"}
    assert rendering._module_digest("builtins") == ""
    assert rendering._module_digest("engine.checks.snowflake") != rendering._module_digest("engine.spec.model")
