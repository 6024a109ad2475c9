"""Configuration: precedence, validation, masking, the example file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reminders.config import Settings, load_settings, render_example, resolve_paths
from reminders.declare import keys
from reminders.errors import ConfigError
from reminders.settings import sections
from tests.conftest import REPO, Cli


def test_example_config_lists_every_key_and_loads(tmp_path: Path) -> None:
    """config.example.toml is what `config init --print` writes, and it is valid."""
    example = (REPO / "config.example.toml").read_text()
    assert example == render_example()
    for section, model in sections().items():
        for key in keys(model):
            assert f"# {key.name} = " in example, f"{section}.{key.name} missing"
    uncommented = "\n".join(
        line[2:] if re.match(r"^# [a-z_]+ = ", line) else line
        for line in example.splitlines()
    )
    path = tmp_path / "config.toml"
    path.write_text(uncommented)
    assert load_settings(resolve_paths(str(path)), environ={}) == Settings()


def test_precedence_defaults_file_env_flags(home: Path) -> None:
    """Defaults < file < REMINDERS_* environment < flags."""
    (home / "config.toml").write_text(
        '[telegram]\napi_base_url = "http://file"\nread_timeout = 3\n'
        '[general]\ncatch_up = "2h"\n'
    )
    paths = resolve_paths()
    env = {
        "REMINDERS_TELEGRAM_API_BASE_URL": "http://env",
        "REMINDERS_GENERAL_CATCH_UP": "3h",
    }
    settings = load_settings(paths, {"general": {"catch_up": "4h"}}, environ=env)
    assert settings.telegram.read_timeout == 3
    assert settings.telegram.api_base_url == "http://env"
    assert settings.general.catch_up == "4h"
    assert load_settings(paths, environ={}).telegram.api_base_url == "http://file"


def test_bad_values_are_config_errors(home: Path) -> None:
    """A wrong type or an unknown zone is refused with exit code 78."""
    (home / "config.toml").write_text('[general]\ntimezone = "Mars/Base"\n')
    with pytest.raises(ConfigError, match="Unknown time zone") as info:
        load_settings(resolve_paths(), environ={})
    assert info.value.exit_code == 78
    (home / "config.toml").write_text('[telegram]\nread_timeout = "slow"\n')
    with pytest.raises(ConfigError, match=r"telegram\.read_timeout"):
        load_settings(resolve_paths(), environ={})


def test_a_value_where_a_table_belongs_is_a_config_error(home: Path) -> None:
    """`telegram = 5` instead of a [telegram] table: exit 78, the table named."""
    (home / "config.toml").write_text("telegram = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(resolve_paths(), environ={})
    assert str(info.value).startswith(
        "Config telegram: Input should be a valid dictionary or instance of "
        "TelegramSettings"
    )
    assert info.value.exit_code == 78


def test_config_show_masks_the_token(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`config show` never prints the bot token."""
    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    monkeypatch.setenv("REMINDERS_TELEGRAM_BOT_TOKEN", token)
    for args in (["config", "show"], ["config", "show", "--json"]):
        out = run(*args).stdout
        assert token not in out and "1234…YZ" in out


def test_config_init_writes_a_private_file_once(run: Cli, home: Path) -> None:
    """`config init` writes a 0600 file, refuses to overwrite, and `check` accepts it."""
    run("config", "init")
    path = home / "config.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    assert "already exists" in run("config", "init", code=78).stderr
    result = run("config", "check")
    assert "Config OK" in result.stdout and "No bot token yet" in result.stdout


def test_config_check_fails_on_a_bad_file(run: Cli, home: Path) -> None:
    """`config check` exits 78 on an invalid file."""
    (home / "config.toml").write_text('[daemon]\nlog_format = "xml"\n')
    assert "daemon.log_format" in run("config", "check", code=78).stderr


def test_token_file_is_read(run: Cli, home: Path, tmp_path: Path) -> None:
    """telegram.token_file supplies the token."""
    secret = tmp_path / "token"
    secret.write_text("999:SECRETSECRETSECRET\n")
    (home / "config.toml").write_text(f'[telegram]\ntoken_file = "{secret}"\n')
    assert "999:…ET" in run("config", "show").stdout
