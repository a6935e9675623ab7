"""SHOW output read into the planner's terms: which objects pipe made, and what they declare.

Snowflake does not return a dynamic table's CREATE statement as sent. SHOW DYNAMIC TABLES'
``text`` column holds its own rewrite: lower-case keywords, the fully qualified quoted name,
the comment first, ``lag = '…'`` (not TARGET_LAG), quoted property values, then ``as`` and the
query as written (Terraform Snowflake provider, ``TestViewSelectStatementExtractor_ExtractDynamicTable``,
"running SHOW DYNAMIC TABLE in Snowflake actually returns the query with the comment before other
parameters"; SnowDDL's dynamic-table resolver reads the query from SHOW AS RESOURCE, not from
``text``). So:

* ownership never depends on the text's shape: every object pipe makes carries a ``pipe:``
  fingerprint in its comment (SHOW's ``comment`` column, ``description`` for functions), which
  Snowflake keeps as written;
* a dynamic table's fingerprint hashes what only CREATE OR REPLACE changes (query, refresh mode,
  initialize); when it matches the file, those are unchanged without reading the text;
  otherwise the query and the declared refresh mode are read from the rewritten text;
* the comment shown to the planner is the file's part, without the fingerprint;
* each dynamic table also lists the objects its query reads (``reads``), so that ``--prune``
  never drops what a kept object reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from engine import names
from engine.backends.snowflake.state import as_datetime, shown_lag
from engine.kinds import Initialize, ObjectKind, RefreshMode
from engine.planner import ObjectState, TargetState
from engine.properties import DynamicTableProperties
from engine.spec.model import Pipeline
from engine.sql.parsing import table_refs
from engine.sql.render import Statements

Row = Mapping[str, object]

# ``pipe:<16 hex>`` at the end of a comment, alone or in brackets after the file's comment.
_DT_FINGERPRINT = re.compile(r"^(?:(?P<comment>.*) \()?(?P<fingerprint>pipe:[0-9a-f]{16})\)?$", re.DOTALL)


def target_state(
    pipeline: Pipeline, dynamic_tables: Sequence[Row], tables: Sequence[Row], functions: Sequence[Row]
) -> TargetState:
    """The objects in an existing schema, from SHOW DYNAMIC TABLES / TABLES / USER FUNCTIONS."""
    sql = Statements(pipeline)
    objects: dict[str, ObjectState] = {}
    dynamic_names = {row["name"] for row in dynamic_tables}
    for row in dynamic_tables:
        objects[str(row["name"])] = dynamic_table_state(row, pipeline, sql)
    for row in tables:
        if row["name"] in dynamic_names or _yes(row.get("is_dynamic")):
            continue
        objects[str(row["name"])] = table_state(row)
    for row in _newest_per_name(functions):
        objects[f"{ObjectKind.FUNCTION}:{row['name']}"] = function_state(row)
    return TargetState(database_exists=True, schema_exists=True, objects=objects)


def split_comment(comment: str | None) -> tuple[str | None, str | None]:
    """``(the file's comment, pipe's fingerprint)`` of a dynamic table's comment."""
    if not comment:
        return None, None
    match = _DT_FINGERPRINT.match(comment)
    if match is None:
        return comment, None
    return match.group("comment") or None, match.group("fingerprint")


def dynamic_table_state(row: Row, pipeline: Pipeline, sql: Statements | None = None) -> ObjectState:
    """A dynamic table from one SHOW DYNAMIC TABLES row.

    When the fingerprint in its comment matches the file's, query and refresh mode are the
    file's; otherwise they are read from ``text`` (the ``refresh_mode`` column shows what AUTO
    resolved to, not what was declared). The lag is written the way the file writes it when
    both mean the same duration, so ``60 seconds`` and ``1 minute`` agree.
    """
    name = str(row["name"])
    declared = pipeline.dynamic_tables.get(name)
    comment, fingerprint = split_comment(_text(row.get("comment")))
    parsed = parse_dynamic_table_text(_text(row.get("text")) or "")
    query, mode, initialize = parsed.query, parsed.refresh_mode, parsed.initialize
    if declared is not None and fingerprint is not None:
        sql = sql or Statements(pipeline)
        if fingerprint == sql.dynamic_table_fingerprint(name):
            query, mode, initialize = declared.sql, declared.refresh_mode, declared.initialize
    shown = DynamicTableProperties.from_record(
        {
            "sql": query,
            "target_lag": shown_lag(_text(row.get("target_lag")), declared.target_lag if declared else None),
            "warehouse": _text(row.get("warehouse")),
            "refresh_mode": mode,
            "initialize": initialize,
            "comment": comment,
        }
    )
    properties = {
        **shown.record(),
        "fingerprint": fingerprint,
        "reads": ", ".join(names.sql(n) for n in reads(parsed.query)) if parsed.query else None,
    }
    if fingerprint is None:
        properties["managed"] = "false"
    return ObjectState(name, ObjectKind.DYNAMIC_TABLE, properties)


def table_state(row: Row) -> ObjectState:
    """A base table from one SHOW TABLES row: its comment is pipe's fingerprint."""
    comment = _text(row.get("comment"))
    properties: dict[str, str | None] = {"fingerprint": comment}
    if not (comment and "pipe:" in comment):
        properties["managed"] = "false"
    return ObjectState(str(row["name"]), ObjectKind.TABLE, properties)


def function_state(row: Row) -> ObjectState:
    """A function from one SHOW USER FUNCTIONS row: ``description`` holds its comment."""
    description = _text(row.get("description"))
    properties: dict[str, str | None] = {
        "fingerprint": description,
        "arg_types": parse_arg_types(_text(row.get("arguments")) or ""),
    }
    if not (description and description.startswith("pipe:")):
        properties["managed"] = "false"
    return ObjectState(str(row["name"]), ObjectKind.FUNCTION, properties)


def reads(query: str) -> list[str]:
    """The unqualified names of the tables a query reads, resolved (engine.names) (empty when unparseable).

    Names qualified with another schema are left out: pipe only manages its own schema.
    """
    try:
        tree = sqlglot.parse_one(query, read="snowflake")
    except (ParseError, TokenError):
        return []
    return sorted({ref.name for ref in table_refs(tree)})


def _newest_per_name(functions: Sequence[Row]) -> list[Row]:
    """One row per function name: overloads share a name; the newest is the one pipe made last."""
    chosen: dict[str, Row] = {}
    for row in functions:
        current = chosen.get(str(row["name"]))
        if current is None or _sort_key(row) >= _sort_key(current):
            chosen[str(row["name"])] = row
    return list(chosen.values())


def _sort_key(row: Row) -> tuple:
    stamp = as_datetime(row.get("created_on"))
    return (stamp is not None, stamp.timestamp() if stamp else 0.0)


def _text(value: object) -> str | None:
    """A SHOW cell as text; empty strings and NULLs are None."""
    return None if value is None or value == "" else str(value)


def _yes(value: object) -> bool:
    return str(value).upper() in ("Y", "YES", "TRUE")


# -- parsing Snowflake's rewritten CREATE text ------------------------------------------------


@dataclass(frozen=True)
class ParsedDynamicTable:
    """What a dynamic table's CREATE text declares.

    Attributes:
        query: the defining query as written (None when the text cannot be read).
        refresh_mode: the declared REFRESH_MODE, AUTO when absent.
        initialize: the declared INITIALIZE, ON_CREATE when absent.
        properties: the names of the ``name = value`` properties, upper-case, in order.
    """

    query: str | None
    refresh_mode: str = RefreshMode.AUTO.value
    initialize: str = Initialize.ON_CREATE.value
    properties: tuple[str, ...] = ()


def parse_dynamic_table_text(text: str) -> ParsedDynamicTable:
    """Split ``create [or replace] dynamic table … as <query>`` into its parts.

    Works on the text as sent and on Snowflake's rewrite (any case, any property order,
    quoted or bare values). The query is the text after the first top-level ``AS`` (not the
    ``AS`` of ``EXECUTE AS USER``), kept as written; the refresh mode is REFRESH_MODE's value.
    """
    try:
        tokens = sqlglot.tokenize(text, read="snowflake")
    except TokenError:
        return ParsedDynamicTable(None)
    if not tokens or tokens[0].token_type != TokenType.CREATE:
        return ParsedDynamicTable(text.strip().rstrip(";").strip() or None)
    depth, properties, query = 0, [], None
    values = {"REFRESH_MODE": RefreshMode.AUTO.value, "INITIALIZE": Initialize.ON_CREATE.value}
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.token_type == TokenType.ALIAS and not _after(tokens, i, TokenType.EXECUTE):
            query = text[token.end + 1 :].strip().rstrip(";").strip() or None
            break
        elif depth == 0 and _next_is(tokens, i, TokenType.EQ):
            properties.append(token.text.upper())
            if token.text.upper() in values and i + 2 < len(tokens):
                values[token.text.upper()] = tokens[i + 2].text.strip("'").upper()
    return ParsedDynamicTable(query, values["REFRESH_MODE"], values["INITIALIZE"], tuple(properties))


def _after(tokens: list[Token], i: int, kind: TokenType) -> bool:
    return i > 0 and tokens[i - 1].token_type == kind


def _next_is(tokens: list[Token], i: int, kind: TokenType) -> bool:
    return i + 1 < len(tokens) and tokens[i + 1].token_type == kind


def parse_arg_types(arguments: str) -> str:
    """``'NUMBER, NUMBER'`` from ``'GEN(NUMBER, NUMBER) RETURN TABLE (…)'`` (optional ``[ ]`` dropped)."""
    start = arguments.find("(")
    if start < 0:
        return ""
    depth = 0
    for end in range(start, len(arguments)):
        depth += {"(": 1, ")": -1}.get(arguments[end], 0)
        if depth == 0:
            inner = arguments[start + 1 : end].replace("[", "").replace("]", "")
            return ", ".join(part.strip() for part in _split_top(inner) if part.strip())
    return ""


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: ``NUMBER(38, 0), VARCHAR`` is two types."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]
