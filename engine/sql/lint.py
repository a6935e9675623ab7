"""What Snowflake would decide about a dynamic table's query: incremental or full, and why.

The rules follow the Snowflake docs (user-guide/dynamic-tables-supported-queries): a query
refreshes incrementally unless it uses a construct incremental refresh does not support.
"""

from __future__ import annotations

from sqlglot import exp

from engine.kinds import RefreshMode
from engine.sql import dialect_differences
from engine.sql.facts import Finding, RefreshDecision
from engine.sql.parsing import start_column

# sqlglot parses Snowflake's CURRENT_TIME as Localtime (where it has that class).
NON_DETERMINISTIC = tuple(
    getattr(exp, name)
    for name in ("CurrentTimestamp", "CurrentDate", "CurrentTime", "CurrentDatetime", "Localtime")
    if hasattr(exp, name)
)
_ALLOWED_CLAUSES = (exp.Where, exp.Having, exp.Qualify)


def analyze(query: exp.Expression) -> RefreshDecision:
    """Decide the refresh mode AUTO would pick for ``query`` and collect warnings."""
    findings: list[Finding] = []
    warnings: list[Finding] = []
    for node in query.walk():
        difference = dialect_differences.find(node)
        if difference is not None:
            warnings.append(Finding(difference.construct, f"{difference.reason} (local engine)", *_position(node)))
        finding = _blocker(node) if isinstance(node, _BLOCKERS) else None
        if finding:
            findings.append(finding)
        if isinstance(node, NON_DETERMINISTIC) and not _inside(node, _ALLOWED_CLAUSES):
            name = _function_name(node)
            at = _position(node)
            warnings.append(
                Finding(
                    name,
                    f"{name} outside WHERE/HAVING/QUALIFY is evaluated at each refresh, so the table "
                    "does not equal its query at any one time; Snowflake's docs advise using it only "
                    "in WHERE, HAVING or QUALIFY",
                    *at,
                )
            )
            findings.append(Finding(name, f"{name} outside WHERE/HAVING/QUALIFY", *at))
    unique = tuple(dict.fromkeys(findings))
    if unique:
        reason = "not incremental: " + "; ".join(dict.fromkeys(f.reason for f in unique))
        return RefreshDecision(RefreshMode.FULL, reason, unique, tuple(warnings))
    return RefreshDecision(RefreshMode.INCREMENTAL, "every construct supports incremental refresh", (), tuple(warnings))


# The kinds of node :func:`_blocker` looks further at (most nodes of a query are none of them).
_BLOCKERS = (exp.Except, exp.Intersect, exp.Limit, exp.Fetch, exp.Subquery, exp.Select, exp.Exists, exp.AnyValue,
             exp.Seq1, exp.Seq2, exp.Seq4, exp.Seq8, exp.TableFromRows, exp.Lateral)


def _blocker(node: exp.Expression) -> Finding | None:
    if isinstance(node, exp.Except):
        return Finding("EXCEPT/MINUS", "EXCEPT/MINUS", *_position(node))
    if isinstance(node, exp.Intersect):
        return Finding("INTERSECT", "INTERSECT", *_position(node))
    if isinstance(node, (exp.Limit, exp.Fetch)):
        return Finding("LIMIT", "LIMIT", *_position(node))
    if isinstance(node, exp.Subquery) or (isinstance(node, exp.Select) and isinstance(node.parent, exp.In)):
        if not _in_from(node):
            return Finding("subquery", "subquery outside FROM", *_position(node))
    if isinstance(node, exp.Exists):
        return Finding("EXISTS", "subquery outside FROM", *_position(node))
    if isinstance(node, exp.AnyValue) and not isinstance(node.parent, exp.Window):
        # Release note 2026-09-23 (non-deterministic aggregates in incremental refresh):
        # "ANY_VALUE remains unsupported".
        return Finding("ANY_VALUE", "ANY_VALUE", *_position(node))
    if isinstance(node, (exp.Seq1, exp.Seq2, exp.Seq4, exp.Seq8)):
        # SEQn numbers the rows of one evaluation (sql-reference/functions/seq1): over the changed
        # rows alone it would number them again from 0, so only a full recompute gives its values.
        name = node.key.upper()
        return Finding(name, f"{name} (numbers the rows of each evaluation)", *_position(node))
    if isinstance(node, exp.TableFromRows) or (isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Explode)):
        fn = node.this
        if not isinstance(fn, exp.Explode):
            name = fn.name.upper() if isinstance(fn, exp.Anonymous) else fn.key.upper()
            return Finding(name, f"table function {name} (only LATERAL FLATTEN is incremental)", *_position(node))
    return None


def _in_from(node: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None and isinstance(parent, (exp.Subquery, exp.Paren)):
        parent = parent.parent
    return isinstance(parent, (exp.From, exp.Join)) or isinstance(node.parent, (exp.From, exp.Join))


def _inside(node: exp.Expression, kinds: tuple[type, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, kinds):
            return True
        if isinstance(parent, exp.Select):
            return False
        parent = parent.parent
    return False


def _function_name(node: exp.Expression) -> str:
    names = {
        "CurrentTimestamp": "CURRENT_TIMESTAMP",
        "CurrentDate": "CURRENT_DATE",
        "CurrentTime": "CURRENT_TIME",
        "Localtime": "CURRENT_TIME",
        "CurrentDatetime": "CURRENT_DATETIME",
    }
    return names.get(type(node).__name__, node.key.upper())


def _position(node: exp.Expression) -> tuple[int | None, int | None]:
    """The SQL line and column of a node, from the first token recorded beneath it."""
    for sub in node.walk():
        meta = getattr(sub, "_meta", None) or {}
        if "line" in meta:
            return meta.get("line"), start_column(meta)
    return None, None
