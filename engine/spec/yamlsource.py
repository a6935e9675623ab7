"""Safe YAML reading that remembers where every value came from.

PyYAML's plain loaders silently keep the last of two equal keys and forget positions once
values are built. Here the document is composed into nodes with the safe resolver, then
turned into plain Python values while recording a ``(line, column)`` for every path, and
duplicate keys are rejected.

A file parsed before is read back from pipe's cache (:mod:`engine.sql.cache`) when its values are
plain JSON values, without importing or running the YAML parser; errors are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import names
from engine.errors import Location, SpecError

if TYPE_CHECKING:
    import yaml

PathKey = tuple[Any, ...]



def _compose(text: str) -> Any:
    """The document's node tree, read by libyaml when PyYAML was built with it (the same nodes
    and marks, several times faster); a file it refuses is read again by the pure-Python loader,
    whose error messages the errors below are written for."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


@dataclass
class SourceMap:
    """Positions of the values of one YAML file, by path (``("tables", "MEMBERS", "args", 0)``)."""

    file: str
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    block_scalars: set[PathKey] = field(default_factory=set)
    quoted_scalars: set[PathKey] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def locate(self, path: PathKey, *, key: bool = False, table: str | None = None) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        table_map = self.key_positions if key else self.positions
        while True:
            if path in table_map:
                line, col = table_map[path]
                return Location(self.file, line, col, table)
            if key and path in self.positions:
                line, col = self.positions[path]
                return Location(self.file, line, col, table)
            if not path:
                return Location(self.file, 1, 1, table)
            path = path[:-1]

    def resolve_names(self, path: PathKey) -> PathKey:
        """``path`` with each name spelled as in the file (names are case-insensitive)."""
        resolved: list[Any] = []
        for part in path:
            candidate = (*resolved, part)
            if candidate not in self.positions and isinstance(part, str):
                for known in self.key_positions:
                    if (
                        len(known) == len(candidate)
                        and known[:-1] == tuple(resolved)
                        and names.key(str(known[-1])) == names.key(part)
                    ):
                        candidate = known
                        break
            resolved = list(candidate)
        return tuple(resolved)

    def text_position(self, path: PathKey, text_line: int, text_column: int | None) -> tuple[int, int | None] | None:
        """The file line and column of a position (1-based) inside the string at ``path``."""
        if path not in self.positions:
            return None
        start, start_col = self.positions[path]
        if path in self.block_scalars:
            # A block scalar (| or >) starts on the line after its indicator, indented.
            line = start + text_line
            if text_column is None or not 0 < line <= len(self.lines):
                return line, text_column
            first = self.lines[start] if start < len(self.lines) else ""
            return line, text_column + len(first) - len(first.lstrip(" "))
        line = start + text_line - 1
        if text_column is not None and text_line == 1:
            # A quoted scalar starts at its opening quote, one column before its text.
            text_column += start_col - 1 + (path in self.quoted_scalars)
        return line, text_column


def read_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Read ``path`` as safe YAML, returning its value and a map of positions.

    Raises:
        SpecError: the file is missing, unreadable, not valid YAML, or has duplicate keys.
    """
    display = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no such file: {display}", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {display}: {exc}") from None
    return parse_yaml(text, display)


def parse_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse YAML text (see :func:`read_yaml`)."""
    from engine.sql import cache

    slot = cache.slot("yaml", (SCHEMA, file, text))
    kept = cache.read(slot)
    if kept is not cache.MISSING:
        return _values_from_json(kept["data"], kept["dates"]), _source_from_json(kept["source"], file, text)
    data, source = _parse(text, file)
    if slot is None:  # the cache is off: nothing to keep
        return data, source
    dates: list[list] = []
    try:
        kept = {"data": _as_json(data, [], dates), "dates": dates, "source": _source_to_json(source)}
    except _NotJSON:
        return data, source
    cache.write(slot, kept)
    return data, source


def _parse(text: str, file: str) -> tuple[Any, SourceMap]:
    import yaml

    source = SourceMap(file, lines=text.splitlines())
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", location=Location(file)) from None
    if node is None:
        return None, source
    return _build(node, (), source, [0]), source


SCHEMA = 1
"""The version of the cached form below; the cache key also covers this module's code."""


class _NotJSON(Exception):
    """A value :func:`_as_json` cannot keep."""


def _as_json(value: Any, path: list, dates: list[list]) -> Any:
    """``value`` as JSON values: strings, numbers, booleans, None, lists and mappings with string
    keys as they are; a date or timestamp as ISO text, listed in ``dates`` as ``[path, kind]``.

    Raises:
        _NotJSON: anything else (binary, a number as a key): the file is not kept.
    """
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _NotJSON
        return {key: _as_json(item, [*path, key], dates) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item, [*path, i], dates) for i, item in enumerate(value)]
    if isinstance(value, (date, datetime)):
        dates.append([path, "datetime" if isinstance(value, datetime) else "date"])
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise _NotJSON


def _values_from_json(data: Any, dates: list[list]) -> Any:
    """The values :func:`_as_json` kept, with their dates and timestamps read back."""
    for path, kind in dates:
        *parents, last = path
        holder = data
        for part in parents:
            holder = holder[part]
        text = holder[last]
        holder[last] = datetime.fromisoformat(text) if kind == "datetime" else date.fromisoformat(text)
    return data


def _source_to_json(source: SourceMap) -> dict[str, list]:
    return {
        "positions": [[list(path), *at] for path, at in source.positions.items()],
        "key_positions": [[list(path), *at] for path, at in source.key_positions.items()],
        "block_scalars": [list(path) for path in source.block_scalars],
        "quoted_scalars": [list(path) for path in source.quoted_scalars],
    }


def _source_from_json(kept: dict[str, list], file: str, text: str) -> SourceMap:
    return SourceMap(
        file,
        positions={tuple(path): (line, column) for path, line, column in kept["positions"]},
        key_positions={tuple(path): (line, column) for path, line, column in kept["key_positions"]},
        block_scalars={tuple(path) for path in kept["block_scalars"]},
        quoted_scalars={tuple(path) for path in kept["quoted_scalars"]},
        lines=text.splitlines(),
    )


# Constructs that must be closed: an error inside one points where it opens, since a missing
# closing quote or bracket is only noticed lines later (often at the end of the file).
_OPENERS = {
    "while scanning a quoted scalar": ("quoted string", "close the quote"),
    "while parsing a flow mapping": ("{…} mapping", "close it with }, or quote a value that holds a ':' or ','"),
    "while parsing a flow sequence": ("[…] list", "close it with ], or quote a value that holds a ':' or ','"),
}


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> SpecError:
    """One line for a YAML syntax error, pointing where the broken construct opens."""
    problem = exc.problem or exc.context or "invalid YAML"
    problem_at = exc.problem_mark
    opened = _OPENERS.get(exc.context or "")
    if opened and exc.context_mark is not None:
        what, hint = opened
        mark = exc.context_mark
        found = "the file ends" if "end of stream" in problem else problem
        if problem_at is not None and "end of stream" not in problem:
            found += f" on line {problem_at.line + 1}, column {problem_at.column + 1}"
        message = f"invalid YAML: the {what} that opens here is not closed ({found})"
        return SpecError(message, location=Location(file, mark.line + 1, mark.column + 1), hint=hint)
    mark = problem_at or exc.context_mark
    where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    if problem.startswith("expected <block end>"):
        return SpecError(
            "invalid YAML: this line is indented differently from the keys above it",
            location=where,
            hint="indent it like the other keys of its mapping, with spaces",
        )
    return SpecError(f"invalid YAML: {problem}", location=where, hint="fix the YAML syntax")


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
# Aliases let a short file expand into a huge value ("billion laughs"); no pipeline needs this many.
MAX_VALUES = 100_000


@lru_cache(maxsize=1)
def _constructor() -> yaml.SafeLoader:
    import yaml

    return yaml.SafeLoader(stream="")


def _build(node: yaml.Node, path: PathKey, source: SourceMap, count: list[int]) -> Any:
    import yaml

    count[0] += 1
    if count[0] > MAX_VALUES:
        raise SpecError(
            f"the YAML expands to more than {MAX_VALUES:,} values",
            location=_loc(source, node),
            hint="do not nest aliases (*name) of aliases",
        )
    source.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP_TAG, _SEQ_TAG):
        # Plain lists and mappings only: !!python/…, !!set, !!omap and custom tags are not data.
        raise SpecError(
            f"unsupported YAML tag {node.tag}",
            location=_loc(source, node),
            hint="use plain strings, numbers, lists and mappings",
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(
                    "YAML merge keys (<<) are not supported",
                    location=_loc(source, key_node),
                    hint="write the keys out",
                )
            key = _build(key_node, (*path, "<key>"), source, count)
            if isinstance(key, (dict, list)):
                raise SpecError("a mapping key must be a plain value", location=_loc(source, key_node))
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise SpecError(
                    f"duplicate key '{key}' (first defined on line {first})",
                    location=_loc(source, key_node),
                    hint="remove or rename one of them",
                )
            seen[key] = key_node
            source.key_positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _build(value_node, (*path, key), source, count)
        source.positions.pop((*path, "<key>"), None)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), source, count) for i, item in enumerate(node.value)]
    if node.style in ("|", ">"):
        source.block_scalars.add(path)
    elif node.style in ('"', "'"):
        source.quoted_scalars.add(path)
    if node.tag == _STR_TAG:
        return node.value  # what the safe constructor gives a string, without its bookkeeping
    try:
        return _constructor().construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise SpecError(
            f"unsupported YAML value: {exc.problem}",
            location=_loc(source, node),
            hint="use plain strings, numbers, lists and mappings",
        ) from None


def _loc(source: SourceMap, node: yaml.Node) -> Location:
    return Location(source.file, node.start_mark.line + 1, node.start_mark.column + 1)
