"""REGEXP_INSTR, REGEXP_SUBSTR with a group and REGEXP_REPLACE of one occurrence, in DuckDB.

DuckDB's regular expressions (RE2) have no function giving where a match starts, nor one
replacing only the n-th match; sqlglot writes REGEXP_INSTR from the lengths of the pieces
``string_split_regex`` cuts, and refuses the ``e`` parameter and an occurrence to replace. Here:

* the n-th match starts after the first n pieces and the n - 1 matches between them;
* a sub-match's position is the start of its match plus the length of everything the pattern
  matched before the group: the pattern is rewritten with one more group around that prefix
  (exact for a group outside any other group and alternation; others are refused);
* REGEXP_REPLACE(s, p, r, position, n) keeps what precedes the n-th match and what follows it,
  and writes ``r`` with ``\\1``…``\\9`` taken from the n-th match's groups.

Semantics (sql-reference/functions/regexp_instr, regexp_substr, regexp_replace, and
functions-regexp "Specifying the parameters"): positions are 1-based and count from the start
of the whole string; ``position`` starts the search there as if the string began there;
``option`` 1 gives the position after the match; parameters ``c``/``i`` (case, the last one
wins), ``m`` (multi-line), ``s`` (``.`` matches a newline), ``e`` (extract a group, group 1 by
default); a ``group_num`` implies ``e``; a pattern without groups ignores ``e``.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck

_LENGTHS = "COALESCE(list_sum(list_transform(__L, lambda x: length(x))), 0)"
_START = (f"CAST(1 + {_LENGTHS.replace('__L', 'string_split_regex(__S, __P)[1:__N]')}"
          f" + {_LENGTHS.replace('__L', 'regexp_extract_all(__S, __P)[1:__N - 1]')} AS BIGINT)")
_FLAGS = {"i": "i", "m": "m", "s": "s"}


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """One node's rewrite (called bottom-up by dialect_functions.rewrite)."""
    if isinstance(node, exp.RegexpInstr):
        return _instr(node)
    if isinstance(node, exp.RegexpExtract) and _group(node) is not None:
        return _substr(node)
    if isinstance(node, exp.RegexpReplace) and _int(node.args.get("occurrence"), 0) > 0:
        return _replace(node)
    return node


class _Call:
    """The pieces every rewrite needs: the searched text, the pattern with its flags, n."""

    def __init__(self, node: exp.Expression, parameters_key: str):
        self.node = node
        self.text = node.this
        position = node.args.get("position")
        self.position = position if position is not None and _int(position, 0) != 1 else None
        self.subject = duck("substring(__S, __P)", s=node.this, p=position) if self.position else node.this
        parameters = node.args.get(parameters_key)
        if parameters is not None and not parameters.is_string:
            raise Untranslatable(f"{_name(node)} with parameters that are not a constant", node,
                                 keyword=_name(node), hint="give the parameters as a string literal")
        self.parameters = parameters.name if parameters is not None else ""
        self.occurrence = node.args.get("occurrence") or exp.Literal.number(1)
        self.pattern = node.expression
        self.flags = self._flags()

    def _flags(self) -> str:
        flags = set()
        for letter in self.parameters:
            if letter == "c":
                flags.discard("i")
            elif letter in _FLAGS:
                flags.add(_FLAGS[letter])
            elif letter != "e":
                raise Untranslatable(f"{_name(self.node)} parameter '{letter}'", self.node, keyword=_name(self.node),
                                     hint="use the parameters c, i, m, s or e")
        return "".join(sorted(flags))

    def regex(self, pattern: exp.Expression | None = None) -> exp.Expression:
        """The pattern with its flags, as DuckDB reads them."""
        pattern = pattern if pattern is not None else self.pattern
        if not self.flags:
            return pattern
        if pattern.is_string:
            return exp.Literal.string(f"(?{self.flags}){pattern.name}")
        return exp.DPipe(this=exp.Literal.string(f"(?{self.flags})"), expression=pattern)

    def start(self) -> exp.Expression:
        """Where the n-th match starts in the searched text (1-based)."""
        return duck(_START, s=self.subject, p=self.regex(), n=self.occurrence)

    def offset(self) -> exp.Expression:
        """``position - 1``: what the search skipped, added back to positions."""
        return duck("__P - 1", p=self.position) if self.position is not None else exp.Literal.number(0)

    def nth(self, pattern: exp.Expression | None = None, group: int = 0) -> exp.Expression:
        """The n-th match (or its ``group``) of ``pattern``."""
        return duck("list_extract(regexp_extract_all(__S, __P, __G), __N)", s=self.subject, p=self.regex(pattern),
                    g=exp.Literal.number(group), n=self.occurrence)

    def missing(self) -> exp.Expression:
        """True when there is no n-th match."""
        return duck("length(regexp_extract_all(__S, __P)) < __N", s=self.subject, p=self.regex(), n=self.occurrence)

    def prefixed(self, group: int) -> exp.Expression:
        """The pattern with a new group 1 around everything before ``group``'s opening parenthesis."""
        if not self.pattern.is_string:
            raise Untranslatable(f"{_name(self.node)} of a group with a pattern that is not a constant", self.node,
                                 keyword=_name(self.node), hint="give the pattern as a string literal")
        text = self.pattern.name
        start = _group_start(text, group)
        if start is None:
            raise Untranslatable(f"{_name(self.node)} of group {group} of '{text}'", self.node, keyword=_name(self.node),
                                 hint="the local engine finds the position of a group outside other groups and "
                                      "alternatives only; use REGEXP_SUBSTR, or run on Snowflake")
        return exp.Literal.string(f"({text[:start]}){text[start:]}")


def _instr(node: exp.RegexpInstr) -> exp.Expression:
    call = _Call(node, "parameters")
    option = _int(node.args.get("option"), 0)
    group = _group(node)
    position = duck("__START + __OFFSET", start=call.start(), offset=call.offset())
    if group:
        prefixed = call.prefixed(group)
        position = duck("__POS + length(__PREFIX)", pos=position, prefix=call.nth(prefixed, 1))
        if option:
            position = duck("__POS + length(__GROUP)", pos=position, group=call.nth(prefixed, group + 1))
    elif option:
        position = duck("__POS + length(__MATCH)", pos=position, match=call.nth())
    return duck("CASE WHEN __S IS NULL OR __P IS NULL THEN NULL WHEN __MISSING THEN 0 ELSE __POSITION END",
                s=node.this, p=node.expression, missing=call.missing(), position=position)


def _substr(node: exp.RegexpExtract) -> exp.Expression:
    call = _Call(node, "parameters")
    return call.nth(group=_group(node) or 0)


def _replace(node: exp.RegexpReplace) -> exp.Expression:
    call = _Call(node, "modifiers")
    replacement = node.args.get("replacement") or exp.Literal.string("")
    if not replacement.is_string:
        raise Untranslatable("REGEXP_REPLACE of one occurrence with a replacement that is not a constant", node,
                             keyword="REGEXP_REPLACE", hint="give the replacement as a string literal")
    pieces: list[exp.Expression] = []
    text = replacement.name
    literal = ""
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text) and text[index + 1].isdigit():
            if literal:
                pieces.append(exp.Literal.string(literal))
                literal = ""
            pieces.append(duck("COALESCE(__G, '')", g=call.nth(group=int(text[index + 1]))))
            index += 2
            continue
        if text[index] == "\\" and index + 1 < len(text):
            index += 1  # an escaped character stands for itself
        literal += text[index]
        index += 1
    pieces.append(exp.Literal.string(literal))
    written = pieces[0]
    for piece in pieces[1:]:
        written = exp.DPipe(this=written, expression=piece)
    kept = duck("substring(__S, 1, __START - 1) || __WRITTEN || substring(__S, __START + length(__MATCH))",
                s=call.subject, start=call.start(), written=written, match=call.nth())
    if call.position is not None:
        kept = duck("substring(__S, 1, __P - 1) || __KEPT", s=node.this, p=call.position, kept=kept)
    return duck("CASE WHEN __MISSING THEN __S ELSE __KEPT END", missing=call.missing(), s=node.this, kept=kept)


def _group(node: exp.Expression) -> int | None:
    """The group to extract: ``group_num``, or 1 with the ``e`` parameter; None for the whole match."""
    group = node.args.get("group")
    parameters = node.args.get("parameters")
    extract = parameters is not None and parameters.is_string and "e" in parameters.name
    if group is not None:
        number = _int(group, -1)
        if number < 0:
            raise Untranslatable(f"{_name(node)} with a group number that is not a constant", node,
                                 keyword=_name(node), hint="give the group number as an integer literal")
        if number or not extract:  # sqlglot writes a missing group_num as 0
            return number or None
    if not extract:
        return None
    pattern = node.expression
    if pattern.is_string and _group_count(pattern.name) == 0:
        return None  # 'e' on a pattern without groups extracts the whole match
    return 1


def _scan(pattern: str):
    """(index, depth, character) of each unescaped character outside a character class."""
    depth = 0
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1:index + 2] == "]":
                index += 1
        else:
            if char == ")":
                depth -= 1
            yield index, depth, char
            if char == "(":
                depth += 1
        index += 1


def _capturing(pattern: str, index: int) -> bool:
    return pattern[index + 1:index + 2] != "?" or pattern[index + 2:index + 3] in ("P", "<")


def _group_count(pattern: str) -> int:
    return sum(1 for i, _, c in _scan(pattern) if c == "(" and _capturing(pattern, i))


def _group_start(pattern: str, group: int) -> int | None:
    """Where group ``group`` opens, if it is outside any other group and there is no top-level ``|``."""
    seen = 0
    found = None
    for index, depth, char in _scan(pattern):
        if char == "|" and depth == 0:
            return None
        if char == "(" and _capturing(pattern, index):
            seen += 1
            if seen == group:
                found = index if depth == 0 else None
                if found is None:
                    return None
    return found


def _int(node: exp.Expression | None, default: int) -> int:
    if node is None:
        return default
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.name)
    return default


def _name(node: exp.Expression) -> str:
    return {exp.RegexpInstr: "REGEXP_INSTR", exp.RegexpExtract: "REGEXP_SUBSTR",
            exp.RegexpReplace: "REGEXP_REPLACE"}.get(type(node), node.sql_name())
