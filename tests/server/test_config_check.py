"""Configuration papercuts: one clear line (and exit 2) for every configuration error, `.env`
loaded under the process's own variables, and `frugal config check` with secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, load_settings, process_environment

ROOT = Path(__file__).resolve().parents[2]


def frugal(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``frugal ARGS`` in a child process with exactly ``env`` (plus what Python needs)."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-P", "-m", "server.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestOneLineErrors:
    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            (
                {"FRUGAL_PROVIDERS_MODE": "openai"},
                "FRUGAL_PROVIDERS_OPENAI_API_KEY: expected a key when mode is openai "
                "(set OPENAI_API_KEY",
            ),
            (
                {"FRUGAL_PROVIDERS_MODE": "anthropic", "OPENAI_API_KEY": "sk-x"},
                "FRUGAL_PROVIDERS_ANTHROPIC_API_KEY: expected a key when mode is anthropic",
            ),
            (
                {"FRUGAL_BUDGET_TIMEZONE": "Mars/Olympus_Mons"},
                "FRUGAL_BUDGET_TIMEZONE: expected an IANA time zone such as UTC",
            ),
            (
                {"FRUGAL_CACHE_EXACT_ENABLED": "maybe"},
                "FRUGAL_CACHE_EXACT_ENABLED: expected true or false (also 1 or 0) (got 'maybe')",
            ),
            (
                {"FRUGAL_SERVER_LOG_LEVEL": "loud"},
                "FRUGAL_SERVER_LOG_LEVEL: expected one of debug, info, warning, error",
            ),
            (
                {"FRUGAL_PROVIDERS_OPENAI_RESPONSES": "sometimes"},
                "FRUGAL_PROVIDERS_OPENAI_RESPONSES: expected true or false (also 1 or 0) "
                "or empty to unset",
            ),
        ],
    )
    def test_the_message_names_the_key_and_what_it_accepts(
        self, env: dict[str, str], expected: str
    ) -> None:
        with pytest.raises(ConfigError) as info:
            load_settings(env)
        assert str(info.value).startswith(expected)

    def test_provider_mode_with_a_base_url_needs_no_key(self) -> None:
        settings = load_settings(
            {"FRUGAL_PROVIDERS_MODE": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
        )
        assert not settings.uses_simulated_provider

    @pytest.mark.parametrize("command", [("serve",), ("config", "check")])
    def test_the_commands_exit_2_with_one_line(self, tmp_path: Path, command: tuple[str]) -> None:
        done = frugal(*command, env={"FRUGAL_BUDGET_TIMEZONE": "Nowhere/Town"}, cwd=tmp_path)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert lines == [
            "frugal: configuration error: FRUGAL_BUDGET_TIMEZONE: expected an IANA time zone "
            "such as UTC or Europe/Paris, not 'Nowhere/Town'"
        ]
        assert done.stdout == ""


class TestDotenv:
    def test_dotenv_is_read_and_the_environment_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / ".env").write_text(
            "# copied from .env.example\n"
            "FRUGAL_SERVER_PORT=8123\n"
            "export FRUGAL_CACHE_SEMANTIC_THRESHOLD=0.97\n"
            'FRUGAL_MODELS_STRONG="from-dotenv"\n'
        )
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("FRUGAL_MODELS_STRONG", "from-environment")
        settings = load_settings()
        assert settings.server.port == 8123
        assert settings.cache.semantic_threshold == 0.97
        assert settings.models.strong == "from-environment"

    def test_a_bad_value_in_dotenv_is_named(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("FRUGAL_SERVER_PORT=eighty\n")
        done = frugal("config", "check", env={}, cwd=tmp_path)
        assert done.returncode == 2
        assert "FRUGAL_SERVER_PORT: expected a whole number (got 'eighty')" in done.stderr

    def test_no_dotenv_is_fine(self, tmp_path: Path) -> None:
        assert "FRUGAL_SERVER_PORT" not in process_environment(tmp_path / ".env")


class TestConfigCheck:
    def test_prints_the_effective_config_with_secrets_masked(self, tmp_path: Path) -> None:
        config = tmp_path / "frugal.toml"
        config.write_text(
            "[server]\n"
            "port = 8300\n"
            'admin_key = "admin-secret-0123456789"\n'
            "[auth]\n"
            'api_keys = ["acme:acme-key-0123456789abcdef", "beta:beta-key-0123456789abcdef:u-7"]\n'
            'read_keys = ["acme:acme-read-0123456789abcdef"]\n'
            'user_signing_keys = ["acme:signing-secret-0123456789abcdef0123456789"]\n'
            "[batch]\n"
            'webhook_secret = "hook-secret-0123456789"\n'
        )
        env = {
            "OPENAI_API_KEY": "sk-live-secret",
            "REDIS_URL": "redis://frugal:redis-password@127.0.0.1:6390/0",
        }
        done = frugal("config", "check", "--config", str(config), env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        effective = json.loads(done.stdout)
        assert effective["server"]["port"] == 8300
        assert effective["server"]["admin_key"] == "****"
        assert effective["providers"]["openai_api_key"] == "****"
        assert effective["providers"]["anthropic_api_key"] is None
        assert effective["auth"]["api_keys"] == ["acme:****", "beta:****:u-7"]
        assert effective["auth"]["read_keys"] == ["acme:****"]
        assert effective["auth"]["user_signing_keys"] == ["acme:****"]
        assert effective["batch"]["webhook_secret"] == "****"
        assert effective["redis"]["url"] == "redis://frugal:****@127.0.0.1:6390/0"
        for secret in (
            "admin-secret",
            "sk-live",
            "key-0123",
            "signing-secret",
            "hook-secret",
            "redis-password",
            "read-0123",
        ):
            assert secret not in done.stdout
        assert "configuration OK (real providers)" in done.stderr

    def test_a_broken_file_is_one_line(self, tmp_path: Path) -> None:
        config = tmp_path / "broken.toml"
        config.write_text("[server\nport = 1\n")
        done = frugal("config", "check", "--config", str(config), env={}, cwd=tmp_path)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1
        assert "is not valid TOML" in done.stderr
