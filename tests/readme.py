"""The README's examples, run: every ``$ command`` block is executed in order, in a fresh directory
holding a copy of ``pipelines/`` (so against a fresh database), and its output compared with the
output the README shows, modulo timestamps, timings and the directory's path.

    python tests/readme.py            # check: print a diff per mismatch, exit 1 if any
    python tests/readme.py --update   # rewrite the outputs shown in README.md from a fresh run

Conventions in README.md:

* A fenced block whose first line starts with ``$ `` is a command block: each ``$ `` line is a
  command (run by bash, with ``pipe`` and ``python`` meaning this checkout's), continued on the
  next lines while a quote is open; the lines up to the next ``$ `` are its output (stdout and
  stderr, as a terminal shows them).
* A line ``…`` in an output stands for any number of lines, and ``…`` inside a line for any text;
  ``--update`` keeps the lines around each ``…`` and refreshes them.
* ``$ cat FILE`` shows a file the next commands use: the runner writes the shown text to FILE.
* ``<!-- readme: mask REGEX -->`` before a block also masks what REGEX matches in that block
  (e.g. a duration in seconds that a query computes).

Every ``pipe …`` written in the README's text, tables and other code blocks is parsed by the CLI
(metavariables such as FILE and NAME filled in), so a command the CLI would reject fails the test.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ELLIPSIS = "…"
WIDTH = "200"  # the terminal width the outputs are shown at

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*readme:\s*mask\s+(.+?)\s*-->\s*$")
_MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z)?"), "<timestamp>"),
    (re.compile(r"(?<![\w.])\d+(\.\d+)? ?(ms|s)\b"), "<time>"),
]


@dataclass
class Step:
    """One command of a block and the output the README shows for it."""

    command: str
    expected: list[str]
    actual: list[str] | None = None


@dataclass
class Block:
    """A fenced command block: where it is in the README, its indentation and its steps."""

    start: int  # index of the line after the opening fence
    end: int  # index of the closing fence
    indent: str
    steps: list[Step]
    masks: list[re.Pattern] = field(default_factory=list)


# -- reading the README ---------------------------------------------------------------------------


def fenced_blocks(lines: list[str]) -> list[tuple[int, int, str, str, list[str]]]:
    """Every fenced block: (first body line, closing fence line, indent, info string, directives)."""
    blocks, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, info = match.group(1), match.group(2)
        directives = []
        j = i - 1
        while j >= 0 and (not lines[j].strip() or _DIRECTIVE.match(lines[j])):
            if _DIRECTIVE.match(lines[j]):
                directives.append(_DIRECTIVE.match(lines[j]).group(1))
            j -= 1
        end = i + 1
        while end < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[end]):
            end += 1
        blocks.append((i + 1, end, indent, info, directives))
        i = end + 1
    return blocks


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def command_blocks(lines: list[str]) -> list[Block]:
    """The README's command blocks, in order."""
    result = []
    for start, end, indent, _info, directives in fenced_blocks(lines):
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[start:end]]
        if not body or not body[0].startswith("$ "):
            continue
        steps: list[Step] = []
        i = 0
        while i < len(body):
            command = body[i][2:]
            while not _complete(command) and i + 1 < len(body):
                i += 1
                command += "\n" + body[i]
            i += 1
            expected = []
            while i < len(body) and not body[i].startswith("$ "):
                expected.append(body[i])
                i += 1
            while expected and not expected[-1].strip():
                expected.pop()  # the blank line that separates two commands
            steps.append(Step(command, expected))
        result.append(Block(start, end, indent, steps, [re.compile(d) for d in directives]))
    return result


# -- comparing ------------------------------------------------------------------------------------


def normalise(line: str, workdir: str = "", masks: list[re.Pattern] = ()) -> str:
    """A line as compared: paths, timestamps, timings and masks replaced, spacing and table
    rules collapsed (column widths follow the masked values)."""
    if workdir:
        line = line.replace(workdir + os.sep, "").replace(workdir, ".")
    for pattern in masks:
        line = pattern.sub("<masked>", line)
    for pattern, replacement in _MASKS:
        line = pattern.sub(replacement, line)
    line = re.sub(r"━+", "━", re.sub(r"─+", "─", line))
    return " ".join(line.split())


def _line_matches(expected: str, actual: str) -> bool:
    if ELLIPSIS not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split(ELLIPSIS))
    return re.fullmatch(pattern, actual) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the (normalised) actual lines match the expected ones, where a line ``…`` is any
    number of lines."""
    # can[i][j]: expected[i:] matches actual[j:]
    n, m = len(expected), len(actual)
    can = [[False] * (m + 1) for _ in range(n + 1)]
    can[n][m] = True
    for i in range(n - 1, -1, -1):
        for j in range(m, -1, -1):
            if expected[i] == ELLIPSIS:
                can[i][j] = can[i + 1][j] or (j < m and can[i][j + 1])
            else:
                can[i][j] = j < m and _line_matches(expected[i], actual[j]) and can[i + 1][j + 1]
    return can[0][0]


def refreshed(expected: list[str], actual: list[str], key=lambda line: line) -> list[str]:
    """The output to show from now on: ``actual``, shortened where ``expected`` has ``…`` lines.

    The lines before the first ``…`` and after the last keep their number; a chunk between two is
    looked for by its first line and keeps its length; a chunk not found any more is dropped.
    """
    if ELLIPSIS not in expected:
        return actual
    chunks, current = [], []
    for line in expected:
        if line.strip() == ELLIPSIS:
            chunks.append(current)
            current = []
        else:
            current.append(line)
    chunks.append(current)
    head, *middle, tail = chunks
    result = actual[: len(head)]
    position = len(head)
    tail_start = max(position, len(actual) - len(tail))
    for chunk in middle:
        result.append(ELLIPSIS)
        if not chunk:
            continue
        first = key(chunk[0])
        found = next(
            (k for k in range(position, tail_start) if _line_matches(first, key(actual[k]))), None
        )
        if found is not None:
            result.extend(actual[found : min(found + len(chunk), tail_start)])
            position = found + len(chunk)
    if tail_start > position or middle:
        result.append(ELLIPSIS)
    result.extend(actual[tail_start:] if tail else [])
    # Two ellipses in a row say no more than one.
    return [line for k, line in enumerate(result) if not (line == ELLIPSIS and k and result[k - 1] == ELLIPSIS)]


# -- running --------------------------------------------------------------------------------------


def _shims(folder: Path) -> dict[str, str]:
    """An environment where ``pipe`` and ``python`` are this checkout's."""
    folder.mkdir()
    (folder / "pipe").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m engine.cli "$@"\n')
    (folder / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for shim in folder.iterdir():
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    env.update(
        PATH=f"{folder}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        PYTHONUNBUFFERED="1",
        COLUMNS=WIDTH,
    )
    return env


def run_blocks(blocks: list[Block], workdir: Path) -> None:
    """Run every step in ``workdir`` (holding a copy of pipelines/), filling in ``actual``."""
    shutil.copytree(ROOT / "pipelines", workdir / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    env = _shims(workdir.parent / "bin")
    for block in blocks:
        for step in block.steps:
            shown = re.fullmatch(r"cat (\S+)", step.command.strip())
            if shown:
                # The README shows a file the next commands use: write it as shown.
                (workdir / shown.group(1)).write_text("\n".join(step.expected) + "\n", encoding="utf-8")
            proc = subprocess.run(
                ["bash", "-c", step.command], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
            )
            step.actual = proc.stdout.rstrip("\n").splitlines()


def compare(blocks: list[Block], workdir: str) -> list[str]:
    """A report of each step whose output differs from the README's, empty when all match."""
    problems = []
    for block in blocks:
        for step in block.steps:
            key = lambda line: normalise(line, workdir, block.masks)  # noqa: E731
            expected = [ELLIPSIS if line.strip() == ELLIPSIS else key(line) for line in step.expected]
            actual = [key(line) for line in step.actual or []]
            if not matches(expected, actual):
                import difflib

                diff = difflib.unified_diff(step.expected, step.actual or [], "README", "actual", lineterm="")
                problems.append(f"README.md:{block.start}: $ {step.command}\n" + "\n".join(diff))
    return problems


def update(lines: list[str], blocks: list[Block], workdir: str) -> list[str]:
    """README lines with each block's outputs replaced by what the commands print now."""
    new = list(lines)
    for block in reversed(blocks):
        body = []
        for step in block.steps:
            if body:
                body.append("")
            command_lines = step.command.split("\n")
            body.append(block.indent + "$ " + command_lines[0])
            body += [block.indent + line if line else line for line in command_lines[1:]]
            key = lambda line: normalise(line, workdir, block.masks)  # noqa: E731
            expected = [ELLIPSIS if line.strip() == ELLIPSIS else key(line) for line in step.expected]
            if matches(expected, [key(line) for line in step.actual or []]):
                output = step.expected  # still true: keep it as written
            else:
                output = refreshed(step.expected, [l.replace(workdir + os.sep, "") for l in step.actual or []], key)
            body += [(block.indent + line).rstrip() if line else "" for line in output]
        new[block.start : block.end] = body
    return new


# -- commands written in the text -----------------------------------------------------------------

_SPAN = re.compile(r"`(pipe [a-z][^`]*)`")
_PLACEHOLDERS = [
    (r"\bFILE\b", "x.yaml"), (r"\bD\b", "d"), (r"\bF\.sql\b", "f.sql"), (r"\bF\b", "f.txt"), (r"\bNAME…?", "X"),
    (r"\bN\b", "1"), (r"\bS\b", "1"), (r'"SQL"', '"SELECT 1"'),
]


def written_commands(text: str) -> list[str]:
    """Every ``pipe …`` of the README outside command blocks: in code spans (which may wrap onto
    the next line) and in other blocks."""
    found, prose = [], []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            found += [p.strip() for p in re.findall(r"(?:^|&&|;)\s*(pipe [^&;#]+)", line.strip())]
        else:
            prose.append(line)
    found += [" ".join(span.split()) for span in _SPAN.findall("\n".join(prose))]
    return found


def as_arguments(command: str) -> list[str]:
    """A written command as arguments, its metavariables filled in: ``[--format a\\|b]`` gives
    ``--format a``."""
    text = command.replace("\\|", "|")
    text = re.sub(r"([^\s|\[]+)(\|[^\s|\]]+)+", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]", r"\1", text)
    for pattern, value in _PLACEHOLDERS:
        text = re.sub(pattern, value, text)
    return shlex.split(text)[1:]


def parse_error(arguments: list[str]) -> str | None:
    """Why the CLI would reject ``pipe ARGUMENTS`` before running anything, or None."""
    import typer
    import typer.main

    from engine.cli import app

    from engine.cli.entry import usage_error_class as _usage_error_class

    ClickException = _usage_error_class()
    Exit = typer.Exit

    group = typer.main.get_command(app)
    if len(arguments) == 1 and not arguments[0].startswith("-"):
        # `pipe status` in a sentence names a command: it must exist.
        return None if arguments[0] in group.commands else f"no command {arguments[0]}"
    try:
        context = group.make_context("pipe", list(arguments), resilient_parsing=False)
        if not arguments or arguments[0].startswith("-"):
            return None
        protected = getattr(context, "_protected_args", None) or getattr(context, "protected_args", [])
        name, command, rest = group.resolve_command(context, [*protected, *context.args])
        command.make_context(name, rest, parent=context)
    except Exit:
        return None
    except ClickException as exc:
        return exc.format_message()
    return None


# -- the command line -----------------------------------------------------------------------------


def check(update_readme: bool = False, readme: Path = README) -> list[str]:
    """Run the README; return its mismatches (rewriting them first with ``update_readme``)."""
    text = readme.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = command_blocks(lines)
    with tempfile.TemporaryDirectory(prefix="pipe-readme-") as folder:
        workdir = Path(folder) / "work"
        workdir.mkdir()
        run_blocks(blocks, workdir)
        if update_readme:
            readme.write_text("\n".join(update(lines, blocks, str(workdir))) + "\n", encoding="utf-8")
            return []
        return compare(blocks, str(workdir))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite README.md's outputs from a fresh run")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    problems = [f"README.md: {c}: {e}" for c in written_commands(README.read_text()) if (e := parse_error(as_arguments(c)))]
    problems += check(update_readme=options.update)
    for problem in problems:
        print(problem, end="\n\n")
    if options.update and not problems:
        print("README.md updated: review the change with git diff")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
