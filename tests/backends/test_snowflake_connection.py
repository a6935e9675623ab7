"""Finding the Snowflake connection the way Snowflake's tools do, opening it, and keeping secrets out."""

from __future__ import annotations

from pathlib import Path

import pytest
import snowflake.connector
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from engine.backends.snowflake import SnowflakeBackend
from engine.backends.snowflake.connection import (
    ConnectionSettings,
    find_connection,
    is_transient,
    open_connection,
    redact,
    statement_error,
)
from engine.errors import BackendError, ConnectionConfigError
from engine.graph import build_graph
from engine.spec import load_pipeline

from .snowflake_double import FakeSnowflake

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "snowflake" / "mini.yaml"
SECRET = "hunter2-very-secret"

CONNECTIONS = f"""
[default]
account = "xy12345.eu-west-1"
user = "PIPE"
password = "{SECRET}"

[dev]
account = "dev-account"
user = "DEV"
authenticator = "SNOWFLAKE_JWT"
private_key_file = "/home/dev/.ssh/rsa_key.p8"
private_key_file_pwd = "{SECRET}"
"""

CONFIG = """
default_connection_name = "ci"

[connections.ci]
account = "ci-account"
user = "CI"
authenticator = "externalbrowser"

[connections.dev]
account = "shadowed-by-connections-toml"
"""


@pytest.fixture
def snowhome(tmp_path, monkeypatch):
    """Point the connector's own configuration manager at a fresh SNOWFLAKE_HOME.

    The connector fixes its file paths when it is imported (from SNOWFLAKE_HOME); here they are
    moved to a temporary folder and its cache emptied, so each test resolves as a fresh ``snow``
    or ``connect(connection_name=...)`` would in that folder. Returns ``write(connections=,
    config=, mode=)``.
    """
    from snowflake.connector.config_manager import CONFIG_MANAGER

    folder = tmp_path / "snowflake-home"
    folder.mkdir()
    for name in ("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "SNOWFLAKE_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SF_SKIP_WARNING_FOR_READ_PERMISSIONS_ON_CONFIG_FILE", "true")
    monkeypatch.setattr(CONFIG_MANAGER, "file_path", folder / "config.toml")
    slices = [s._replace(path=folder / "connections.toml") if s.section == "connections" else s for s in CONFIG_MANAGER._slices]
    monkeypatch.setattr(CONFIG_MANAGER, "_slices", slices)
    monkeypatch.setattr(CONFIG_MANAGER, "conf_file_cache", None)

    def write(connections: str | None = None, config: str | None = None, mode: int = 0o600) -> Path:
        for name, text in (("connections.toml", connections), ("config.toml", config)):
            if text is not None:
                (folder / name).write_text(text)
                (folder / name).chmod(mode)
        CONFIG_MANAGER.conf_file_cache = None
        return folder

    return write


# -- which connection (resolved by the connector) ----------------------------------------------


def test_snowflake_connection_default_is_the_default_section(snowhome):
    snowhome(CONNECTIONS)
    settings = find_connection()
    assert (settings.name, settings.params["account"]) == ("default", "xy12345.eu-west-1")


def test_snowflake_connection_named_explicitly(snowhome):
    snowhome(CONNECTIONS)
    assert find_connection("dev").params["account"] == "dev-account"


def test_snowflake_connection_name_from_environment(snowhome, monkeypatch):
    snowhome(CONNECTIONS)
    monkeypatch.setenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "dev")
    assert find_connection().name == "dev"


def test_snowflake_connection_name_from_config_toml(snowhome):
    snowhome(config=CONFIG)
    settings = find_connection()
    assert (settings.name, settings.params["account"]) == ("ci", "ci-account")


def test_snowflake_connections_toml_hides_the_connections_of_config_toml(snowhome):
    # The connector replaces config.toml's [connections] with connections.toml when it exists:
    # "ci" (only in config.toml) is then unknown, as it is to `snow` and connect().
    snowhome(CONNECTIONS, CONFIG)
    assert find_connection("dev").params["account"] == "dev-account"
    with pytest.raises(ConnectionConfigError, match="no Snowflake connection 'ci' configured"):
        find_connection()


def test_snowflake_connections_from_the_environment_variable(snowhome, monkeypatch):
    snowhome(CONNECTIONS)
    monkeypatch.setenv("SNOWFLAKE_CONNECTIONS", '[env]\naccount = "from-env"\nuser = "E"\n')
    assert find_connection("env").params["account"] == "from-env"
    with pytest.raises(ConnectionConfigError, match="SNOWFLAKE_CONNECTIONS environment variable"):
        find_connection("dev")


def test_snowflake_group_writable_connections_file_is_refused(snowhome):
    folder = snowhome(CONNECTIONS, mode=0o664)
    with pytest.raises(ConnectionConfigError) as info:
        find_connection()
    message = str(info.value)
    assert "writable by group or others" in message and str(folder / "connections.toml") in message
    assert "chmod 0600" in message and SECRET not in message and "\n" not in message


def test_snowflake_missing_connection_is_one_line_naming_the_files(snowhome):
    folder = snowhome()
    with pytest.raises(ConnectionConfigError) as info:
        find_connection()
    message = str(info.value)
    assert "no Snowflake connection 'default' configured" in message
    assert str(folder / "connections.toml") in message and str(folder / "config.toml") in message
    assert "\n" not in message


def test_snowflake_unknown_connection_lists_the_known_ones(snowhome):
    snowhome(CONNECTIONS)
    with pytest.raises(ConnectionConfigError, match="known connections: default, dev"):
        find_connection("prod")


def test_snowflake_invalid_toml_names_the_file(snowhome):
    folder = snowhome("[default\naccount = ")
    with pytest.raises(ConnectionConfigError) as info:
        find_connection()
    assert str(folder / "connections.toml") in str(info.value)


def test_snowflake_secrets_never_in_repr_or_description(snowhome):
    snowhome(CONNECTIONS)
    settings = find_connection("dev")
    for text in (repr(settings), str(settings), settings.describe(), str(redact(settings.params))):
        assert SECRET not in text
    assert "private_key_file_pwd': '****'" in repr(settings)
    assert settings.describe().startswith("connection 'dev' (account dev-account, user DEV) from ")


def test_snowflake_connect_names_the_connection_and_hides_secrets_in_errors(snowhome):
    snowhome(CONNECTIONS)
    settings = find_connection()
    seen = {}

    def refuse(**params):
        seen.update(params)
        message = f"Incorrect username or password was specified ({SECRET})."
        raise DatabaseError(msg=message, errno=390100, sqlstate="08004")

    with pytest.raises(BackendError) as info:
        open_connection(settings, connect=refuse, warehouse="W")
    # The connector reads the section itself, by name: pipe passes no secret along.
    assert seen == {"connection_name": "default", "warehouse": "W"}
    error = info.value
    assert SECRET not in str(error) and "****" in str(error)
    assert "Incorrect username or password" in str(error) and error.code == "390100" and not error.transient


def test_snowflake_unreachable_account_is_transient_with_the_connectors_reason(snowhome):
    snowhome(CONNECTIONS)
    settings = find_connection()

    def unreachable(**params):
        raise OperationalError(
            msg="Could not connect to Snowflake backend after 2 attempt(s).Aborting", errno=250001, sqlstate="08001"
        )

    with pytest.raises(BackendError) as info:
        open_connection(settings, connect=unreachable)
    assert info.value.transient and info.value.code == "250001"
    assert "Could not connect to Snowflake backend after 2 attempt(s)" in str(info.value)
    assert "connection 'default' (account xy12345.eu-west-1, user PIPE)" in str(info.value)


def test_snowflake_bugs_are_not_disguised_as_connection_errors(snowhome):
    snowhome(CONNECTIONS)
    settings = find_connection()

    def broken(**params):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        open_connection(settings, connect=broken)


# -- through the backend ---------------------------------------------------------------------


def test_snowflake_backend_session_has_warehouse_and_query_tag(snowhome, monkeypatch):
    snowhome(CONNECTIONS)
    fake, params = FakeSnowflake(), {}

    def connect(**kwargs):
        params.update(kwargs)
        return fake.connect(**kwargs)

    monkeypatch.setattr(snowflake.connector, "connect", connect)
    with SnowflakeBackend(build_graph(load_pipeline(MINI)), connection="dev") as backend:
        assert backend.read_state().database_exists is False
        assert backend.history() == []  # the history function needs a warehouse: set at login
    assert params == {"connection_name": "dev", "warehouse": "PIPE_WH", "session_parameters": {"QUERY_TAG": "pipe:mini"}}
    assert fake.query_tag == "pipe:mini" and fake.current_warehouse == "PIPE_WH"
    assert fake.statements[0] == "SHOW DATABASES LIKE 'PIPE_TEST'"


def test_snowflake_backend_without_configuration_fails_on_first_use(snowhome):
    snowhome()
    backend = SnowflakeBackend(build_graph(load_pipeline(MINI)))
    with pytest.raises(ConnectionConfigError, match="no Snowflake connection 'default' configured"):
        backend.read_state()


# -- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, transient",
    [
        (ProgrammingError(msg="SQL compilation error", errno=2003, sqlstate="42S02"), False),
        (ProgrammingError(msg="Statement reached its statement or warehouse timeout", errno=630, sqlstate="57014"), True),
        (OperationalError(msg="Failed to get the response", errno=250003, sqlstate="08001"), True),
        (DatabaseError(msg="Authentication token has expired", errno=390114, sqlstate="08001"), True),
    ],
)
def test_snowflake_errors_are_classified(error, transient):
    assert is_transient(error) is transient


def test_snowflake_statement_error_is_one_line_with_code_and_state():
    error = ProgrammingError(msg="SQL compilation error:\nsyntax error line 1 at position 7", errno=1003, sqlstate="42000")
    mapped = statement_error(error, "CREATE OR REPLACE TABLE T\nAS SELECT 1", table="T")
    assert str(mapped) == (
        "T: Snowflake failed on `CREATE OR REPLACE TABLE T`: 001003 (42000): "
        "SQL compilation error: syntax error line 1 at position 7"
    )


def test_snowflake_settings_repr_redacts_every_secret_key():
    settings = ConnectionSettings("x", "c.toml", {"password": "p4ss", "token": "t0ken", "private_key": "k3y", "user": "U"})
    assert repr(settings) == (
        "ConnectionSettings(name='x', source='c.toml', params={'password': '****', 'token': '****', "
        "'private_key': '****', 'user': 'U'})"
    )
