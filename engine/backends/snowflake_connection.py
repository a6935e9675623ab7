"""Finding and opening a Snowflake connection, and mapping the connector's errors.

Connections follow Snowflake's own conventions (developer-guide/python-connector/
python-connector-connect, "Connecting using the connections.toml file"):

* files live in ``$SNOWFLAKE_HOME`` (default ``~/.snowflake``; when that folder does not exist
  the connector falls back to its platform folder, ``~/.config/snowflake`` on Linux);
* a connection is a ``[NAME]`` table in ``connections.toml`` or ``[connections.NAME]`` in
  ``config.toml``;
* its name is ``-c/--connection NAME``, else ``SNOWFLAKE_DEFAULT_CONNECTION_NAME``, else
  ``default_connection_name`` in ``config.toml``, else ``default``.

The section's keys go to ``snowflake.connector.connect`` unchanged, so every authenticator the
connector supports (password, key pair, externalbrowser, OAuth…) works. The connector is
imported only when a connection is opened. Secrets are never part of a message or a repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import BackendError, ConnectionConfigError, Location

DEFAULT_NAME = "default"
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
    source: Path
    params: Mapping[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        return f"ConnectionSettings(name={self.name!r}, source={str(self.source)!r}, params={redact(self.params)!r})"

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


def snowflake_home(env: Mapping[str, str] | None = None) -> Path:
    """The folder holding ``connections.toml`` and ``config.toml``, as the connector finds it."""
    env = os.environ if env is None else env
    home = Path(env.get("SNOWFLAKE_HOME") or "~/.snowflake").expanduser()
    if home.exists():
        return home
    return _platform_config_dir(env) or home


def _platform_config_dir(env: Mapping[str, str]) -> Path | None:
    """The connector's fallback folder when ``$SNOWFLAKE_HOME`` does not exist (if it does)."""
    if env is not os.environ:
        return None  # platformdirs reads os.environ: an injected environment stays hermetic
    try:
        from platformdirs import PlatformDirs
    except ImportError:  # pragma: no cover - platformdirs ships with the connector
        return None
    path = Path(PlatformDirs(appname="snowflake", appauthor=False).user_config_path)
    return path if path.exists() else None


def config_files(env: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """``(connections.toml, config.toml)`` under :func:`snowflake_home`."""
    home = snowflake_home(env)
    return home / "connections.toml", home / "config.toml"


def find_connection(name: str | None = None, *, env: Mapping[str, str] | None = None) -> ConnectionSettings:
    """The connection called ``name`` (or the default one) from the Snowflake config files.

    Args:
        name: ``-c/--connection``; None picks ``SNOWFLAKE_DEFAULT_CONNECTION_NAME``, then
            ``default_connection_name`` in config.toml, then ``default``.
        env: the environment to read (tests); defaults to ``os.environ``.

    Raises:
        ConnectionConfigError: no such connection, or a file that is not valid TOML.
    """
    env = os.environ if env is None else env
    connections_file, config_file = config_files(env)
    connections = _read_toml(connections_file)
    config = _read_toml(config_file)
    chosen = (
        name or env.get("SNOWFLAKE_DEFAULT_CONNECTION_NAME") or config.get("default_connection_name") or DEFAULT_NAME
    )
    in_config = config.get("connections") if isinstance(config.get("connections"), dict) else {}
    for source, sections in ((connections_file, connections), (config_file, in_config)):
        section = sections.get(chosen)
        if isinstance(section, dict):
            return ConnectionSettings(chosen, source, dict(section))
    known = sorted({k for s in (connections, in_config) for k, v in s.items() if isinstance(v, dict)})
    raise ConnectionConfigError(
        f"no Snowflake connection '{chosen}' configured (looked in {connections_file}, {config_file})",
        hint=_missing_hint(chosen, known),
    )


def _missing_hint(name: str, known: list[str]) -> str:
    if known:
        return f"known connections: {', '.join(known)}; pass -c NAME or add a [{name}] section"
    return (
        f"add a [{name}] section with account, user and authenticator (plus password or "
        "private_key_file) to connections.toml, or pass -c NAME"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        import tomllib

        return tomllib.loads(text)
    except ImportError:  # pragma: no cover - Python 3.10: the connector's own TOML parser
        import tomlkit

        try:
            return tomlkit.parse(text).unwrap()
        except Exception as exc:
            raise _toml_error(path, exc) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError; its message holds a position, not values
        raise _toml_error(path, exc) from None


def _toml_error(path: Path, exc: Exception) -> ConnectionConfigError:
    return ConnectionConfigError(
        f"{path} is not valid TOML: {exc}", location=Location(file=str(path)), hint="fix the file"
    )


def open_connection(settings: ConnectionSettings, *, connect: Callable[..., Any] | None = None) -> Any:
    """Open a DB-API connection with the connector (imported here, on first use).

    Args:
        settings: the connection found by :func:`find_connection`.
        connect: the connector's ``connect`` (tests replace it).

    Raises:
        BackendError: the connector's reason, within its own login timeout; transient when the
            account could not be reached.
    """
    if connect is None:
        import snowflake.connector

        connect = snowflake.connector.connect
    try:
        return connect(**settings.params)
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
