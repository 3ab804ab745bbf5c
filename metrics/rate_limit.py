"""Inbound rate limits: the `RateLimiter` seam, its decision type and the HTTP headers.

Each caller (``subject``: an API key, or the client IP when auth is off; opaque to us) gets a
sliding-window request limit and a tokens-per-window budget, both over ``window_s`` (a minute
by default). Tokens are only estimated when a request is admitted (its prompt tokens), so
`RateLimiter.check` admits on that estimate and `RateLimiter.adjust` adds the completion tokens
once the call has finished: a caller who overspends one window waits longer in the next.

Backends: `metrics.rate_limit_memory.MemoryRateLimiter` (one process) and
`metrics.rate_limit_redis.RedisRateLimiter` (shared by every replica).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol, runtime_checkable

import msgspec

Dimension = Literal["requests", "tokens"]


class RateLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The limits of one subject: ``requests`` and ``tokens`` per ``window_s`` seconds.

    ``None`` switches a dimension off. A request counts against both for ``window_s`` after
    it was admitted; tokens added by `RateLimiter.adjust` count from the moment they are added.
    """

    requests: int | None = None
    tokens: int | None = None
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests: expected at least 1 (or None for no request limit)")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError("tokens: expected at least 1 (or None for no token limit)")
        if not self.window_s >= 0.001:
            raise ValueError("window_s: expected at least 0.001 seconds")

    @property
    def enabled(self) -> bool:
        """Whether any limit is configured (a limiter without one admits everything)."""
        return self.requests is not None or self.tokens is not None


class WindowState(msgspec.Struct, frozen=True):
    """Where one subject stands against one limit, right after the decision.

    ``reset_after_s`` is how long until the window holds nothing counted against this limit
    (OpenAI's "resets to its initial state"), 0 when it already holds nothing.
    """

    limit: int
    remaining: int
    reset_after_s: float


class RateDecision(msgspec.Struct, frozen=True):
    """The answer of `RateLimiter.check`.

    ``requests`` / ``tokens`` are ``None`` when that limit is off (or unknown: ``degraded``).
    When refused, ``which`` names the limit that holds the caller back longest and
    ``retry_after_s`` says when the same request would be admitted; it is ``None`` when
    allowed, and also when waiting cannot help (the request alone exceeds the token limit).
    ``degraded`` is true when the shared store was unavailable and a local policy decided.
    """

    allowed: bool
    requests: WindowState | None = None
    tokens: WindowState | None = None
    retry_after_s: float | None = None
    which: Dimension | None = None
    degraded: bool = False


@runtime_checkable
class RateLimiter(Protocol):
    """Admits or refuses requests per subject, against `RateLimits`."""

    async def check(self, subject: str, tokens: int = 0) -> RateDecision:
        """Admit one request estimated at ``tokens`` tokens, or refuse it.

        An admitted request is counted at once (check-and-add is atomic, also across
        replicas); a refused one is not counted at all. Never raises for an unavailable
        backend: that is a ``degraded`` decision. Raises ``ValueError`` for ``tokens < 0``.
        """
        ...

    async def adjust(self, subject: str, extra_tokens: int) -> None:
        """Count ``extra_tokens`` more for ``subject`` from now on (completion tokens).

        Never refuses and never raises for an unavailable backend (the tokens are lost).
        Raises ``ValueError`` for ``extra_tokens < 0``: a sliding log cannot take tokens
        back without briefly under-counting, so estimate low and adjust up.
        """
        ...


class RateLimitExceeded(Exception):
    """An inbound request was refused by a `RateLimiter`; maps to HTTP 429.

    ``headers`` are the ``Retry-After`` / ``X-RateLimit-*`` headers for the response.
    """

    code = "rate_limited"

    def __init__(self, decision: RateDecision) -> None:
        which = decision.which or "requests"
        super().__init__(f"rate limit exceeded ({which} per window)")
        self.decision = decision
        self.headers = rate_limit_headers(decision)


def window_states(
    limits: RateLimits,
    *,
    requests_counted: int,
    tokens_counted: int,
    requests_reset_s: float,
    tokens_reset_s: float,
) -> tuple[WindowState | None, WindowState | None]:
    """The (requests, tokens) states of a window holding the given counts; ``None`` when off.

    For backends: both build their decisions with it so the headers mean the same thing.
    """
    requests = None
    if limits.requests is not None:
        remaining = max(0, limits.requests - requests_counted)
        requests = WindowState(limits.requests, remaining, max(0.0, requests_reset_s))
    tokens = None
    if limits.tokens is not None:
        remaining = max(0, limits.tokens - tokens_counted)
        tokens = WindowState(limits.tokens, remaining, max(0.0, tokens_reset_s))
    return requests, tokens


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """The response headers for ``decision``, named as OpenAI names its own.

    ``X-RateLimit-{Limit,Remaining,Reset}-{Requests,Tokens}`` for each configured limit (the
    reset as a duration such as ``"1s"``, ``"6m0s"``, ``"20ms"``), and ``Retry-After`` in whole
    seconds (rounded up, at least 1) on a refusal that waiting can cure.
    """
    headers: dict[str, str] = {}
    for name, state in (("Requests", decision.requests), ("Tokens", decision.tokens)):
        if state is None:
            continue
        headers[f"X-RateLimit-Limit-{name}"] = str(state.limit)
        headers[f"X-RateLimit-Remaining-{name}"] = str(state.remaining)
        headers[f"X-RateLimit-Reset-{name}"] = format_duration(state.reset_after_s)
    if not decision.allowed and decision.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s)))
    return headers


def format_duration(seconds: float) -> str:
    """A Go-style duration, to the millisecond (rounded up): ``"0s"``, ``"20ms"``, ``"1.5s"``,
    ``"6m0s"``, ``"1h0m0s"`` — the format of OpenAI's ``x-ratelimit-reset-*`` headers."""
    millis = max(0, math.ceil(seconds * 1000 - 1e-6))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
