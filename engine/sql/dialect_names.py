"""Names: result column names as Snowflake returns them, identifier case, qualified table names.

Snowflake upper-cases unquoted identifiers and keeps quoted ones as written. DuckDB matches
identifiers case-insensitively but returns result columns as spelled in the query. So the
translation upper-cases every unquoted identifier and quotes all identifiers on output, and
gives every projection an explicit alias: the name Snowflake would return.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from engine import names
from engine.sql.parsing import dialect


def name_outputs(tree: exp.Expression, sql: str | None = None) -> None:
    """Alias each projection of each SELECT with the column name Snowflake would give it.

    Must run on the Snowflake tree, before identifiers are normalized: whether a name was
    quoted decides its case. Given the statement's text, an expression is named after its
    text as written, upper-cased, as Snowflake names it (``TO_VARCHAR(LOG(3,4))``).
    """
    tokens: list[Token] | None = None  # once, when first needed: a query nests many SELECTs
    tokenized = False
    for select in list(tree.find_all(exp.Select)):
        texts = None
        if sql and not all(isinstance(p, (exp.Alias, exp.Column, exp.Star)) for p in select.expressions):
            if not tokenized:  # only an expression without an alias is named after its text
                tokens, tokenized = _tokens(sql), True
            texts = _projection_texts(select, sql, tokens) if tokens else None
        named = []
        for index, projection in enumerate(select.expressions):
            name = _output_name(projection, texts[index] if texts else None)
            if name is not None:
                projection = exp.alias_(projection.unalias(), exp.to_identifier(name, quoted=True))
            named.append(projection)
        select.set("expressions", named)


def name_values_columns(tree: exp.Expression) -> None:
    """Name the columns of ``FROM VALUES (...)`` COLUMN1, COLUMN2, ... as Snowflake does.

    DuckDB names them col0, col1, ...; an explicit column list is kept.
    """
    for values in tree.find_all(exp.Values):
        if not isinstance(values.parent, (exp.From, exp.Join)) or not values.expressions:
            continue
        alias = values.args.get("alias")
        if alias is not None and alias.columns:
            continue
        width = len(values.expressions[0].expressions)
        columns = [exp.to_identifier(f"COLUMN{i}", quoted=True) for i in range(1, width + 1)]
        name = alias.this if alias is not None and alias.this else exp.to_identifier("VALUES", quoted=True)
        values.set("alias", exp.TableAlias(this=name, columns=columns))


_CLAUSE_ENDS = {
    TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING, TokenType.QUALIFY,
    TokenType.ORDER_BY, TokenType.LIMIT, TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT,
    TokenType.WINDOW, TokenType.INTO, TokenType.SEMICOLON,
}
_OPENING = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSING = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}


def _tokens(sql: str) -> list[Token] | None:
    """``sql``'s Snowflake tokens, or None when it does not tokenize."""
    try:
        return Snowflake().tokenize(sql)
    except TokenError:
        return None


def _projection_texts(select: exp.Select, sql: str, tokens: list[Token]) -> list[str] | None:
    """The source text of each projection of ``select`` (``tokens``: those of ``sql``), or None
    when it cannot be told apart."""
    starts = [n.meta["start"] for p in select.expressions for n in p.walk() if "start" in n.meta]
    if not starts:
        return None
    first = min(starts)
    heads = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SELECT and t.end < first]
    if not heads:
        return None
    pieces: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[heads[-1] + 1:]:
        if depth == 0 and (token.token_type in _CLAUSE_ENDS or token.token_type in _CLOSING):
            break
        if token.token_type in _OPENING:
            depth += 1
        elif token.token_type in _CLOSING:
            depth -= 1
        if depth == 0 and token.token_type == TokenType.COMMA:
            pieces.append([])
        else:
            pieces[-1].append(token)
    if pieces and pieces[0] and pieces[0][0].token_type in (TokenType.DISTINCT, TokenType.ALL):
        pieces[0] = pieces[0][1:]
    if len(pieces) != len(select.expressions) or not all(pieces):
        return None
    return [sql[piece[0].start:piece[-1].end + 1] for piece in pieces]


def _output_name(projection: exp.Expression, text: str | None = None) -> str | None:
    if isinstance(projection, exp.Alias):
        return _identifier_name(projection.args["alias"])
    if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star):
        return None
    if isinstance(projection, exp.Column):
        return _identifier_name(projection.this)
    # Snowflake names an expression column after its text, upper-cased (quoted parts too:
    # `v:"Loan Number"::VARCHAR` comes back as V:"LOAN NUMBER"::VARCHAR).
    if text is not None:
        return text.upper()
    return _typed_text(projection).upper()


def _typed_text(projection: exp.Expression) -> str:
    """A projection written the way it is usually typed (``v:a.b::NUMBER``), for its column name:
    variant paths, ``::`` casts and ``CURRENT_DATE()`` are written by hand, as text nodes (sqlglot's
    compiled build does not let its generators be subclassed), and the rest by sqlglot."""
    copy = projection.copy()
    for node in reversed(list(copy.walk(bfs=False))):  # innermost first: an outer one reads its text
        if type(node) is exp.JSONExtract:
            text = f"{_sql(node.this)}:{_path_text(node.expression)}"
        elif type(node) is exp.Cast:
            text = f"{_sql(node.this)}::{_sql(node.args['to'])}"
        elif type(node) in (exp.CurrentDate, exp.CurrentTimestamp):
            # Written with their parentheses, as in Snowflake's docs and column names.
            text = "CURRENT_DATE()" if isinstance(node, exp.CurrentDate) else "CURRENT_TIMESTAMP()"
        else:
            continue
        if node is copy:
            return text
        node.replace(exp.Var(this=text))
    return _sql(copy)


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="snowflake")


def _path_text(path: exp.Expression) -> str:
    text = ""
    for part in path.expressions:
        if isinstance(part, exp.JSONPathKey):
            key = f'"{part.this}"' if part.args.get("quoted") else part.this
            text += f".{key}" if text else key
        elif isinstance(part, exp.JSONPathSubscript):
            text += f"[{part.this}]"
    return text


def _identifier_name(identifier: exp.Expression) -> str:
    return names.of(identifier)


def strip_local_qualifiers(tree: exp.Expression, database: str | None, schema: str | None) -> None:
    """Reduce ``DB.SCHEMA.T`` and ``SCHEMA.T`` to ``T`` when they name the local schema.

    The local DuckDB connection has that schema on its search path, so the bare name resolves.
    Names in another database or schema are left alone.
    """
    for table in tree.find_all(exp.Table):
        if _is_local(table.args.get("catalog"), table.args.get("db"), database, schema):
            table.set("catalog", None)
            table.set("db", None)
    for column in tree.find_all(exp.Column):
        if _is_local(column.args.get("catalog"), column.args.get("db"), database, schema):
            column.set("catalog", None)
            column.set("db", None)


def _is_local(catalog: exp.Expression | None, db: exp.Expression | None,
              database: str | None, schema: str | None) -> bool:
    if db is None:
        return False
    if schema is None or not _same(db, schema):
        return False
    return catalog is None or (database is not None and _same(catalog, database))


def _same(identifier: exp.Expression, name: str) -> bool:
    """Whether ``identifier`` names ``name`` (a resolved name, see engine.names)."""
    return names.of(identifier) == name


def normalize(tree: exp.Expression) -> exp.Expression:
    """Upper-case unquoted identifiers, as Snowflake resolves them."""
    return normalize_identifiers(tree, dialect=dialect())  # (one dialect, not one per call)
