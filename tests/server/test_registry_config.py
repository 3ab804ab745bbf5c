from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ModelNotFound
from metrics.pricing import DEFAULT_PRICES, ModelPrice
from server.config import ConfigError, load_settings
from server.providers import provider_for_model
from server.registry_config import build_registry

REGISTRY_TOML = """
[registry]
auto_aliases = ["auto", "frugal-auto"]

[[registry.providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "MY_OPENAI_KEY"
rpm = 500
tpm = 200000

[[registry.providers]]
name = "local-vllm"
kind = "openai"
base_url = "http://127.0.0.1:8001/v1"
read_timeout_s = 120.0

[[registry.providers]]
name = "anthropic"
kind = "anthropic"
api_key_env = "MY_ANTHROPIC_KEY"

[[registry.models]]
name = "gpt-4o-mini"
provider = "openai"
price = {input = 150000, output = 600000, cached_input = 75000, cache_write = 150000}
aliases = ["mini"]
capabilities = ["tools", "json_schema"]
context_window = 128000

[[registry.models]]
name = "llama-3.1-8b"
provider = "local-vllm"
upstream_name = "meta-llama/Llama-3.1-8B-Instruct"
unpriced_allowed = true
worst_case_price = {input = 150000, output = 600000}
fallback = ["gpt-4o-mini"]

[[registry.models]]
name = "claude-haiku-4-5"
provider = "anthropic"
price = "800000/4000000/80000/1000000"
aliases = ["haiku"]
fallback = ["gpt-4o-mini", "llama-3.1-8b"]

[[registry.models]]
name = "text-embedding-3-small"
provider = "openai"
kind = "embedding"
price = {input = 20000, output = 0}
"""

KEYS = {"MY_OPENAI_KEY": "sk-openai-test", "MY_ANTHROPIC_KEY": "sk-ant-test"}


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "frugal.toml"
    path.write_text(text)
    return {"FRUGAL_CONFIG": str(path), **KEYS}


class TestDeclaredRegistry:
    def test_two_openai_compatible_providers_and_anthropic(self, tmp_path: Path) -> None:
        settings = load_settings(write(tmp_path, REGISTRY_TOML))
        reg = build_registry(settings)
        assert [p.name for p in reg.providers()] == ["openai", "local-vllm", "anthropic"]
        assert reg.provider("openai").api_key == "sk-openai-test"
        assert reg.provider("anthropic").api_key == "sk-ant-test"
        assert reg.provider("local-vllm").api_key is None
        assert reg.provider("openai").rpm == 500
        assert reg.resolve("mini").spec.name == "gpt-4o-mini"
        assert reg.resolve("haiku").provider.name == "anthropic"
        llama = reg.resolve("llama-3.1-8b")
        assert llama.provider.name == "local-vllm"
        assert llama.upstream_name == "meta-llama/Llama-3.1-8B-Instruct"
        assert [r.spec.name for r in reg.fallback_chain("haiku")] == [
            "gpt-4o-mini",
            "llama-3.1-8b",
        ]
        assert reg.is_auto("frugal-auto")
        assert reg.resolve("gpt-4o-mini").spec.capabilities == {"tools", "json_schema"}

    def test_short_price_tables_bill_cache_buckets_at_input(self, tmp_path: Path) -> None:
        reg = build_registry(load_settings(write(tmp_path, REGISTRY_TOML)))
        assert reg.billing_price("llama-3.1-8b") == ModelPrice(150_000, 600_000, 150_000, 150_000)
        assert reg.price_for("haiku") == ModelPrice(800_000, 4_000_000, 80_000, 1_000_000)
        assert reg.resolve("text-embedding-3-small").spec.kind == "embedding"

    def test_undeclared_names_are_refused_without_passthrough(self, tmp_path: Path) -> None:
        settings = load_settings(write(tmp_path, REGISTRY_TOML))
        assert provider_for_model(settings, "gpt-5") is None
        assert provider_for_model(settings, "mini") == "openai"

    def test_passthrough_provider_with_worst_case_price(self, tmp_path: Path) -> None:
        text = REGISTRY_TOML.replace(
            "read_timeout_s = 120.0", "read_timeout_s = 120.0\npassthrough = true"
        ).replace(
            'auto_aliases = ["auto", "frugal-auto"]',
            'auto_aliases = ["auto"]\npassthrough_worst_case_price = "5000000/20000000"',
        )
        reg = build_registry(load_settings(write(tmp_path, text)))
        resolved = reg.resolve("qwen2.5:7b")
        assert resolved.provider.name == "local-vllm"
        assert reg.billing_price("qwen2.5:7b").output == 20_000_000

    def test_api_key_is_not_in_the_settings_repr(self, tmp_path: Path) -> None:
        settings = load_settings(write(tmp_path, REGISTRY_TOML))
        assert "sk-openai-test" not in repr(settings)


class TestDefaultRegistry:
    def test_zero_config_is_the_simulator_for_every_declared_name(self) -> None:
        settings = load_settings({})
        reg = build_registry(settings)
        assert {m.provider for m in reg.models()} == {"simulated", "local"}
        for name in ("gpt-4o-mini", "gpt-4o", "claude-opus-4-7"):
            assert provider_for_model(settings, name) == "simulated"
        # Like a real provider, the simulated one serves only the models it declares.
        with pytest.raises(ModelNotFound):
            reg.resolve("anything-else")
        assert reg.first_fallback("gpt-4o") == "gpt-4o-mini"
        assert reg.first_fallback("gpt-4o-mini") is None  # the fallback model itself

    def test_every_priced_model_is_declared_with_its_price(self) -> None:
        reg = build_registry(load_settings({"OPENAI_API_KEY": "sk"}))
        declared = {m.name: m for m in reg.models()}
        for name, price in DEFAULT_PRICES.items():
            assert declared[name].price == price
        for name in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
            assert declared[name].kind == "embedding"
            assert declared[name].price is not None and declared[name].price.output == 0
            assert declared[name].fallback == ()
        assert declared["all-MiniLM-L6-v2"].price == ModelPrice(0, 0, 0, 0)
        assert declared["all-MiniLM-L6-v2"].provider == "local"

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({"OPENAI_API_KEY": "sk"}, {"gpt-4o": "openai", "claude-haiku-4-5": "openai"}),
            (
                {"OPENAI_API_KEY": "sk", "ANTHROPIC_API_KEY": "ak"},
                {"gpt-4o": "openai", "claude-haiku-4-5": "anthropic"},
            ),
            (
                {"ANTHROPIC_API_KEY": "ak"},
                {"gpt-4o": None, "claude-haiku-4-5": "anthropic"},
            ),
            (
                {
                    "OPENAI_API_KEY": "sk",
                    "ANTHROPIC_API_KEY": "ak",
                    "FRUGAL_PROVIDERS_MODE": "openai",
                },
                {"gpt-4o": "openai", "claude-haiku-4-5": "openai"},
            ),
            (
                {
                    "OPENAI_API_KEY": "sk",
                    "ANTHROPIC_API_KEY": "ak",
                    "FRUGAL_PROVIDERS_MODE": "anthropic",
                },
                {"gpt-4o": "anthropic", "claude-haiku-4-5": "anthropic"},
            ),
            (
                {"OPENAI_API_KEY": "sk", "FRUGAL_PROVIDERS_MODE": "simulated"},
                {"gpt-4o": "simulated"},
            ),
        ],
    )
    def test_providers_mirror_the_provider_settings(
        self, env: dict[str, str], expected: dict[str, str | None]
    ) -> None:
        settings = load_settings(env)
        for model, provider in expected.items():
            assert provider_for_model(settings, model) == provider, model

    def test_limits_and_keys_reach_the_default_providers(self) -> None:
        env = {"OPENAI_API_KEY": "sk", "FRUGAL_LIMITS_OPENAI_RPM": "60"}
        openai = build_registry(load_settings(env)).provider("openai")
        assert (openai.api_key, openai.rpm, openai.passthrough) == ("sk", 60, False)
        assert openai.base_url == "https://api.openai.com/v1"

    def test_local_base_url_passes_names_through_only_with_a_price_rule(
        self, tmp_path: Path
    ) -> None:
        env = {"OPENAI_BASE_URL": "http://127.0.0.1:8001/v1"}
        assert provider_for_model(load_settings(env), "llama3") is None
        assert build_registry(load_settings(env)).provider("openai").passthrough
        config = tmp_path / "frugal.toml"
        config.write_text("[registry]\npassthrough_worst_case_price = {input = 1, output = 2}\n")
        settings = load_settings({**env, "FRUGAL_CONFIG": str(config)})
        assert provider_for_model(settings, "llama3") == "openai"
        assert build_registry(settings).billing_price("llama3") == ModelPrice(1, 2, 1, 1)

    def test_price_overrides_apply_and_add_models(self) -> None:
        env = {"OPENAI_API_KEY": "sk", "FRUGAL_COST_PRICE_OVERRIDES": "gpt-4o=1/2,my-model=3/4"}
        reg = build_registry(load_settings(env))
        assert reg.price_for("gpt-4o") == ModelPrice(1, 2, 1, 1)
        assert reg.price_for("my-model") == ModelPrice(3, 4, 3, 3)

    def test_unpriced_tier_model_is_served_at_the_ceiling(self) -> None:
        env = {"OPENAI_API_KEY": "sk", "FRUGAL_MODELS_STRONG": "o3-pro"}
        reg = build_registry(load_settings(env))
        spec = reg.resolve("o3-pro").spec
        assert spec.price is None and spec.unpriced_allowed
        assert reg.billing_price("o3-pro").output == max(p.output for p in DEFAULT_PRICES.values())
        assert reg.first_fallback("o3-pro") == "gpt-4o-mini"


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("edit", "message"),
        [
            (
                ('provider = "local-vllm"', 'provider = "vllm"'),
                "registry: model 'llama-3.1-8b': provider 'vllm' is not declared "
                "(declared: openai, local-vllm, anthropic)",
            ),
            (
                ('fallback = ["gpt-4o-mini"]', 'fallback = ["gpt-4o-maxi"]'),
                "model 'llama-3.1-8b': fallback names unknown model 'gpt-4o-maxi'",
            ),
            (
                ('aliases = ["haiku"]', 'aliases = ["mini"]'),
                "model 'claude-haiku-4-5': aliases 'mini' is already declared",
            ),
            (
                ("worst_case_price = {input = 150000, output = 600000}\n", ""),
                "model 'llama-3.1-8b': worst_case_price is required with unpriced_allowed",
            ),
            (
                ("rpm = 500", "rpm = 0"),
                "registry.providers[0] ('openai').rpm: expected at least 1",
            ),
            (
                ('kind = "anthropic"', 'kind = "gemini"'),
                "registry.providers[2] ('anthropic').kind: invalid enum value 'gemini'",
            ),
            (
                ("context_window = 128000", "context_windw = 128000"),
                "registry.models[0] ('gpt-4o-mini'): object contains unknown field `context_windw`",
            ),
            (
                ('price = "800000/4000000/80000/1000000"', 'price = "0.8/4"'),
                "registry.models[2] ('claude-haiku-4-5').price: expected {input = ..., "
                "output = ...",
            ),
            (
                ('name = "gpt-4o-mini"\n', 'name = "gpt 4o mini"\n'),
                "registry.models[0] ('gpt 4o mini').name: expected a valid model name",
            ),
        ],
    )
    def test_one_line_naming_the_key(
        self, tmp_path: Path, edit: tuple[str, str], message: str
    ) -> None:
        assert edit[0] in REGISTRY_TOML
        env = write(tmp_path, REGISTRY_TOML.replace(edit[0], edit[1], 1))
        with pytest.raises(ConfigError) as info:
            load_settings(env)
        text = str(info.value)
        assert message in text
        assert "\n" not in text
        assert text.startswith(str(tmp_path / "frugal.toml"))

    def test_missing_key_variable(self, tmp_path: Path) -> None:
        env = write(tmp_path, REGISTRY_TOML)
        del env["MY_ANTHROPIC_KEY"]
        with pytest.raises(
            ConfigError,
            match=r"registry.providers\[2\] \('anthropic'\)"
            r".api_key_env: the environment variable MY_ANTHROPIC_KEY is not set",
        ):
            load_settings(env)

    def test_models_without_providers(self, tmp_path: Path) -> None:
        env = write(tmp_path, '[[registry.models]]\nname = "x"\nprovider = "p"\n')
        with pytest.raises(ConfigError, match=r"\[registry\].models: expected \[\[registry"):
            load_settings(env)

    def test_registry_is_not_an_environment_variable(self) -> None:
        with pytest.raises(ConfigError, match="FRUGAL_REGISTRY_MODELS: \\[registry\\] is set in"):
            load_settings({"FRUGAL_REGISTRY_MODELS": "gpt-4o"})


def test_readme_registry_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Model registry", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    env = write(tmp_path, example)
    env.update({"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a"})
    reg = build_registry(load_settings(env))
    assert [r.spec.name for r in reg.fallback_chain("llama-3.1-8b")] == [
        "gpt-4o-mini",
        "claude-haiku-4-5",
    ]
    assert reg.resolve("some-new-model").provider.name == "local-vllm"
    assert reg.resolve("haiku").provider.api_key == "sk-a"
