"""Constructs that run locally but cannot give Snowflake's value: named, so validate warns.

The conformance suite (tests/conformance/expectations.yaml, status ``known_difference``) pins
each deviation; README.md lists them. A construct that silently returned another value would be
a defect, so every one the local engine knowingly runs differently is found here, and
``engine.sql.lint`` turns each into a warning at its line.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp


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


def find(node: exp.Expression) -> Difference | None:
    """The known difference ``node`` is an instance of, if any."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH":
        return HASH
    return None
