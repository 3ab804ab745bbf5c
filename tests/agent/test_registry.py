from __future__ import annotations

import pytest

from agent.errors import InvalidModelName, ModelNotFound, RegistryError
from agent.registry import ModelRegistry, ModelSpec, ProviderSpec, validate_model_name
from metrics.pricing import ModelPrice

PRICE = ModelPrice(input=150_000, output=600_000, cached_input=75_000, cache_write=150_000)
CEILING = ModelPrice(input=5_000_000, output=20_000_000, cached_input=5_000_000, cache_write=0)

OPENAI = ProviderSpec(name="openai", kind="openai", api_key="sk-secret-value")
VLLM = ProviderSpec(name="local-vllm", kind="openai", base_url="http://127.0.0.1:8001/v1")
ANTHROPIC = ProviderSpec(name="anthropic", kind="anthropic")


def registry(
    *models: ModelSpec,
    providers: tuple[ProviderSpec, ...] = (OPENAI, VLLM, ANTHROPIC),
    passthrough_price: ModelPrice | None = None,
) -> ModelRegistry:
    return ModelRegistry(providers, models, passthrough_worst_case_price=passthrough_price)


MINI = ModelSpec(name="gpt-4o-mini", provider="openai", price=PRICE, aliases=("mini",))
LLAMA = ModelSpec(
    name="llama",
    provider="local-vllm",
    upstream_name="meta-llama/Llama-3.1-8B-Instruct",
    unpriced_allowed=True,
    worst_case_price=CEILING,
    fallback=("gpt-4o-mini",),
)
EMBED = ModelSpec(name="text-embedding-3-small", provider="openai", price=PRICE, kind="embedding")


class TestResolve:
    def test_declared_name_and_alias_resolve_to_the_same_model(self) -> None:
        reg = registry(MINI, LLAMA)
        by_name, by_alias = reg.resolve("gpt-4o-mini"), reg.resolve("mini")
        assert by_name.spec is by_alias.spec is MINI
        assert by_alias.requested == "mini"
        assert by_alias.provider is OPENAI
        assert by_alias.upstream_name == "gpt-4o-mini"

    def test_upstream_name_is_what_the_provider_is_sent(self) -> None:
        resolved = registry(MINI, LLAMA).resolve("llama")
        assert resolved.provider is VLLM
        assert resolved.upstream_name == "meta-llama/Llama-3.1-8B-Instruct"

    def test_undeclared_name_without_passthrough_is_not_found(self) -> None:
        with pytest.raises(ModelNotFound, match="'gpt-5'") as info:
            registry(MINI).resolve("gpt-5")
        assert info.value.code == "model_not_found"

    def test_auto_alias_is_not_a_model(self) -> None:
        reg = registry(MINI)
        assert reg.is_auto("auto")
        with pytest.raises(ModelNotFound, match="router"):
            reg.resolve("auto")

    def test_models_lists_chat_and_embedding_models_in_order(self) -> None:
        assert registry(MINI, EMBED, LLAMA).models() == [MINI, EMBED, LLAMA]

    def test_provider_lookup(self) -> None:
        reg = registry(MINI)
        assert reg.provider("local-vllm") is VLLM
        with pytest.raises(KeyError):
            reg.provider("nope")


class TestPassthrough:
    def test_single_passthrough_provider_catches_undeclared_names(self) -> None:
        vllm = ProviderSpec(name="local-vllm", kind="openai", passthrough=True)
        reg = registry(MINI, providers=(OPENAI, vllm, ANTHROPIC), passthrough_price=CEILING)
        resolved = reg.resolve("qwen2.5:7b")
        assert resolved.provider is vllm
        assert resolved.upstream_name == "qwen2.5:7b"
        assert reg.price_for("qwen2.5:7b") is None
        assert reg.billing_price("qwen2.5:7b") == CEILING
        assert reg.fallback_chain("qwen2.5:7b") == ()

    def test_undeclared_passthrough_name_without_price_rule_is_refused(self) -> None:
        vllm = ProviderSpec(name="local-vllm", kind="openai", passthrough=True)
        reg = registry(MINI, providers=(OPENAI, vllm))
        with pytest.raises(ModelNotFound, match="passthrough_worst_case_price"):
            reg.resolve("qwen2.5:7b")

    def test_two_passthrough_providers_split_by_kind(self) -> None:
        vllm = ProviderSpec(name="local-vllm", kind="openai", passthrough=True)
        claude = ProviderSpec(name="anthropic", kind="anthropic", passthrough=True)
        reg = registry(providers=(vllm, claude), passthrough_price=CEILING)
        assert reg.resolve("claude-3-7-sonnet-latest").provider is claude
        assert reg.resolve("llama3").provider is vllm

    def test_ambiguous_passthrough_is_not_found(self) -> None:
        one = ProviderSpec(name="one", kind="openai", passthrough=True)
        two = ProviderSpec(name="two", kind="openai", passthrough=True)
        with pytest.raises(ModelNotFound):
            registry(providers=(one, two), passthrough_price=CEILING).resolve("llama3")


class TestFallbackAndPrices:
    def test_fallback_chain_resolves_in_order(self) -> None:
        reg = registry(MINI, LLAMA)
        assert [r.spec.name for r in reg.fallback_chain("llama")] == ["gpt-4o-mini"]
        assert reg.fallback_chain("mini") == ()
        assert reg.first_fallback("llama") == "gpt-4o-mini"
        assert reg.first_fallback("gpt-4o-mini") is None
        assert reg.first_fallback("unknown-model") is None

    def test_billing_price_is_the_real_price_else_the_worst_case(self) -> None:
        reg = registry(MINI, LLAMA)
        assert reg.price_for("mini") == reg.billing_price("mini") == PRICE
        assert reg.price_for("llama") is None
        assert reg.billing_price("llama") == CEILING


class TestValidation:
    @pytest.mark.parametrize(
        ("models", "message"),
        [
            (
                (ModelSpec(name="x", provider="azure", price=PRICE),),
                "model 'x': provider 'azure' is not declared",
            ),
            ((MINI, MINI), "model 'gpt-4o-mini': name 'gpt-4o-mini' is already declared"),
            (
                (MINI, ModelSpec(name="other", provider="openai", price=PRICE, aliases=("mini",))),
                "model 'other': aliases 'mini' is already declared",
            ),
            (
                (ModelSpec(name="auto", provider="openai", price=PRICE),),
                "model 'auto': name 'auto' is already declared",
            ),
            (
                (ModelSpec(name="x", provider="openai", price=PRICE, fallback=("gone",)),),
                "model 'x': fallback names unknown model 'gone'",
            ),
            (
                (ModelSpec(name="x", provider="openai", price=PRICE, fallback=("x",)),),
                "model 'x': fallback names the model itself",
            ),
            (
                (
                    MINI,
                    ModelSpec(
                        name="e",
                        provider="openai",
                        price=PRICE,
                        kind="embedding",
                        fallback=("gpt-4o-mini",),
                    ),
                ),
                "model 'e': fallback 'gpt-4o-mini' is of kind 'chat', not 'embedding'",
            ),
            ((ModelSpec(name="x", provider="openai"),), "model 'x': price is required"),
            (
                (ModelSpec(name="x", provider="openai", unpriced_allowed=True),),
                "model 'x': worst_case_price is required",
            ),
        ],
    )
    def test_inconsistent_declarations_raise_one_line(
        self, models: tuple[ModelSpec, ...], message: str
    ) -> None:
        with pytest.raises(RegistryError) as info:
            registry(*models)
        assert message in str(info.value)
        assert "\n" not in str(info.value)

    def test_provider_declared_twice(self) -> None:
        with pytest.raises(RegistryError, match="provider 'openai': name is declared twice"):
            registry(providers=(OPENAI, OPENAI))

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"name": "bad name", "kind": "openai"}, "name: expected"),
            ({"name": "p", "kind": "openai", "base_url": "ftp://x"}, "base_url: expected"),
            ({"name": "p", "kind": "openai", "rpm": 0}, "rpm: expected at least 1"),
            ({"name": "p", "kind": "openai", "read_timeout_s": 0}, "read_timeout_s: expected"),
            ({"name": "p", "kind": "openai", "api_key_env": "MY KEY"}, "api_key_env: expected"),
        ],
    )
    def test_provider_spec_checks_its_fields(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            ProviderSpec(**kwargs)  # type: ignore[arg-type]

    def test_model_spec_checks_its_names(self) -> None:
        with pytest.raises(ValueError, match="aliases: expected a valid model name"):
            ModelSpec(name="x", provider="openai", aliases=("two words",))
        with pytest.raises(ValueError, match="capabilities"):
            ModelSpec(name="x", provider="openai", capabilities=frozenset({"Tools!"}))

    def test_api_key_never_appears_in_repr(self) -> None:
        assert "sk-secret-value" not in repr(OPENAI)
        assert "sk-secret-value" not in str(registry(MINI).resolve("mini"))


class TestValidateModelName:
    @pytest.mark.parametrize(
        "name",
        ["gpt-4o-mini", "openai/gpt-4o", "qwen2.5:7b", "model@2024+beta", "A_b.C", "x" * 256],
    )
    def test_accepts_model_names(self, name: str) -> None:
        assert validate_model_name(name) == name

    @pytest.mark.parametrize(
        "name",
        [
            "",
            "x" * 257,
            "x" * 10_000,
            "gpt-4o\r\nX-Injected: 1",
            "gpt-4o\n",
            "gpt 4o",
            "gpt-4o\t",
            "gpt\x00",
            "gpt\x7f",
            "gpt-4o-ｍini",  # fullwidth letters
            "модель",
            "gpt-4o\u200b",  # zero-width space
            "emoji-🙂",
        ],
    )
    def test_refuses_malformed_names(self, name: str) -> None:
        with pytest.raises(InvalidModelName) as info:
            validate_model_name(name)
        assert info.value.code == "invalid_model"
        assert "\n" not in str(info.value) and "\r" not in str(info.value)
        assert len(str(info.value)) < 200

    def test_resolve_validates_the_name_first(self) -> None:
        with pytest.raises(InvalidModelName):
            registry(MINI).resolve("mini\r\n")
