"""`ModelRegistry`: which models exist, which provider serves each, and at what price.

Built once from declared `ProviderSpec`s and `ModelSpec`s and checked as a whole at
construction, so a broken configuration stops the process at start-up with one clear line
instead of failing requests later.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from agent.errors import InvalidModelName, ModelNotFound, RegistryError
from agent.model_specs import (
    CAPABILITIES,
    ModelKind,
    ModelSpec,
    ProviderKind,
    ProviderSpec,
    validate_model_name,
)
from metrics.pricing import ModelPrice

__all__ = [
    "CAPABILITIES",
    "ModelKind",
    "ModelRegistry",
    "ModelSpec",
    "ProviderKind",
    "ProviderSpec",
    "ResolvedModel",
    "validate_model_name",
]


class ResolvedModel(msgspec.Struct, frozen=True):
    """A model name as a request gave it (``requested``), resolved to its spec and provider."""

    spec: ModelSpec
    provider: ProviderSpec
    requested: str

    @property
    def upstream_name(self) -> str:
        """The model name to send to the provider."""
        return self.spec.upstream


class ModelRegistry:
    """The declared providers and models, looked up by name or alias.

    ``auto_aliases`` are names meaning "let Frugal's router choose"; they resolve to nothing
    here. ``passthrough_worst_case_price`` is the price undeclared names reaching a
    passthrough provider are billed at; without it such names are refused (they have no price).

    Raises `RegistryError` (one line naming the model or provider and the key) when a model
    names an undeclared provider, a name or alias is declared twice, a fallback names an
    unknown model, or a model has no price and is not ``unpriced_allowed`` with a
    ``worst_case_price``.
    """

    def __init__(
        self,
        providers: Iterable[ProviderSpec],
        models: Iterable[ModelSpec],
        *,
        auto_aliases: Iterable[str] = ("auto",),
        passthrough_worst_case_price: ModelPrice | None = None,
    ) -> None:
        self._providers: dict[str, ProviderSpec] = {}
        for provider in providers:
            if provider.name in self._providers:
                raise RegistryError(f"provider {provider.name!r}: name is declared twice")
            self._providers[provider.name] = provider
        self._models: list[ModelSpec] = list(models)
        self._auto_aliases = tuple(auto_aliases)
        self._passthrough_price = passthrough_worst_case_price
        self._by_name: dict[str, ModelSpec] = {}
        self._auto_names: set[str] = set()
        for alias in self._auto_aliases:
            self._claim(alias, None, "auto_aliases")
        for spec in self._models:
            self._check_model(spec)
            self._claim(spec.name, spec, "name")
        for spec in self._models:
            for alias in spec.aliases:
                self._claim(alias, spec, "aliases")
        for spec in self._models:
            self._check_fallback(spec)

    @property
    def auto_aliases(self) -> tuple[str, ...]:
        """Names that ask Frugal's router to choose the model."""
        return self._auto_aliases

    def is_auto(self, name: str) -> bool:
        """True when ``name`` asks the router to choose."""
        return name in self._auto_aliases

    def resolve(self, name: str) -> ResolvedModel:
        """The model (and provider) that serves ``name``, a model name or an alias.

        An undeclared name goes to a passthrough provider: the only one, or the only one whose
        kind matches the name (``claude-*`` → ``anthropic``), billed at the passthrough
        worst-case price. Raises `InvalidModelName` for a malformed name and `ModelNotFound`
        when nothing serves it (including auto aliases, which the router resolves).
        """
        spec = self._by_name.get(name)
        if spec is not None:  # a declared name or alias is valid by construction
            return ResolvedModel(spec, self._providers[spec.provider], name)
        validate_model_name(name)
        if name in self._auto_aliases:
            raise ModelNotFound(
                f"{name!r} lets the router choose; resolve the routed model instead", model=name
            )
        provider = self._passthrough_provider(name)
        if provider is None:
            raise ModelNotFound(f"model {name!r} is not served here", model=name)
        if self._passthrough_price is None:
            raise ModelNotFound(
                f"model {name!r} is not declared and has no price; declare it in "
                "[[registry.models]] or set registry.passthrough_worst_case_price",
                model=name,
            )
        passthrough = ModelSpec(
            name=name,
            provider=provider.name,
            unpriced_allowed=True,
            worst_case_price=self._passthrough_price,
        )
        return ResolvedModel(passthrough, provider, name)

    def models(self) -> list[ModelSpec]:
        """The declared chat and embedding models, in declaration order."""
        return list(self._models)

    def providers(self) -> list[ProviderSpec]:
        """The declared providers, in declaration order."""
        return list(self._providers.values())

    def provider(self, name: str) -> ProviderSpec:
        """The provider called ``name``; raises `KeyError` when none is."""
        try:
            return self._providers[name]
        except KeyError:
            raise KeyError(f"provider {name!r} is not declared") from None

    def fallback_chain(self, model: str) -> tuple[ResolvedModel, ...]:
        """The models that answer, in order, when ``model`` fails (empty: no fallback).

        Raises as `resolve` does for ``model``.
        """
        spec = self.resolve(model).spec
        return tuple(self.resolve(name) for name in spec.fallback)

    def first_fallback(self, model: str) -> str | None:
        """The first model of ``model``'s fallback chain, or None when it has none or
        ``model`` does not resolve (fits `FallbackClient`'s ``secondary_model_for``)."""
        try:
            spec = self.resolve(model).spec
        except (ModelNotFound, InvalidModelName):
            return None
        return spec.fallback[0] if spec.fallback else None

    def price_for(self, model: str) -> ModelPrice | None:
        """The declared price of ``model``, or None when it is unpriced.

        Raises as `resolve` does.
        """
        return self.resolve(model).spec.price

    def billing_price(self, model: str) -> ModelPrice:
        """The price to bill and hold budget at: the real price, else the worst-case price.

        Raises as `resolve` does.
        """
        spec = self.resolve(model).spec
        price = spec.price or spec.worst_case_price
        assert price is not None  # checked at construction (passthrough: by resolve)
        return price

    def _passthrough_provider(self, name: str) -> ProviderSpec | None:
        candidates = [p for p in self._providers.values() if p.passthrough]
        if len(candidates) == 1:
            return candidates[0]
        kind = _kind_for_name(name)
        matching = [p for p in candidates if p.kind == kind]
        return matching[0] if len(matching) == 1 else None

    def _claim(self, name: str, spec: ModelSpec | None, key: str) -> None:
        # Model names, aliases and auto aliases share one namespace.
        if name in self._by_name or name in self._auto_names:
            where = f"model {spec.name!r}" if spec is not None else "auto_aliases"
            raise RegistryError(f"{where}: {key} {name!r} is already declared")
        if spec is None:
            self._auto_names.add(name)
        else:
            self._by_name[name] = spec

    def _check_model(self, spec: ModelSpec) -> None:
        where = f"model {spec.name!r}"
        if spec.provider not in self._providers:
            declared = ", ".join(self._providers) or "none"
            raise RegistryError(
                f"{where}: provider {spec.provider!r} is not declared (declared: {declared})"
            )
        if spec.price is None and not spec.unpriced_allowed:
            raise RegistryError(
                f"{where}: price is required (or set unpriced_allowed = true "
                "with a worst_case_price)"
            )
        if spec.unpriced_allowed and spec.worst_case_price is None:
            raise RegistryError(f"{where}: worst_case_price is required with unpriced_allowed")

    def _check_fallback(self, spec: ModelSpec) -> None:
        where = f"model {spec.name!r}"
        for name in spec.fallback:
            target = self._by_name.get(name)
            if target is None:
                raise RegistryError(f"{where}: fallback names unknown model {name!r}")
            if target is spec:
                raise RegistryError(f"{where}: fallback names the model itself ({name!r})")
            if target.kind != spec.kind:
                raise RegistryError(
                    f"{where}: fallback {name!r} is of kind {target.kind!r}, not {spec.kind!r}"
                )


def _kind_for_name(name: str) -> ProviderKind:
    # The same convention `build_provider` always used: claude-* to Anthropic, the rest OpenAI.
    bare = name.rsplit("/", 1)[-1].lower()
    return "anthropic" if bare.startswith("claude") else "openai"
