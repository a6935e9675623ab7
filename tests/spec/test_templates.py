"""Templates that are one plain lookup are rendered without Jinja, exactly as Jinja renders them;
anything else goes to Jinja."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.spec.loader import _lookup, render_template
from engine.errors import Location, SpecError

CONTEXT = {"records": 100, "rate": 0.5, "big": 1e20, "flag": True, "name": "x y", "vars": {"rows": 7, "items": 3, "nested": {"k": "v"}}}
JINJA = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@pytest.mark.parametrize(
    "text",
    ["{{ records }}", "{{records}}", "{{ rate }}", "{{ big }}", "{{ flag }}", "{{ name }}", "{{ vars.rows }}",
     "{{ vars.nested.k }}", "SELECT 1\n", "plain # text", ""],
)
def test_plain_lookups_render_as_jinja_renders_them(text):
    assert _lookup(text, CONTEXT) == JINJA.from_string(text).render(**CONTEXT)


@pytest.mark.parametrize(
    "text",
    ["{{ vars.items }}",  # a dict method to Jinja, not the key
     "{{ vars.nested }}", "{{ missing }}", "{{ vars.missing }}", "{{ records * 2 }}", "x {{ records }}",
     "{{ _private }}", "{% if flag %}1{% endif %}"],
)
def test_anything_else_is_left_to_jinja(text):
    assert _lookup(text, CONTEXT) is None


def test_an_undefined_name_is_still_jinja_s_error():
    with pytest.raises(SpecError, match="undefined template value"):
        render_template("{{ vars.missing }}", CONTEXT, Location("f.yaml", 1, 1))
