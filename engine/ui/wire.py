"""Read commands sent between pipe processes: what the owner answers, and how values travel.

``pipe status``, ``pipe history`` and ``pipe query`` (read-only statements) run in the process that
holds the database (:mod:`engine.ui.owner`); their results come back as JSON in which timestamps,
dates, decimals and byte strings keep their Python types, so the asking command prints exactly
what it would have printed with the database to itself. Errors travel with their class, location
and hint, and are raised again on the asking side.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from engine import errors
from engine.backends.base import ObjectStatus, QueryResult, RefreshRecord
from engine.errors import Location, PipeError

READ_COMMANDS = ("status", "history", "query")


class NotReadOnly(PipeError):
    """A forwarded statement would write: only the owner may, from its page or after it stops."""


# -- the owner's side -----------------------------------------------------------------------------


def answer(command: str, body: dict[str, Any], worker) -> bytes:
    """Run read ``command`` with ``body``'s arguments under ``worker``'s lock; the JSON answer.

    Raises:
        NotReadOnly: a query would change the database.
        PipeError: the command failed (the caller sends it back with :func:`error`).
    """
    if command == "status":
        result = worker.read(lambda backend: backend.status())
        return _dumps({"status": [_record(s) for s in result]})
    if command == "history":
        names = [str(n) for n in body.get("names") or []]  # as typed: the backend resolves them
        limit = body.get("limit")
        limit = int(limit) if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        result = worker.read(lambda backend: backend.history(names=names, limit=limit))
        return _dumps({"history": [_record(r) for r in result]})
    if command == "query":
        sql = body.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise PipeError("no SQL to run", hint="pass one Snowflake SQL statement")
        check_read_only(sql)
        result = worker.read(lambda backend: backend.query(sql))
        return _dumps({"query": {"columns": list(result.columns), "rows": [list(r) for r in result.rows],
                                 "types": list(result.types)}})
    raise PipeError(f"{command!r} is not a read command", hint=f"send one of {', '.join(READ_COMMANDS)}")


def check_read_only(sql: str) -> None:
    """Refuse a statement that is not a query, SHOW or DESCRIBE.

    Raises:
        NotReadOnly: it would write (or cannot be shown not to).
    """
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="snowflake") if s is not None]
    except sqlglot.errors.ParseError:
        return  # not SQL at all: the owner's query reports the syntax error with its position
    for statement in statements:
        if isinstance(statement, (exp.Query, exp.Describe, exp.Show)):
            continue
        if isinstance(statement, exp.Command) and str(statement.this).upper() in ("SHOW", "DESCRIBE", "DESC"):
            continue
        kind = str(statement.this).upper() if isinstance(statement, exp.Command) else statement.key.upper()
        raise NotReadOnly(f"{kind} statements change the database, and another pipe process holds it")


def error(exc: PipeError) -> bytes:
    """``exc`` as JSON, for the asking process to raise again."""
    payload = {
        "class": type(exc).__name__,
        "message": exc.message,
        "hint": exc.hint,
        "location": dataclasses.asdict(exc.location),
        "sql": getattr(exc, "sql", None),
        "sql_line": getattr(exc, "sql_line", None),
        "sql_column": getattr(exc, "sql_column", None),
    }
    return _dumps({"error": payload})


# -- the asking side ------------------------------------------------------------------------------


def decode(raw: bytes, key: str) -> Any:
    """The ``key`` of an answer made by :func:`answer`, as Python objects.

    Raises:
        PipeError: the owner answered with an error (raised again as its own class).
    """
    payload = json.loads(raw)
    if payload.get("error") is not None:
        raise _error(payload["error"])
    value = _decode(payload[key])
    if key == "status":
        return [ObjectStatus(**item) for item in value]
    if key == "history":
        return [RefreshRecord(**item) for item in value]
    return QueryResult(value["columns"], [tuple(row) for row in value["rows"]], value["types"])


def _error(payload: Any) -> PipeError:
    if not isinstance(payload, dict):
        return PipeError(str(payload))
    kind = getattr(errors, str(payload.get("class")), PipeError)
    if not (isinstance(kind, type) and issubclass(kind, PipeError)):
        kind = PipeError
    location = Location(**(payload.get("location") or {}))
    if issubclass(kind, errors.SqlError):
        return errors.SqlError(payload["message"], location=location, hint=payload.get("hint"), sql=payload.get("sql"),
                               sql_line=payload.get("sql_line"), sql_column=payload.get("sql_column"))
    exc = PipeError.__new__(kind)
    PipeError.__init__(exc, payload["message"], location=location, hint=payload.get("hint"))
    return exc


# -- values ---------------------------------------------------------------------------------------


def _record(item: Any) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def _dumps(payload: Any) -> bytes:
    return json.dumps(_encode(payload), allow_nan=False).encode()


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {"$": "float", "v": repr(value)}
    if isinstance(value, datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$": "timedelta", "v": value.total_seconds()}
    if isinstance(value, Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        encoded = {str(k): _encode(v) for k, v in value.items()}
        return {"$": "object", "v": encoded} if "$" in encoded else encoded
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return str(value)  # UUIDs and the like print as their text


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda v: timedelta(seconds=v),
    "decimal": Decimal,
    "bytes": base64.b64decode,
    "float": float,
}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        tag = value.get("$")
        if tag == "object":
            return {k: _decode(v) for k, v in value["v"].items()}
        if tag in _DECODERS:
            return _DECODERS[tag](value["v"])
        return {k: _decode(v) for k, v in value.items()}
    return value
