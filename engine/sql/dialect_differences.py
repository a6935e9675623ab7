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
    "published; equal inputs still hash equal (numbers whatever their type), so grouping and joining on HASH work",
)


SKEW = Difference(
    "SKEW",
    "SKEW runs locally but its last digits differ from Snowflake's (from the 7th significant digit): "
    "it computes exactly the formula the page documents, n^2/((n-1)(n-2)) * m3/k2^1.5; both values the page "
    "prints are 1.0000008 times that formula's (-2.236069766 for -2.2360679775, 0.05240788515 for "
    "0.0524078432), which the page does not explain",
)

# Semi-structured data (sql-reference/data-types-semistructured; array_* and typeof pages).
# A SQL NULL put in an ARRAY and a missing element of parsed text are Snowflake's undefined
# locally too (dialect_common.UNDEFINED): no difference left to warn about.
ARRAY_JSON_NULL = Difference(
    "JSON null in an ARRAY",
    "ARRAY_MAX, ARRAY_MIN and ARRAY_TO_STRING skip a JSON null element locally (ARRAY_TO_STRING writes it as an "
    "empty string), as they skip an undefined one; Snowflake's pages do not say how they treat a JSON null",
)
VARIANT_TYPE = Difference(
    "TYPEOF / IS_DECIMAL",
    "a DATE, TIME or TIMESTAMP stored in a VARIANT is text locally, so TYPEOF says VARCHAR (except right after "
    "a cast to VARIANT); a number written with an exponent inside a parsed JSON array or object says DECIMAL, "
    "where Snowflake says DOUBLE",
)
CHECK_JSON_MESSAGE = Difference(
    "CHECK_JSON",
    "CHECK_JSON tells valid from invalid JSON as Snowflake does and gives the position of the first error, but "
    "Snowflake does not publish its parser's messages: locally only 'misplaced <character>, pos <n>' is worded "
    "as on the check_json page, other messages may be worded otherwise",
)
_JSON_NULL_ELEMENTS = (exp.ArrayMax, exp.ArrayMin, exp.ArrayToString)


def find(node: exp.Expression) -> Difference | None:
    """The known difference ``node`` is an instance of, if any."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH":
        return HASH
    if isinstance(node, exp.Skewness):
        return SKEW
    return _semistructured(node)


def _semistructured(node: exp.Expression) -> Difference | None:
    if isinstance(node, _JSON_NULL_ELEMENTS):
        return ARRAY_JSON_NULL
    if isinstance(node, exp.CheckJson):
        return CHECK_JSON_MESSAGE
    if isinstance(node, exp.Typeof) or (isinstance(node, exp.Anonymous) and node.name.upper() == "IS_DECIMAL"):
        return VARIANT_TYPE
    return None
