"""The policy sections of the settings tree: who may call (auth), what calls cost and may
spend (cost, budget), and how fast they may come (limits). Re-exported by `server.settings`."""

from __future__ import annotations

from typing import Literal

from metrics.budget_windows import load_zone
from metrics.price_overrides import parse_price_overrides
from server.key_entries import configured_digest, is_valid_key, split_entry
from server.settings_base import OVERRIDE_RE as _OVERRIDE_RE
from server.settings_base import TENANT_RE as _TENANT_RE
from server.settings_base import Section as _Section
from server.settings_base import check as _check


class AuthSettings(_Section, frozen=True, forbid_unknown_fields=True):
    """Who may call, and who they are.

    ``api_keys``: ``tenant:key`` or ``tenant:key:user`` (a key bound to one verified user); a
    key may be given as ``sha256:<hex digest>`` so the configuration never holds it
    (`server.key_entries`).
    Empty: auth off (every caller is tenant ``default``; rate limits then apply per client IP;
    the request's ``user_id`` is taken as given). ``user_signing_keys``: ``tenant:secret``, the
    HMAC secrets a tenant's backend signs ``x-frugal-user`` with. ``read_keys``: ``tenant:key``
    pairs that may read that tenant's ``/stats``. ``session_secret``: the HMAC key of the
    browser pages' sign-in cookie (the same on every replica; unset: random per process), which
    expires after ``session_ttl_s``.
    """

    api_keys: tuple[str, ...] = ()
    user_signing_keys: tuple[str, ...] = ()
    user_signature_window_s: int = 300
    read_keys: tuple[str, ...] = ()
    max_failures_per_minute: int = 20
    session_secret: str | None = None
    session_ttl_s: int = 3600

    def __post_init__(self) -> None:
        _check(
            self.session_secret is None or len(self.session_secret) >= 32,
            "session_secret",
            "at least 32 characters (or unset for a random one per process)",
        )
        _check(60 <= self.session_ttl_s <= 86_400, "session_ttl_s", "between 60 and 86400 seconds")
        keys: set[bytes] = set()
        for entry in (*self.api_keys, *self.read_keys):
            tenant, key, user = split_entry(entry)
            _check(
                ":" in entry and _TENANT_RE.fullmatch(tenant) is not None,
                "api_keys",
                "entries 'tenant:key' or 'tenant:key:user' with a tenant of letters, digits, "
                "'.', '_' or '-'",
            )
            _check(
                is_valid_key(key),
                "api_keys",
                "keys of at least 16 characters, or 'sha256:' and the key's 64 hex digits",
            )
            _check(
                entry in self.api_keys or not user, "read_keys", "entries 'tenant:key' (no user)"
            )
            _check(len(user) <= 200, "api_keys", "users of at most 200 characters")
            keys.add(configured_digest(key))
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
    fail_open: bool = False
    hold_ttl_s: float = 600.0
    hold_mode: Literal["worst_case", "estimated"] = "worst_case"

    def __post_init__(self) -> None:
        try:
            load_zone(self.timezone)
        except ValueError:
            _check(
                False,
                "timezone",
                f"an IANA time zone such as UTC or Europe/Paris, not {self.timezone!r}",
            )
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
