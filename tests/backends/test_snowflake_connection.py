"""Finding the Snowflake connection the way Snowflake's tools do, opening it, and keeping secrets out."""

from __future__ import annotations

from pathlib import Path

import pytest
import snowflake.connector
from snowflake.connector.errors import DatabaseError, OperationalError, ProgrammingError

from engine.backends.snowflake import SnowflakeBackend
from engine.backends.snowflake_connection import (
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


def home(tmp_path: Path, connections: str | None = None, config: str | None = None) -> dict[str, str]:
    """A SNOWFLAKE_HOME with the given files; returns the environment pointing at it."""
    folder = tmp_path / "snowflake-home"
    folder.mkdir(exist_ok=True)
    if connections is not None:
        (folder / "connections.toml").write_text(connections)
    if config is not None:
        (folder / "config.toml").write_text(config)
    return {"SNOWFLAKE_HOME": str(folder)}


# -- which connection ------------------------------------------------------------------------


def test_snowflake_connection_default_is_the_default_section(tmp_path):
    settings = find_connection(env=home(tmp_path, CONNECTIONS))
    assert settings.name == "default" and settings.source.name == "connections.toml"
    assert settings.params["account"] == "xy12345.eu-west-1"


def test_snowflake_connection_named_explicitly(tmp_path):
    settings = find_connection("dev", env=home(tmp_path, CONNECTIONS, CONFIG))
    assert settings.params["account"] == "dev-account"  # connections.toml comes before config.toml


def test_snowflake_connection_name_from_environment(tmp_path):
    env = home(tmp_path, CONNECTIONS) | {"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "dev"}
    assert find_connection(env=env).name == "dev"
    assert find_connection("default", env=env).name == "default"  # -c wins over the variable


def test_snowflake_connection_name_from_config_toml(tmp_path):
    settings = find_connection(env=home(tmp_path, CONNECTIONS, CONFIG))
    assert (settings.name, settings.params["authenticator"], settings.source.name) == ("ci", "externalbrowser", "config.toml")


def test_snowflake_missing_connection_is_one_line_naming_the_files(tmp_path):
    env = home(tmp_path)
    with pytest.raises(ConnectionConfigError) as info:
        find_connection(env=env)
    message = str(info.value)
    folder = env["SNOWFLAKE_HOME"]
    assert message.startswith(
        f"no Snowflake connection 'default' configured (looked in {folder}/connections.toml, {folder}/config.toml)"
    )
    assert "-c NAME" in message and "[default]" in message and "\n" not in message


def test_snowflake_unknown_connection_lists_the_known_ones(tmp_path):
    with pytest.raises(ConnectionConfigError, match="known connections: ci, default, dev"):
        find_connection("prod", env=home(tmp_path, CONNECTIONS, CONFIG))


def test_snowflake_invalid_toml_names_the_file(tmp_path):
    env = home(tmp_path, "[default\naccount = 1")
    with pytest.raises(ConnectionConfigError, match="connections.toml is not valid TOML"):
        find_connection(env=env)


# -- secrets ---------------------------------------------------------------------------------


def test_snowflake_secrets_never_in_repr_or_description(tmp_path):
    settings = find_connection("dev", env=home(tmp_path, CONNECTIONS))
    for text in (repr(settings), str(settings), settings.describe(), str(redact(settings.params))):
        assert SECRET not in text
    assert "private_key_file_pwd': '****'" in repr(settings)
    assert settings.describe().startswith("connection 'dev' (account dev-account, user DEV) from ")


def test_snowflake_connect_passes_the_section_and_hides_secrets_in_errors(tmp_path):
    settings = find_connection(env=home(tmp_path, CONNECTIONS))
    seen = {}

    def refuse(**params):
        seen.update(params)
        message = f"Incorrect username or password was specified ({params['password']})."
        raise DatabaseError(msg=message, errno=390100, sqlstate="08004")

    with pytest.raises(BackendError) as info:
        open_connection(settings, connect=refuse)
    assert seen == {"account": "xy12345.eu-west-1", "user": "PIPE", "password": SECRET}
    error = info.value
    assert SECRET not in str(error) and "****" in str(error)
    assert "Incorrect username or password" in str(error) and error.code == "390100" and not error.transient


def test_snowflake_unreachable_account_is_transient_with_the_connectors_reason(tmp_path):
    settings = find_connection(env=home(tmp_path, CONNECTIONS))

    def unreachable(**params):
        raise OperationalError(
            msg="Could not connect to Snowflake backend after 2 attempt(s).Aborting", errno=250001, sqlstate="08001"
        )

    with pytest.raises(BackendError) as info:
        open_connection(settings, connect=unreachable)
    assert info.value.transient and info.value.code == "250001"
    assert "Could not connect to Snowflake backend after 2 attempt(s)" in str(info.value)
    assert "connection 'default' (account xy12345.eu-west-1, user PIPE)" in str(info.value)


def test_snowflake_bugs_are_not_disguised_as_connection_errors(tmp_path):
    settings = find_connection(env=home(tmp_path, CONNECTIONS))

    def broken(**params):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        open_connection(settings, connect=broken)


# -- through the backend ---------------------------------------------------------------------


def test_snowflake_backend_connects_with_the_named_connection(tmp_path, monkeypatch):
    for key, value in home(tmp_path, CONNECTIONS).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
    fake, params = FakeSnowflake(), {}

    def connect(**kwargs):
        params.update(kwargs)
        return fake.connect()

    monkeypatch.setattr(snowflake.connector, "connect", connect)
    with SnowflakeBackend(build_graph(load_pipeline(MINI)), connection="dev") as backend:
        assert backend.read_state().database_exists is False
    assert params["account"] == "dev-account" and fake.statements == ["SHOW DATABASES LIKE 'PIPE_TEST'"]


def test_snowflake_backend_without_configuration_fails_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path))
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
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
    settings = ConnectionSettings("x", Path("c.toml"), {"password": "p4ss", "token": "t0ken", "private_key": "k3y", "user": "U"})
    assert repr(settings) == (
        "ConnectionSettings(name='x', source='c.toml', params={'password': '****', 'token': '****', "
        "'private_key': '****', 'user': 'U'})"
    )
