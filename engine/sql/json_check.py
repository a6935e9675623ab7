"""CHECK_JSON locally: NULL for text PARSE_JSON reads, else a message naming the first error.

Snowflake's CHECK_JSON (sql-reference/functions/check_json) returns NULL for a valid JSON document
(or a NULL input) and otherwise its parser's message with the position of the error, 1-based
(the page's example: ``'{"Malformed -- Missing value": }'`` gives ``misplaced }, pos 32``). The
text accepted is what PARSE_JSON accepts (parse_json page, "Usage notes"): JSON, plus keys without
quotes, ``NULL`` / ``TRUE`` / ``FALSE`` in any case and missing array elements. The messages
other than a misplaced character are written here (``dialect_differences.CHECK_JSON_MESSAGE``).
A VARIANT argument holding a string is checked as that text; any other VARIANT is valid.
"""

from __future__ import annotations

import json
import re

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_KEYWORDS = ("null", "true", "false")


class _Invalid(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(f"{message}, pos {offset + 1}")


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.at = 0

    def peek(self) -> str:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1
        return self.text[self.at] if self.at < len(self.text) else ""

    def value(self) -> None:
        char = self.peek()
        if char == "{":
            self.object()
        elif char == "[":
            self.array()
        elif char == '"':
            self.string()
        elif char == "-" or char.isdigit():
            self.match(_NUMBER, "invalid number")
        elif char.isalpha():
            word = self.match(_KEY, "unknown keyword")
            if word.lower() not in _KEYWORDS:
                raise _Invalid(f'unknown keyword "{word}"', self.at - len(word))
        elif char:
            raise _Invalid(f"misplaced {char}", self.at)
        else:
            raise _Invalid("incomplete value", self.at)

    def match(self, pattern: re.Pattern, message: str) -> str:
        found = pattern.match(self.text, self.at)
        if found is None:
            raise _Invalid(message, self.at)
        self.at = found.end()
        return found.group(0)

    def string(self) -> None:
        start = self.at
        self.at += 1
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "\\":
                self.at += 2
                continue
            self.at += 1
            if char == '"':
                try:
                    json.loads(self.text[start:self.at])
                except ValueError:
                    raise _Invalid("invalid string", start) from None
                return
        raise _Invalid("unfinished string", start)

    def object(self) -> None:
        self.at += 1
        if self.peek() == "}":
            self.at += 1
            return
        while True:
            if self.peek() == '"':
                self.string()
            else:
                self.match(_KEY, f"misplaced {self.peek()}" if self.peek() else "incomplete object value")
            if self.peek() != ":":
                raise _Invalid("missing colon", self.at)
            self.at += 1
            self.value()
            if self.close(",", "}", "incomplete object value") == "}":
                return

    def array(self) -> None:
        self.at += 1
        while True:
            char = self.peek()
            if char == "]":
                self.at += 1
                return
            if char != ",":  # a missing element is allowed
                self.value()
            if self.close(",", "]", "incomplete array value") == "]":
                return

    def close(self, separator: str, end: str, incomplete: str) -> str:
        char = self.peek()
        if char in (separator, end) and char:
            self.at += 1
            return char
        raise _Invalid(f"misplaced {char}" if char else incomplete, self.at)


def check_json(text: str | None, is_variant: bool = False) -> str | None:
    """CHECK_JSON of ``text`` (the JSON text of a VARIANT when ``is_variant``): NULL or the error."""
    if text is None:
        return None
    if is_variant:
        value = json.loads(text)
        if not isinstance(value, str):
            return None
        text = value
    if not text.strip():
        return None
    reader = _Reader(text)
    try:
        reader.value()
        if reader.peek():
            raise _Invalid(f"misplaced {reader.peek()}", reader.at)
    except _Invalid as err:
        return str(err)
    return None
