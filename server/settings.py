"""The settings tree: one frozen msgspec Struct per concern, defaults for the embedded mode.

`server.config` fills it from the environment and an optional TOML file. Every field maps to
an environment variable ``FRUGAL_<SECTION>_<FIELD>`` (upper-cased); `.env.example` lists them.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec

from agent.model_specs import ModelSpec, ProviderSpec
from metrics.price_overrides import parse_price_overrides
from metrics.pricing import ModelPrice
from router.rules import DEFAULT_BENIGN_PHRASES, DEFAULT_TECHNICAL_KEYWORDS

_TENANT_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_OVERRIDE_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}=\d*/\d*")


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


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
    body_read_timeout_s: float = 30.0
    keep_alive_timeout_s: int = 5
    max_concurrent_connections: int | None = None

    def __post_init__(self) -> None:
        _check(1 <= self.workers <= 64, "workers", "between 1 and 64")
        _check(self.body_read_timeout_s > 0, "body_read_timeout_s", "a positive number of seconds")
        _check(self.keep_alive_timeout_s >= 1, "keep_alive_timeout_s", "at least 1 second")
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


class ProviderSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Where real providers live. With no key and no base URL, the simulated provider answers."""

    mode: Literal["auto", "simulated", "openai", "anthropic"] = "auto"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    pool_size: int = 100

    def __post_init__(self) -> None:
        _check(self.connect_timeout_s > 0, "connect_timeout_s", "a positive number of seconds")
        _check(self.read_timeout_s > 0, "read_timeout_s", "a positive number of seconds")
        _check(self.pool_size >= 1, "pool_size", "at least 1")
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
    semantic_threshold: float = 0.92
    semantic_max_entries: int = 100_000
    semantic_max_turns: int = 1
    max_unknown_token_ratio: float = 0.10
    ttl_faq_s: float = 86_400.0
    ttl_default_s: float = 3_600.0
    ttl_realtime_s: float = 0.0
    memory_max_entries: int = 100_000
    cache_nonzero_temperature: bool = False
    cache_multiple_choices: bool = False

    def __post_init__(self) -> None:
        _check(0.0 < self.semantic_threshold <= 1.0, "semantic_threshold", "in (0, 1]")
        _check(0.0 <= self.max_unknown_token_ratio <= 1.0, "max_unknown_token_ratio", "in [0, 1]")
        _check(self.semantic_max_entries >= 1, "semantic_max_entries", "at least 1")
        _check(self.memory_max_entries >= 1, "memory_max_entries", "at least 1")
        for field in ("ttl_faq_s", "ttl_default_s", "ttl_realtime_s"):
            _check(getattr(self, field) >= 0, field, "zero (do not cache) or more seconds")


class EmbedderSettings(_Section, frozen=True, forbid_unknown_fields=True):
    backend: Literal["local", "openai"] = "local"
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 100
    max_concurrency: int = 4
    batch_delay_s: float = 0.0

    def __post_init__(self) -> None:
        _check(1 <= self.batch_size <= 2048, "batch_size", "between 1 and 2048")
        _check(self.max_concurrency >= 1, "max_concurrency", "at least 1")


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


class AuthSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Who may call, and who they are.

    ``api_keys``: ``tenant:key`` or ``tenant:key:user`` (a key bound to one verified user).
    Empty: auth off (every caller is tenant ``default``; rate limits then apply per client IP;
    the request's ``user_id`` is taken as given). ``user_signing_keys``: ``tenant:secret``, the
    HMAC secrets a tenant's backend signs ``x-frugal-user`` with. ``read_keys``: ``tenant:key``
    pairs that may read that tenant's ``/stats``.
    """

    api_keys: tuple[str, ...] = ()
    user_signing_keys: tuple[str, ...] = ()
    user_signature_window_s: int = 300
    read_keys: tuple[str, ...] = ()
    max_failures_per_minute: int = 20

    def __post_init__(self) -> None:
        keys: set[str] = set()
        for entry in (*self.api_keys, *self.read_keys):
            tenant, sep, rest = entry.partition(":")
            key, _, user = rest.partition(":")
            _check(
                bool(sep) and _TENANT_RE.fullmatch(tenant) is not None,
                "api_keys",
                "entries 'tenant:key' or 'tenant:key:user' with a tenant of letters, digits, "
                "'.', '_' or '-'",
            )
            _check(len(key) >= 16, "api_keys", "keys of at least 16 characters")
            _check(
                entry in self.api_keys or not user, "read_keys", "entries 'tenant:key' (no user)"
            )
            _check(len(user) <= 200, "api_keys", "users of at most 200 characters")
            keys.add(key)
        _check(
            len(keys) == len(self.api_keys) + len(self.read_keys),
            "api_keys",
            "each key listed once (across api_keys and read_keys)",
        )
        tenants: set[str] = set()
        for entry in self.user_signing_keys:
            tenant, sep, secret = entry.partition(":")
            _check(
                bool(sep) and _TENANT_RE.fullmatch(tenant) is not None,
                "user_signing_keys",
                "entries 'tenant:secret'",
            )
            _check(len(secret) >= 32, "user_signing_keys", "secrets of at least 32 characters")
            tenants.add(tenant)
        _check(
            len(tenants) == len(self.user_signing_keys),
            "user_signing_keys",
            "one secret per tenant",
        )
        _check(
            1 <= self.user_signature_window_s <= 86_400,
            "user_signature_window_s",
            "between 1 and 86400 seconds",
        )
        _check(self.max_failures_per_minute >= 1, "max_failures_per_minute", "at least 1")


class CostSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Pricing overrides and the spend window behind ``/stats``' monthly estimate.

    ``price_overrides``: ``model=input/output[/cached_input[/cache_write]]`` in micro-USD per 1M
    tokens, comma-separated (e.g. ``my-model=150000/600000/75000``).
    """

    price_overrides: str = ""
    window_s: int = 3_600
    bucket_s: int = 60
    redis_idle_ttl_s: float = 30 * 86_400.0
    # Distinct names kept per label kind (model, tenant, ...) in /stats and /metrics; callers
    # choose some of them, so past this many the new ones are counted under "other".
    max_label_values: int = 200
    # With Redis: where cost records that cannot reach it are journaled until it answers again
    # ("" = a frugal-journal folder under the system temp dir), the journal's size bound, and
    # how often a replay of it is tried.
    journal_dir: str = ""
    journal_max_bytes: int = 64 * 1024 * 1024
    journal_replay_interval_s: float = 5.0

    def __post_init__(self) -> None:
        _check(self.bucket_s >= 1, "bucket_s", "at least 1 second")
        _check(self.journal_max_bytes >= 1024, "journal_max_bytes", "at least 1024 bytes")
        _check(
            self.journal_replay_interval_s > 0,
            "journal_replay_interval_s",
            "a positive number of seconds",
        )
        _check(self.max_label_values >= 1, "max_label_values", "at least 1")
        _check(
            self.window_s >= self.bucket_s and self.window_s % self.bucket_s == 0,
            "window_s",
            "a multiple of bucket_s",
        )
        _check(self.redis_idle_ttl_s > 0, "redis_idle_ttl_s", "a positive number of seconds")
        try:
            parse_price_overrides(self.price_overrides)
        except ValueError as exc:
            _check(False, "price_overrides", f"model=input/output[/cached[/write]] ({exc})")


class BudgetSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Spending caps in micro-USD per clock hour / day in ``timezone`` (unset: no cap).

    ``tenant_*`` caps apply to each tenant separately; ``tenant_overrides`` replace them for
    named tenants: ``tenant=hourly/daily`` (either may be empty), comma-separated.
    """

    timezone: str = "UTC"
    global_hourly_usd_micros: int | None = None
    global_daily_usd_micros: int | None = None
    tenant_hourly_usd_micros: int | None = None
    tenant_daily_usd_micros: int | None = None
    tenant_overrides: tuple[str, ...] = ()
    alert_percents: tuple[int, ...] = (50, 80, 100)
    alert_webhook_url: str | None = None
    fail_open: bool = True
    hold_ttl_s: float = 600.0
    hold_mode: Literal["worst_case", "estimated"] = "worst_case"

    def __post_init__(self) -> None:
        _check(self.hold_ttl_s > 0, "hold_ttl_s", "a positive number of seconds")
        for field in (
            "global_hourly_usd_micros",
            "global_daily_usd_micros",
            "tenant_hourly_usd_micros",
            "tenant_daily_usd_micros",
        ):
            value = getattr(self, field)
            _check(value is None or value >= 0, field, "zero or more micro-USD (or unset)")
        _check(
            all(1 <= p <= 100 for p in self.alert_percents), "alert_percents", "between 1 and 100"
        )
        for entry in self.tenant_overrides:
            _check(
                _OVERRIDE_RE.fullmatch(entry) is not None,
                "tenant_overrides",
                "entries 'tenant=hourly/daily' in micro-USD, either may be empty",
            )
        url = self.alert_webhook_url
        _check(
            url is None or url.startswith(("http://", "https://")),
            "alert_webhook_url",
            "an http:// or https:// URL",
        )

    @property
    def enabled(self) -> bool:
        """True when any cap is set."""
        return bool(self.tenant_overrides) or any(
            v is not None
            for v in (
                self.global_hourly_usd_micros,
                self.global_daily_usd_micros,
                self.tenant_hourly_usd_micros,
                self.tenant_daily_usd_micros,
            )
        )


class LimitsSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Inbound rate limits per API key (per client IP when auth is off) over a sliding
    ``window_s``, and outbound limits per provider so Frugal waits instead of hitting 429s."""

    requests_per_window: int | None = None
    tokens_per_window: int | None = None
    window_s: float = 60.0
    trust_forwarded_for: bool = False
    openai_rpm: int | None = None
    openai_tpm: int | None = None
    anthropic_rpm: int | None = None
    anthropic_tpm: int | None = None
    provider_max_wait_s: float = 10.0

    def __post_init__(self) -> None:
        for field in (
            "requests_per_window",
            "tokens_per_window",
            "openai_rpm",
            "openai_tpm",
            "anthropic_rpm",
            "anthropic_tpm",
        ):
            value = getattr(self, field)
            _check(value is None or value >= 1, field, "at least 1 (or unset for no limit)")
        _check(self.window_s > 0, "window_s", "a positive number of seconds")
        _check(self.provider_max_wait_s >= 0, "provider_max_wait_s", "zero or more seconds")


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
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    cost: CostSettings = msgspec.field(default_factory=CostSettings)
    budget: BudgetSettings = msgspec.field(default_factory=BudgetSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    registry: RegistrySettings = msgspec.field(default_factory=RegistrySettings)

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


def _check(ok: bool, field: str, expected: str) -> None:
    # msgspec turns a ValueError raised in __post_init__ into a ValidationError carrying the
    # path, so the loader can name the environment variable.
    if not ok:
        raise ValueError(f"{field}: expected {expected}")
