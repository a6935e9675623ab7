"""``TABLE(GENERATOR(ROWCOUNT => n))`` and SEQ1 / SEQ2 / SEQ4 / SEQ8, on DuckDB's ``range``.

Snowflake's reference:

* GENERATOR (sql-reference/functions/generator): ``ROWCOUNT => count`` gives ``count`` rows with
  no columns of their own, the projection computes them; a NULL or omitted ROWCOUNT gives no rows.
  ``TIMELIMIT => sec`` generates for ``sec`` seconds, so its row count "is not entirely
  deterministic": it is refused here, as is a ROWCOUNT that is not a constant.
* SEQ1 / SEQ2 / SEQ4 / SEQ8 (sql-reference/functions/seq1): monotonically increasing integers
  from 0 that wrap around after the largest integer of 1, 2, 4 or 8 bytes; with the sign
  argument 1 they continue at the smallest (most negative) integer of that width, with 0 (the
  default) at 0. Snowflake may leave gaps; locally the sequence has none, which is one of the
  sequences Snowflake may give.

Locally the generator is DuckDB's ``range(count)``, whose column ``range`` counts its rows from 0.
A SEQ function in a SELECT reading one generator alone is that column wrapped to its width; elsewhere it
numbers the rows the SELECT returns (``row_number() OVER () - 1``), which DuckDB allows only in the
select list and ORDER BY, so it is refused anywhere else. ``SELECT *`` of a generator is refused:
its rows have no columns on Snowflake, and ``range`` is DuckDB's.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck

_BITS = {exp.Seq1: 8, exp.Seq2: 16, exp.Seq4: 32, exp.Seq8: 64}
_ROW_NUMBER = "(row_number() OVER () - 1)"


def check(tree: exp.Expression) -> None:
    """Refuse a GENERATOR the local engine cannot run, and each SEQ function it cannot place (first pass)."""
    for generator in list(tree.find_all(exp.Generator)):
        _check(generator)
    for select in tree.find_all(exp.Select):
        star = next((p for p in select.expressions if isinstance(p, exp.Star)
                     or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))), None)
        if star is not None and _reads_generator(select):
            raise Untranslatable("SELECT * of a GENERATOR", select, keyword="*",
                                 hint="its rows have no columns: select the expressions that fill them (SEQ4(), ...)")
    for node in tree.find_all(*_BITS):
        _base(node)


def rewrite_sequences(tree: exp.Expression) -> None:
    """Rewrite each SEQ function of ``tree`` (in place; after the output columns are named)."""
    for node in list(tree.find_all(*_BITS)):
        node.replace(_sequence(node))


def _check(generator: exp.Generator) -> None:
    if generator.args.get("timelimit") is not None and not isinstance(generator.args["timelimit"], exp.Null):
        raise Untranslatable("GENERATOR(TIMELIMIT => ...)", keyword="TIMELIMIT",
                             hint="its row count depends on the machine's speed; give ROWCOUNT => n alone")
    count = generator.args.get("rowcount")
    if count is None or isinstance(count, exp.Null):
        generator.set("rowcount", exp.Literal.number(0))
    elif not (isinstance(count, exp.Literal) and not count.is_string and count.name.isdigit()):
        raise Untranslatable("GENERATOR with a ROWCOUNT that is not a non-negative integer constant", keyword="ROWCOUNT", hint="Snowflake requires a constant: write the number")


def _base(node: exp.Expression) -> str:
    """The DuckDB expression counting rows from 0 that SEQ ``node`` wraps, or Untranslatable."""
    sign = node.this
    if sign is not None and not (isinstance(sign, exp.Literal) and sign.name in ("0", "1")):
        raise Untranslatable(f"{node.key.upper()} with a sign argument other than 0 or 1", node,
                             keyword=node.key.upper(), hint=f"write {node.key.upper()}(0) or {node.key.upper()}(1)")
    select = node.find_ancestor(exp.Select)
    if select is not None and _reads_generator(select, alone=True):
        return "range"
    if _in_projection_or_order(node, select):
        return _ROW_NUMBER
    raise Untranslatable(f"{node.key.upper()} outside the select list of a query", node, keyword=node.key.upper(),
                         hint="number rows in the select list, or read TABLE(GENERATOR(ROWCOUNT => n))")


def _sequence(node: exp.Expression) -> exp.Expression:
    bits = _BITS[type(node)]
    sign = node.this
    base = _base(node)
    modulus = 2 ** bits
    if sign is not None and sign.name == "1":
        half = modulus // 2
        return duck(f"CAST(({base} + {half}) % {modulus} - {half} AS BIGINT)")
    if bits == 64:
        return duck(f"CAST({base} AS BIGINT)")
    return duck(f"CAST({base} % {modulus} AS BIGINT)")


def _reads_generator(select: exp.Select, *, alone: bool = False) -> bool:
    """Whether ``select`` reads a GENERATOR (``alone``: and nothing else, so its rows are the generator's)."""
    sources = [s for s in [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
               if s is not None]
    generators = [s for s in sources if isinstance(s.this, exp.TableFromRows) and isinstance(s.this.this, exp.Generator)]
    return bool(generators) and (not alone or len(sources) == 1)


def _in_projection_or_order(node: exp.Expression, select: exp.Select | None) -> bool:
    if select is None:
        return False
    ancestor = node
    while ancestor.parent is not select:
        ancestor = ancestor.parent
        if ancestor is None or isinstance(ancestor, (exp.AggFunc, exp.Window, exp.Where, exp.Having, exp.Group,
                                                     exp.Qualify)):
            return False
    return ancestor.arg_key in ("expressions", "order")
