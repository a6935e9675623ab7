"""Constructs that run locally but cannot give Snowflake's value: named, so validate warns.

The conformance suite (tests/conformance/expectations.yaml, status ``known_difference``) pins
each deviation; README.md lists them. A construct that silently returned another value would be
a defect, so every one the local engine knowingly runs differently is found here, and
``engine.sql.lint`` turns each into a warning at its line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.sql.dialect_annotate import is_float, is_type

_TEXT = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR}


@dataclass(frozen=True)
class Difference:
    """One known difference: the construct as a user names it, and what differs."""

    construct: str
    reason: str


HASH = Difference(
    "HASH",
    "HASH runs locally but its values differ from Snowflake's: Snowflake's algorithm is not "
    "published; equal inputs still hash equal, so grouping and joining on HASH work",
)
FLOAT_TO_TEXT = Difference(
    "FLOAT as text",
    "a FLOAT turned into text is written with all its digits locally (1.2618595071429148, 5.0) "
    "where Snowflake writes at most 10 significant digits (1.261859507, 5)",
)


def find(node: exp.Expression) -> Difference | None:
    """The known difference ``node`` is an instance of, if any."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH":
        return HASH
    if isinstance(node, exp.ToChar) and node.args.get("format") is None and is_float(node.this):
        return FLOAT_TO_TEXT
    if isinstance(node, exp.Cast) and node.to.this in _TEXT and is_float(node.this):
        return FLOAT_TO_TEXT
    return None
