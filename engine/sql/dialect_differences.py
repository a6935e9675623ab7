"""Constructs that run locally but cannot give Snowflake's value: named, so validate warns.

The conformance suite (tests/conformance/expectations.yaml, status ``known_difference``) pins
each deviation; README.md lists them. A construct that silently returned another value would be
a defect, so every one the local engine knowingly runs differently is found here, and
``engine.sql.lint`` turns each into a warning at its line.
"""

from __future__ import annotations

import re
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
    "the page prints -2.236069766 where the exact sample skewness is -2.2360679775, and Snowflake does "
    "not document how it rounds",
)

# Semi-structured data (sql-reference/data-types-semistructured; array_* and typeof pages).
ARRAY_UNDEFINED = Difference(
    "SQL NULL in an ARRAY",
    "Snowflake keeps a SQL NULL put in an ARRAY (ARRAY_CONSTRUCT, [...], ARRAY_APPEND / PREPEND / INSERT / REPEAT, "
    "ARRAY_INSERT past the end) as undefined, printed `undefined`, which "
    "FLATTEN skips and ARRAY_SORT / ARRAY_CONTAINS(NULL, ...) tell from a JSON null; locally it is a JSON null",
)
PARSE_JSON_MISSING = Difference(
    "PARSE_JSON",
    "text with a missing array element ('[1, , 2]', '[1, 2,]') parses to an ARRAY holding undefined on Snowflake "
    "(which FLATTEN skips) and a JSON null locally; well-formed JSON parses the same",
)
ARRAY_JSON_NULL = Difference(
    "JSON null in an ARRAY",
    "ARRAY_MAX, ARRAY_MIN, ARRAY_COMPACT, ARRAY_TO_STRING, ARRAY_SORT with NULLS FIRST/LAST and "
    "ARRAY_CONTAINS / ARRAY_POSITION of NULL treat a JSON null element as a missing one locally, where "
    "Snowflake treats it as a value",
)
VARIANT_TYPE = Difference(
    "TYPEOF / IS_DECIMAL",
    "a DATE, TIME or TIMESTAMP stored in a VARIANT is text locally, so TYPEOF says VARCHAR (except right after "
    "a cast to VARIANT); a number written with an exponent inside a parsed JSON array or object says DECIMAL, "
    "where Snowflake says DOUBLE",
)
JSON_KEY_ORDER = Difference(
    "TO_JSON",
    "an object parsed by PARSE_JSON keeps its keys in the document's order locally, so TO_JSON writes them in "
    "that order; Snowflake sorts them (objects built by OBJECT_CONSTRUCT and the OBJECT functions are sorted "
    "locally too)",
)
_MISSING_ELEMENT = re.compile(r"[\[,]\s*[,\]]")
_JSON_NULL_ELEMENTS = (exp.ArrayMax, exp.ArrayMin, exp.ArrayCompact, exp.ArrayToString)


def find(node: exp.Expression) -> Difference | None:
    """The known difference ``node`` is an instance of, if any."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH":
        return HASH
    if isinstance(node, exp.Skewness):
        return SKEW
    return _semistructured(node)


def _semistructured(node: exp.Expression) -> Difference | None:
    if isinstance(node, exp.Array) and any(_may_be_null(e) for e in node.expressions):
        return ARRAY_UNDEFINED
    if isinstance(node, (exp.ArrayAppend, exp.ArrayPrepend)) and _may_be_null(node.expression):
        return ARRAY_UNDEFINED
    if isinstance(node, exp.ArrayInsert):
        return ARRAY_UNDEFINED
    if isinstance(node, exp.Anonymous) and node.name.upper() == "ARRAY_REPEAT" and node.expressions \
            and _may_be_null(node.expressions[0]):
        return ARRAY_UNDEFINED
    if isinstance(node, exp.ParseJSON) and (not isinstance(node.this, exp.Literal) or _parses_missing_elements(node)):
        return PARSE_JSON_MISSING
    if isinstance(node, _JSON_NULL_ELEMENTS) or (isinstance(node, exp.ArraySort) and node.args.get("nulls_first")):
        return ARRAY_JSON_NULL
    if isinstance(node, (exp.ArrayContains, exp.ArrayPosition)) and isinstance(node.expression, exp.Null):
        return ARRAY_JSON_NULL
    if isinstance(node, exp.Typeof) or (isinstance(node, exp.Anonymous) and node.name.upper() == "IS_DECIMAL"):
        return VARIANT_TYPE
    if isinstance(node, exp.JSONFormat):
        return JSON_KEY_ORDER
    return None


def _parses_missing_elements(node: exp.ParseJSON) -> bool:
    """Whether PARSE_JSON reads a constant text with a missing element."""
    return node.this.is_string and bool(_MISSING_ELEMENT.search(node.this.name))


def _may_be_null(value: exp.Expression) -> bool:
    """Whether an element given to an ARRAY may be a SQL NULL (anything but a non-NULL constant)."""
    while isinstance(value, (exp.Cast, exp.Paren)):
        value = value.this
    return not isinstance(value, (exp.Literal, exp.Boolean, exp.Array, exp.Struct, exp.ParseJSON))
