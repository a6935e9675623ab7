"""The README cannot drift: its examples run and print what it shows, every ``pipe …`` it writes is a
command the CLI accepts, and it links only inside the repository (see tests/readme.py)."""

from __future__ import annotations

import re

import pytest

import readme
from helpers import ROOT

TEXT = readme.README.read_text(encoding="utf-8")


def test_every_command_block_prints_what_the_readme_shows():
    problems = readme.check()
    assert not problems, (
        "README.md no longer matches what its commands print; if the change is intended, run\n"
        "python tests/readme.py --update and review the diff\n\n" + "\n\n".join(problems)
    )


@pytest.mark.parametrize("command", sorted(set(readme.written_commands(TEXT))))
def test_every_command_written_in_the_readme_is_accepted_by_the_cli(command):
    assert readme.parse_error(readme.as_arguments(command)) is None


def _notebook_markdown() -> str:
    import json

    notebook = json.loads((ROOT / "notebooks" / "engagement_demo.ipynb").read_text(encoding="utf-8"))
    return "\n\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")


@pytest.mark.parametrize("command", sorted(set(readme.written_commands(_notebook_markdown()))))
def test_every_command_written_in_the_notebook_is_accepted_by_the_cli(command):
    assert readme.parse_error(readme.as_arguments(command)) is None


def test_the_readme_links_only_inside_the_repository():
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", TEXT, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", TEXT):
        if target.startswith("#"):
            assert target[1:] in anchors, f"no heading for the link {target}"
        else:
            assert "://" not in target and not target.startswith(".."), f"link outside the repository: {target}"
            assert (ROOT / target.split("#")[0]).exists(), f"link to a missing file: {target}"
    prose = re.sub(r"```.*?```", "", TEXT, flags=re.S)
    # The only address is the local page pipe ui serves.
    assert set(re.findall(r"https?://[^\s`)]+", prose)) <= {"http://127.0.0.1:8765/"}
    assert "../" not in prose


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- the runner itself ----------------------------------------------------------------------------


def test_blocks_are_read_as_commands_and_outputs():
    lines = [
        "Intro", "", "   <!-- readme: mask \\d+ apples -->", "   ```", "   $ pipe query f.yaml \"SELECT 1,",
        "       2\"", "   one", "", "   $ cat x.txt", "   hello", "   ```", "", "```bash", "pipe apply f.yaml", "```",
    ]
    (block,) = readme.command_blocks(lines)
    assert (block.start, block.end, block.indent) == (4, 10, "   ")
    assert [(s.command, s.expected) for s in block.steps] == [
        ('pipe query f.yaml "SELECT 1,\n    2"', ["one"]),
        ("cat x.txt", ["hello"]),
    ]
    assert [m.pattern for m in block.masks] == ["\\d+ apples"]


def test_timestamps_timings_paths_and_column_widths_do_not_count():
    def same(a, b, **kw):
        return readme.normalise(a, **kw) == readme.normalise(b, **kw)

    assert same(" X │ 2026-11-26 23:43:04+00:00 │ 0.56s ", " X   │ 2027-01-02 01:02:03+00:00 │ 12.10s")
    assert same("+75/-0 186 ms", "+75/-0 1216 ms")
    assert same("wrote /tmp/w/dag.html", "wrote dag.html", workdir="/tmp/w")
    assert same("━━━╇━━", "━━━━━━━╇━")
    assert not same("+75/-0 186 ms", "+72/-0 186 ms")  # data is compared
    assert not same("now 10,100", "now 10100")


def test_an_ellipsis_line_stands_for_any_lines_and_inside_a_line_for_any_text():
    actual = ["a", "b", "c", "d", "COMMENT = 'pipe:12ab'"]
    assert readme.matches(["a", "…", "d", "COMMENT = 'pipe:…'"], actual)
    assert readme.matches(["…"], actual) and readme.matches(["a", "b", "c", "…", "d", "…"], actual)
    assert not readme.matches(["a", "…", "c"], actual)  # the last line must match too
    assert not readme.matches(["b", "…"], actual)


def test_update_keeps_the_shape_of_an_abbreviated_output():
    actual = [f"line {i}" for i in range(1, 21)]
    expected = ["old 1", "old 2", "…", "line 9", "old", "…", "old 19", "old 20"]
    assert readme.refreshed(expected, actual) == [
        "line 1", "line 2", "…", "line 9", "line 10", "…", "line 19", "line 20",
    ]
    assert readme.refreshed(["a", "b"], actual) == actual  # nothing abbreviated: all of it


def test_written_commands_are_filled_in_before_parsing():
    assert readme.as_arguments('pipe graph FILE [--format text\\|mermaid] [--out F]') == [
        "graph", "x.yaml", "--format", "text", "--out", "f.txt",
    ]
    assert readme.parse_error(["graph", "--format", "html", "--out", "dag.html"]) == "Missing argument 'file'."
    assert readme.parse_error(["nosuch"]) == "no command nosuch"
