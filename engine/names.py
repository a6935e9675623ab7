"""Snowflake identifiers: how a name is written, what it resolves to, and how to write it back.

Snowflake's rules (sql-reference/identifiers-syntax, "Identifier requirements" and
"Identifier resolution"):

- an unquoted identifier starts with a letter (A-Z, a-z) or ``_`` and holds only letters, ``_``,
  digits and ``$``; it is stored and resolved upper-case (``id`` is ``ID``);
- a double-quoted identifier is stored and resolved exactly as written: case, blanks, any
  character, non-ASCII included; ``""`` inside stands for one ``"``;
- both are at most 255 characters.

So ``members``, ``MEMBERS`` and ``"MEMBERS"`` name one table; ``"Members"`` another. Everywhere in
pipe a name is held *resolved* (the string Snowflake stores); :func:`resolve` makes one from a
name as written in the pipeline file, :func:`of` from a parsed SQL identifier, :func:`sql` writes
one back for Snowflake (quoted only when it must be) and :func:`duckdb` for the local engine
(always quoted); :func:`pick` finds the name a user typed among known ones, :func:`shown` shows one
as a file writes it. No other module upper-cases a name (tests/test_names.py checks the modules
that once did). Unquoted names are upper-cased with ASCII rules only: Python's ``str.upper``
would turn a quoted ``"café"`` into ``CAFÉ`` and ``"straße"`` into ``STRASSE``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

UNQUOTED = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
MAX_LENGTH = 255

# Reserved and limited keywords (sql-reference/reserved-keywords): not usable unquoted as names.
RESERVED = frozenset(
    """ACCOUNT ALL ALTER AND ANY AS BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION CONSTRAINT
    CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DATABASE DELETE
    DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM FULL GRANT GROUP GSCLUSTER HAVING ILIKE IN
    INCREMENT INNER INSERT INTERSECT INTO IS ISSUE JOIN LATERAL LEFT LIKE LOCALTIME LOCALTIMESTAMP
    MINUS NATURAL NOT NULL OF ON OR ORDER ORGANIZATION QUALIFY REGEXP REVOKE RIGHT RLIKE ROW ROWS
    SAMPLE SCHEMA SELECT SET SOME START TABLE TABLESAMPLE THEN TO TRIGGER TRUE TRY_CAST UNION
    UNIQUE UPDATE USING VALUES VIEW WHEN WHENEVER WHERE WINDOW WITH""".split()
)

_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class IdentifierError(ValueError):
    """A name that is not a Snowflake identifier; the message says why and how to write it."""


def upper(text: str) -> str:
    """``text`` upper-cased as Snowflake upper-cases an unquoted identifier: ASCII letters only."""
    return text.translate(_UPPER)


def is_quoted(written: str) -> bool:
    """Whether ``written`` is a double-quoted identifier (``"My Table"``)."""
    return len(written) >= 2 and written[0] == '"' and written[-1] == '"'


def resolve(written: str) -> str:
    """The name Snowflake stores for an identifier written as ``written``.

    ``members`` -> ``MEMBERS``; ``"Café"`` -> ``Café``; ``"a""b"`` -> ``a"b``.

    Raises:
        IdentifierError: an unquoted name with a character Snowflake does not allow unquoted, a
            reserved keyword unquoted, a badly quoted name, or a name over 255 characters.
    """
    if not isinstance(written, str) or not written:
        raise IdentifierError(f"{written!r} is not a valid Snowflake identifier: a name cannot be empty")
    if is_quoted(written):
        inner = written[1:-1]
        if not inner:
            raise IdentifierError('"" is not a valid Snowflake identifier: a quoted name cannot be empty')
        if '"' in inner.replace('""', ""):
            raise IdentifierError(f"{written} is not a valid Snowflake identifier: write a double quote inside a quoted name as \"\"")
        name = inner.replace('""', '"')
    else:
        if not UNQUOTED.fullmatch(written):
            raise IdentifierError(
                f"{written!r} is not a valid Snowflake identifier: unquoted names use letters A-Z, digits, _ and $, "
                f"starting with a letter or _; quote it (\"{written}\") to keep it exactly as written"
            )
        name = upper(written)
        if name in RESERVED:
            raise IdentifierError(f"{written!r} is a reserved Snowflake keyword: choose another name or quote it")
    if len(name) > MAX_LENGTH:
        raise IdentifierError(f"{written[:20]}… is not a valid Snowflake identifier: longer than {MAX_LENGTH} characters")
    return name


def same(written_a: str, written_b: str) -> bool:
    """Whether two names as written name the same object."""
    return key(written_a) == key(written_b)


def key(written: str) -> str:
    """:func:`resolve`, or the text itself for what is not a valid identifier: a lookup key."""
    try:
        return resolve(written)
    except IdentifierError:
        return written


def of(identifier) -> str:
    """The resolved name of a parsed sqlglot identifier (an ``exp.Identifier``, or any node whose
    ``name`` is an identifier's text, such as an ``exp.Column`` or ``exp.Table``)."""
    node = identifier
    if hasattr(node, "quoted"):
        return node.name if node.quoted else upper(node.name)
    inner = node.this if hasattr(node, "this") else None
    if inner is not None and hasattr(inner, "quoted"):
        return of(inner)
    return upper(node.name)


def needs_quotes(name: str) -> bool:
    """Whether resolved ``name`` must be quoted to be read back as itself by Snowflake."""
    return not UNQUOTED.fullmatch(name) or upper(name) != name or name in RESERVED


def sql(name: str) -> str:
    """Resolved ``name`` written for Snowflake SQL: bare when that reads back the same
    (``MEMBERS``), double-quoted otherwise (``"Café"``, ``"members"``, ``"a""b"``)."""
    return quoted(name) if needs_quotes(name) else name


def sql_of(written_name: str) -> str:
    """A name as written in the pipeline file (``member_id``, ``"Café"``) written for Snowflake SQL
    (a text that is no identifier, :func:`key`, is quoted as it is)."""
    return sql(key(written_name))


def quoted(name: str) -> str:
    """Resolved ``name`` double-quoted, with its quotes doubled: exact for Snowflake and DuckDB."""
    return '"' + name.replace('"', '""') + '"'


duckdb = quoted
"""Resolved ``name`` written for the local engine: always quoted (DuckDB keeps the case of a quoted
name in results and compares identifiers case-insensitively)."""


def written(name: str) -> str:
    """How to show resolved ``name`` to a user: as it would be written in SQL or in the file."""
    return sql(name)


def dotted(*parts: str | None) -> str:
    """Resolved names joined into a qualified name for Snowflake SQL (``DB.SCHEMA."Région totals"``);
    empty parts are left out."""
    return ".".join(sql(p) for p in parts if p)


def pick(written: str, known: Iterable[str]) -> str | None:
    """The resolved name among ``known`` that ``written`` (typed by a user) names: as Snowflake
    resolves it, else exactly as typed (a shell drops the quotes of ``"Région totals"``); None
    when it names none of them."""
    known = known if hasattr(known, "__contains__") else set(known)
    for candidate in (key(written), written):
        if candidate in known:
            return candidate
    return None


def shown(name: str) -> str:
    """Resolved ``name`` as a file usually writes it: lower-case when that reads back as the same
    name (``MEMBER_ID`` -> ``member_id``), quoted exactly otherwise (``"Région"``, ``"café"``)."""
    return name.lower() if not needs_quotes(name) else quoted(name)


def split(text: str) -> list[str]:
    """The names of a comma-separated list as written (``a, "b, c"`` -> ``a``, ``"b, c"``): a comma
    inside a quoted name does not split it."""
    parts, current, inside = [], [], False
    for char in text:
        if char == '"':
            inside = not inside  # a doubled quote toggles twice: still inside
        if char == "," and not inside:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def resolve_all(names: Iterable[str]) -> list[str]:
    """:func:`resolve` of each name."""
    return [resolve(n) for n in names]


def schema(catalog: dict) -> "object":
    """A sqlglot schema of ``catalog`` (``{table: {column: type}}``, resolved names) whose names are
    taken as they are: sqlglot's own normalisation would upper-case quoted names with Python's
    rules, and costs a parse per name and table."""
    return _schema(tuple((t, tuple(columns.items())) for t, columns in catalog.items() if columns))


@lru_cache(maxsize=1024)
def _schema(tables: tuple) -> "object":
    """:func:`schema` of a catalog as a tuple, made once per process: the queries of a wide pipeline
    mostly read the same few tables, and sqlglot only reads a schema."""
    from sqlglot.schema import MappingSchema

    from engine.sql.parsing import dialect

    mapping = {t: {c: _datatype(k) for c, k in columns} for t, columns in tables}
    return MappingSchema(mapping, dialect=dialect(), normalize=False)


@lru_cache(maxsize=4096)
def _datatype(kind):
    """``kind`` (a Snowflake type name) parsed as sqlglot's schema parses it, once per process: a
    wide pipeline's queries read the same few types, and parsing them per query is most of typing
    them. A name sqlglot cannot read stays a string, for sqlglot to report where it did."""
    if not isinstance(kind, str):
        return kind
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    dialect = Dialect.get_or_raise("snowflake")
    try:
        datatype = exp.DataType.from_str(kind, dialect=dialect, udt=dialect.SUPPORTS_USER_DEFINED_TYPES)
    except Exception:  # noqa: BLE001 - sqlglot raises its own error for it when the type is asked for
        return kind
    return datatype.transform(dialect.normalize_identifier, copy=False)
