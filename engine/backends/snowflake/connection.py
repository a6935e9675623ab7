"""Finding and opening a Snowflake connection, and mapping the connector's errors.

The connector resolves connections itself (developer-guide/python-connector/
python-connector-connect, "Connecting using the connections.toml file"), and pipe lets it:
:func:`find_connection` asks the connector's own configuration manager, so pipe, ``snow`` and
``snowflake.connector.connect(connection_name=…)`` agree on

* the folder: ``$SNOWFLAKE_HOME`` (default ``~/.snowflake``), else the platform folder
  (``~/.config/snowflake`` on Linux);
* the files: ``[NAME]`` tables of ``connections.toml``, which, when present, replaces the
  ``[connections.*]`` tables of ``config.toml``; the ``SNOWFLAKE_CONNECTIONS`` variable (TOML
  text) replaces both;
* the name: ``-c/--connection NAME``, else ``SNOWFLAKE_DEFAULT_CONNECTION_NAME``, else
  ``default_connection_name`` in ``config.toml``, else ``default``;
* the permission check: a ``connections.toml`` writable by group or others is refused.

What pipe adds is the one-line error naming where it looked, and never a secret in a message or
a repr. The connector is imported only when a connection is resolved or opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import BackendError, ConnectionConfigError, Location

REDACTED = "****"
_SECRET_WORDS = ("password", "passcode", "token", "secret", "private_key", "passphrase")

# Snowflake error numbers worth a retry: the statement was cancelled or timed out, the session
# expired, or the service could not be reached.
_TRANSIENT_ERRNOS = frozenset({604, 630, 390114, 250001, 250003, 251011})
_TRANSIENT_CLASSES = frozenset(
    {
        "OperationalError",
        "InterfaceError",
        "InternalServerError",
        "ServiceUnavailableError",
        "GatewayTimeoutError",
        "BadGatewayError",
        "RequestTimeoutError",
        "TooManyRequests",
        "OtherHTTPRetryableError",
        "RequestExceedMaxRetryError",
    }
)


def is_secret(key: str) -> bool:
    """Whether a connection parameter holds a secret (password, private_key*, token…)."""
    key = key.lower()
    return any(word in key for word in _SECRET_WORDS)


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every secret value replaced by ``****``."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in params.items()}


@dataclass(frozen=True)
class ConnectionSettings:
    """A named connection read from a Snowflake configuration file.

    ``params`` are passed to ``snowflake.connector.connect``; they never appear in the repr.
    """

    name: str
    source: str
    params: Mapping[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return f"ConnectionSettings(name={self.name!r}, source={self.source!r}, params={redact(self.params)!r})"

    def describe(self) -> str:
        """``connection 'NAME' (account …, user …) from FILE``, without secrets."""
        who = ", ".join(f"{k} {self.params[k]}" for k in ("account", "user") if self.params.get(k))
        return f"connection '{self.name}'" + (f" ({who})" if who else "") + f" from {self.source}"

    def scrub(self, text: str) -> str:
        """``text`` with the value of every secret parameter replaced by ``****``."""
        for key, value in self.params.items():
            if is_secret(key) and isinstance(value, str) and len(value) >= 4:
                text = text.replace(value, REDACTED)
        return text


def config_files() -> tuple[Path, Path]:
    """``(connections.toml, config.toml)`` as the connector resolved them at import."""
    from snowflake.connector.config_manager import CONFIG_MANAGER

    connections = next((s.path for s in CONFIG_MANAGER._slices if s.section == "connections"), None)
    return Path(connections or "connections.toml"), Path(CONFIG_MANAGER.file_path or "config.toml")


def find_connection(name: str | None = None) -> ConnectionSettings:
    """The connection called ``name`` (or the default one), resolved by the connector.

    Args:
        name: ``-c/--connection``; None lets the connector pick its default.

    Raises:
        ConnectionConfigError: no such connection, a file the connector refuses (writable by
            group or others) or cannot read (not valid TOML).
    """
    from snowflake.connector.config_manager import CONFIG_MANAGER
    from snowflake.connector.errors import Error as ConnectorError

    connections_file, config_file = config_files()
    try:
        chosen = name or str(CONFIG_MANAGER["default_connection_name"])
        connections = CONFIG_MANAGER["connections"]
    except ConnectorError as exc:
        raise _config_error(exc, connections_file, config_file) from None
    connections = connections if isinstance(connections, Mapping) else {}
    where = _where(connections_file, config_file)
    section = connections.get(chosen)
    if isinstance(section, Mapping):
        return ConnectionSettings(chosen, where, dict(section))
    known = sorted(k for k, v in connections.items() if isinstance(v, Mapping))
    raise ConnectionConfigError(
        f"no Snowflake connection '{chosen}' configured (looked in {where})",
        hint=_missing_hint(chosen, known),
    )


def _where(connections_file: Path, config_file: Path) -> str:
    """Where the connector reads connections from, as a user would check it."""
    if os.environ.get("SNOWFLAKE_CONNECTIONS"):
        return "the SNOWFLAKE_CONNECTIONS environment variable"
    if connections_file.exists():
        return str(connections_file)
    return f"{connections_file} (absent), {config_file}"


def _config_error(exc: Exception, connections_file: Path, config_file: Path) -> ConnectionConfigError:
    """The connector's refusal of a configuration file, on one line, naming the file."""
    message = " ".join(str(getattr(exc, "raw_msg", None) or exc).split())
    message = re.sub(r"^\d{6}( \(\w+\))?: ", "", message)
    culprit = next((p for p in (connections_file, config_file) if str(p) in message), connections_file)
    if "writable by group or others" in message:
        return ConnectionConfigError(
            f"Snowflake's connector refuses {culprit}: it is writable by group or others",
            location=Location(file=str(culprit)),
            hint=f'run chmod 0600 "{culprit}"',
        )
    return ConnectionConfigError(
        f"cannot read the Snowflake configuration ({message})",
        location=Location(file=str(culprit)),
        hint="fix the file (it must be valid TOML)",
    )


def _missing_hint(name: str, known: list[str]) -> str:
    if known:
        return f"known connections: {', '.join(known)}; pass -c NAME or add a [{name}] section"
    return (
        f"add a [{name}] section with account, user and authenticator (plus password or "
        "private_key_file) to connections.toml, or pass -c NAME"
    )


def query_tag(pipeline_name: str) -> str:
    """The QUERY_TAG of pipe's sessions: find its statements in QUERY_HISTORY by it."""
    return f"pipe:{pipeline_name}"


def open_connection(
    settings: ConnectionSettings, *, connect: Callable[..., Any] | None = None, **session: Any
) -> Any:
    """Open a DB-API connection with the connector (imported here, on first use).

    Args:
        settings: the connection found by :func:`find_connection`.
        connect: the connector's ``connect`` (tests replace it); it is given the connection's
            name, for the connector to read its parameters itself, and ``session``.
        session: login settings that override the connection's (``warehouse``,
            ``session_parameters`` with QUERY_TAG).

    Raises:
        BackendError: the connector's reason, within its own login timeout; transient when the
            account could not be reached.
    """
    if connect is None:
        import snowflake.connector

        connect = snowflake.connector.connect
    try:
        return connect(connection_name=settings.name, **session)
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        code = _code(exc)
        raise BackendError(
            settings.scrub(f"cannot connect to Snowflake with {settings.describe()}: {_reason(exc)}"),
            transient=is_transient(exc),
            code=code,
            hint=f"check account, user and authentication in {settings.source}",
        ) from None


def is_transient(exc: BaseException) -> bool:
    """Whether a connector error may succeed if retried (network, timeout, expired session)."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno in _TRANSIENT_ERRNOS:
        return True
    return any(cls.__name__ in _TRANSIENT_CLASSES for cls in type(exc).__mro__)


def statement_error(exc: BaseException, statement: str, *, table: str | None = None) -> BackendError:
    """A :class:`BackendError` naming the failing statement, Snowflake's code and message."""
    code = _code(exc)
    sqlstate = getattr(exc, "sqlstate", None)
    state = f" ({sqlstate})" if sqlstate and sqlstate != "n/a" else ""
    number = f"{code}{state}: " if code else ""
    return BackendError(
        f"Snowflake failed on `{first_line(statement)}`: {number}{_reason(exc)}",
        transient=is_transient(exc),
        code=code,
        location=Location(table=table) if table else None,
    )


def first_line(statement: str, width: int = 100) -> str:
    """The statement's first line, shortened to ``width`` characters."""
    line = statement.strip().splitlines()[0] if statement.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the driver: connector errors (and doubles shaped like them)
    carry an ``errno`` and a ``sqlstate``; anything else is a bug in pipe and propagates."""
    return hasattr(exc, "errno") and hasattr(exc, "sqlstate")


def _code(exc: BaseException) -> str | None:
    errno = getattr(exc, "errno", None)
    return f"{errno:06d}" if isinstance(errno, int) and errno > 0 else None


def _reason(exc: BaseException) -> str:
    """The connector's message without its own ``errno (sqlstate):`` prefix, on one line."""
    text = getattr(exc, "raw_msg", None) or str(exc)
    text = re.sub(r"^\d{6}( \(\w+\))?: ", "", str(text))
    return " ".join(text.split())
