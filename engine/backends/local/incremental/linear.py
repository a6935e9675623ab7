"""Row-wise queries: a change of one input maps to the change of the output row by row.

A query without aggregation, windows, DISTINCT or LIMIT whose changed input is read once, in its
FROM or an inner join (never on the side of an outer join that is filled with NULLs), maps each
input row to output rows on its own: joined to the other inputs, which did not change, and
flattened (``LATERAL FLATTEN``) row by row. The output's change is then the query evaluated
over the input's change alone, each row carrying the sign of the input row it came from.
Nothing of the table or of the input is read but the change: the output rows that go are found
by their key (and when none go, as when rows are only added upstream, nothing is looked up).
"""

from __future__ import annotations

from sqlglot import exp

from engine import names
from engine.backends.local.incremental.trees import column, columns, fill, temp

DELTA = "__PIPE_DELTA"  # the input's change, with __SIGN (see ChangeLog.materialise)
# Functions whose value is not a function of the row: a row-wise change cannot follow them.
_VOLATILE = (exp.Rand, exp.Randn, exp.Uuid, exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime,
             exp.CurrentDatetime)
_VOLATILE_NAMES = {"RANDOM", "UUID", "GEN_RANDOM_UUID", "NOW", "TODAY", "GET_CURRENT_TIMESTAMP", "SETSEED",
                   "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "TRANSACTION_TIMESTAMP"}


def row_wise(query: exp.Expression, table: str) -> bool:
    """Whether ``query`` (a DuckDB tree) maps changes of input ``table`` row by row."""
    if not isinstance(query, exp.Select) or any(isinstance(e, exp.Star) for e in query.expressions):
        return False
    if any(query.args.get(k) for k in ("with", "group", "having", "qualify", "distinct", "limit", "offset")):
        return False
    if query.find(exp.AggFunc, exp.Window, *_VOLATILE):
        return False
    if any(f.name.upper() in _VOLATILE_NAMES for f in query.find_all(exp.Anonymous)):
        return False
    reads = _reads(query, table)
    if len(reads) != 1:
        return False
    read = reads[0]
    joins = query.args.get("joins") or []
    if any(j.side in ("RIGHT", "FULL") for j in joins):
        return False
    place = read.parent
    if isinstance(place, exp.From):
        return place.parent is query
    return (isinstance(place, exp.Join) and place.parent is query and not place.side
            and place.kind in ("", "INNER", "CROSS"))


def _reads(query: exp.Expression, table: str) -> list[exp.Table]:
    """Where ``query`` reads input ``table``."""
    return [t for t in query.find_all(exp.Table) if isinstance(t.this, exp.Identifier) and names.of(t.this) == table]


def _over_delta(query: exp.Select, table: str) -> tuple[exp.Select, str]:
    """A copy of ``query`` reading ``__PIPE_DELTA`` where it read ``table`` (under the name the
    query gives it), and that name."""
    tree = query.copy()
    read = _reads(tree, table)[0]
    alias = read.alias_or_name
    read.replace(exp.alias_(temp(DELTA), exp.to_identifier(alias, quoted=True), table=True))
    return tree, alias


def netted(changes: str) -> str:
    """SQL of the rows of ``changes`` (a query of rows with ``__SIGN``) netted: a row written and
    removed again within the change (e.g. one a failed refresh never applied, then fixed) cancels
    out, so the query never evaluates what the input no longer holds."""
    return (
        'SELECT * EXCLUDE ("__PIPE_NET", "__PIPE_I"), CAST(sign("__PIPE_NET") AS TINYINT) AS __SIGN FROM '
        f'(SELECT * EXCLUDE (__SIGN), CAST(sum(__SIGN) AS BIGINT) AS "__PIPE_NET" FROM ({changes}) AS "__C" GROUP BY ALL '
        'HAVING sum(__SIGN) <> 0) AS "__N", range(abs("__PIPE_NET")) AS "__PIPE_COPY"("__PIPE_I")'
    )


def signed_change(query: exp.Select, table: str, output: list[str]) -> exp.Select:
    """The output's change from the change of ``table`` (in ``__PIPE_DELTA``): each output row
    (``output``: the table's columns) with ``__PIPE_COPIES``, how many copies of it appear (above
    zero) or go (below); the form :meth:`ChangeLog.record_counted` logs."""
    tree, alias = _over_delta(query, table)
    sign = exp.column("__SIGN", table=exp.to_identifier(alias, quoted=True), quoted=True)
    tree = tree.select(exp.alias_(sign, exp.to_identifier("__PIPE_SIGN", quoted=True)))
    return fill(
        'SELECT __X_columns, CAST(sum("__PIPE_SIGN") AS BIGINT) AS "__PIPE_COPIES" FROM __X_rows AS "__Q" '
        'GROUP BY ALL HAVING sum("__PIPE_SIGN") <> 0',
        columns=columns(output), rows=tree,
    )


def inserted_change(query: exp.Select, table: str, output: list[str]) -> exp.Select:
    """:func:`signed_change` when the change of ``table`` only inserts rows (every ``__SIGN`` is
    1, and nothing needs netting): each output row once, with one copy."""
    tree, _ = _over_delta(query, table)
    return fill('SELECT __X_columns, CAST(1 AS BIGINT) AS "__PIPE_COPIES" FROM __X_rows AS "__Q"',
                columns=columns(output), rows=tree)


def gone_rows(target: exp.Table, output: list[str]) -> exp.Select:
    """The rowids of ``target``'s rows to delete: of its rows listed in ``__PIPE_ROWS`` (those
    holding a key of a row that goes), as many copies of each row as ``__PIPE_DIFF`` says go."""
    match = exp.and_(*[exp.NullSafeEQ(this=column(c, "p"), expression=column(c, "m")) for c in output])
    return fill(
        """SELECT p."__PIPE_R" FROM (
               SELECT rowid AS "__PIPE_R", __X_columns, row_number() OVER (PARTITION BY __X_columns) AS "__PIPE_N"
               FROM __X_target WHERE rowid IN (SELECT R FROM __PIPE_ROWS)) AS p
           JOIN (SELECT __X_columns, -"__PIPE_COPIES" AS "__PIPE_C" FROM __PIPE_DIFF WHERE "__PIPE_COPIES" < 0) AS m
           ON __X_match AND p."__PIPE_N" <= m."__PIPE_C"
        """,
        columns=columns(output), target=target, match=match,
    )
