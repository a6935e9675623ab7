"""Safe YAML with positions: values as plain Python, every path located, unsafe input refused."""

from __future__ import annotations

import pytest

from engine.errors import SpecError
from engine.spec.yamlsource import MAX_VALUES, parse_yaml

TEXT = """\
name: demo
tables:
  MEMBERS: {generator: gen, args: [10, 'x']}
sql: |
  SELECT 1
  FROM t
inline: SELECT 2 FROM u
"""


def test_values_are_plain_python():
    data, _ = parse_yaml(TEXT)
    assert data == {
        "name": "demo",
        "tables": {"MEMBERS": {"generator": "gen", "args": [10, "x"]}},
        "sql": "SELECT 1\nFROM t\n",
        "inline": "SELECT 2 FROM u",
    }


def test_positions_of_values_and_keys():
    _, source = parse_yaml(TEXT, "p.yaml")
    # line 3 is "  MEMBERS: {generator: gen, args: [10, 'x']}"
    assert source.positions[("tables", "MEMBERS", "args", 1)] == (3, 40)
    assert source.key_positions[("tables", "MEMBERS")] == (3, 3)
    assert source.positions[("tables", "MEMBERS")] == (3, 12)
    loc = source.locate(("tables", "MEMBERS", "generator"))
    assert (loc.file, loc.line, loc.column) == ("p.yaml", 3, 24)


def test_locate_falls_back_to_the_nearest_ancestor():
    _, source = parse_yaml(TEXT, "p.yaml")
    loc = source.locate(("tables", "MEMBERS", "order_by", 0))
    assert (loc.line, loc.column) == (3, 12)
    assert str(source.locate(("nothing", "here"))) == "p.yaml:1:1"


def test_locate_key_points_at_the_key():
    _, source = parse_yaml(TEXT, "p.yaml")
    loc = source.locate(("tables", "MEMBERS"), key=True)
    assert (loc.line, loc.column) == (3, 3)


def test_position_inside_a_block_scalar():
    _, source = parse_yaml(TEXT, "p.yaml")
    # SQL line 2 ("FROM t") is file line 6; its column 6 ("t") is file column 8 (2 spaces of indent).
    assert source.text_position(("sql",), 2, 6) == (6, 8)


def test_position_inside_an_inline_scalar():
    _, source = parse_yaml(TEXT, "p.yaml")
    # "inline: SELECT 2 FROM u": the value starts at column 9; its column 15 ("u") is file column 23.
    assert source.text_position(("inline",), 1, 15) == (7, 23)


@pytest.mark.parametrize("quote", ["'", '"'])
def test_position_inside_a_quoted_scalar(quote):
    # The node starts at the opening quote (column 6); the text's column 1 is column 7.
    _, source = parse_yaml(f"sql: {quote}SELECT x FROM t{quote}\n")
    assert source.text_position(("sql",), 1, 15) == (1, 21)


def test_resolve_names_matches_case_insensitively():
    _, source = parse_yaml(TEXT)
    assert source.resolve_names(("tables", "members", "args")) == ("tables", "MEMBERS", "args")


def test_duplicate_keys_are_rejected_with_both_lines():
    with pytest.raises(SpecError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n", "d.yaml")
    assert str(info.value).startswith("d.yaml:3:1: duplicate key 'a' (first defined on line 1)")


def test_duplicate_keys_in_nested_flow_mapping():
    with pytest.raises(SpecError, match=r"d.yaml:1:11: duplicate key 'x'"):
        parse_yaml("t: {x: 1, x: 3}\n", "d.yaml")


def test_syntax_error_points_where_the_unclosed_construct_opens():
    # The '[' opens on line 1, column 4; the error is only noticed at 'b:' on line 2.
    with pytest.raises(SpecError) as info:
        parse_yaml("a: [1, 2\nb: 3\n", "s.yaml")
    assert info.value.location.file == "s.yaml"
    assert (info.value.location.line, info.value.location.column) == (1, 4)
    assert "invalid YAML" in info.value.message and "line 2, column 2" in info.value.message


def test_unterminated_quote_points_at_the_opening_quote():
    with pytest.raises(SpecError) as info:
        parse_yaml("a: 1\nb: 'open\nc: 2\n", "q.yaml")
    assert (info.value.location.line, info.value.location.column) == (2, 4)
    assert "quoted string" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['echo hi']\n",
        "a: !!python/object:collections.OrderedDict {x: 1}\n",
        "a: !!python/name:os.system\n",
        "a: !!python/tuple [1, 2]\n",
        "a: !!set {x, y}\n",
        "a: !!omap [{x: 1}]\n",
        "a: !custom value\n",
        "a: !custom [1]\n",
    ],
)
def test_only_plain_yaml_is_accepted(text):
    with pytest.raises(SpecError, match="unsupported YAML"):
        parse_yaml(text)


def test_standard_scalar_tags_are_fine():
    data, _ = parse_yaml("a: !!str 10\nb: !!int '7'\nc: 2024-01-02\n")
    assert data["a"] == "10" and data["b"] == 7 and str(data["c"]) == "2024-01-02"


def test_merge_keys_are_refused():
    with pytest.raises(SpecError, match=r"m.yaml:2:11: YAML merge keys"):
        parse_yaml("a: &x {k: 1}\nb: {j: 2, <<: *x}\n", "m.yaml")


def test_plain_aliases_still_work():
    data, _ = parse_yaml("a: &x [1, 2]\nb: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_alias_bombs_are_stopped():
    lines = ["l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    for i in range(1, 7):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    with pytest.raises(SpecError, match=f"more than {MAX_VALUES:,} values"):
        parse_yaml("\n".join(lines))


def test_empty_document_is_none():
    assert parse_yaml("")[0] is None
    assert parse_yaml("# only a comment\n")[0] is None


def test_mapping_keys_must_be_plain():
    with pytest.raises(SpecError, match="a mapping key must be a plain value"):
        parse_yaml("? [a, b]\n: 1\n")
