"""`RequestRecord`: what one HTTP request did, as reported to the metrics, stats and logs.

The server builds one record per request that reached a chat endpoint (answered, refused or
failed); `metrics.prometheus` counts it, the latency window of ``/stats`` samples it and the
request log prints it. Nothing here holds message text, API keys or user ids.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from cache.types import Usage

Fault = Literal["caller", "policy", "provider", "frugal"]
"""Who an error is attributed to: bad input or auth (``caller``), a rate limit or budget
(``policy``), an upstream failure (``provider``), or a bug of ours (``frugal``)."""

Outcome = Literal["ok", "error", "cancelled"]
Lookup = Literal["hit", "miss"]

_POLICY: Final = frozenset({"rate_limited", "budget_exceeded", "budget_unavailable"})
_PROVIDER: Final = frozenset(
    {
        "upstream_rate_limited",
        "upstream_timeout",
        "upstream_error",
        "upstream_protocol_error",
        "upstream_auth",
        "circuit_open",
        "provider_error",
        "stream_interrupted",
        "embedding_failed",
    }
)
# Errors of our own making or of our own infrastructure (Redis is ours to run).
_FRUGAL: Final = frozenset({"internal_error", "store_unavailable"})


def fault_of(code: str) -> Fault:
    """The party at fault for error ``code``; unknown codes are the caller's (they all
    describe a request the gateway refused, e.g. ``invalid_json`` or ``unauthorized``)."""
    if code in _POLICY:
        return "policy"
    if code in _PROVIDER:
        return "provider"
    if code in _FRUGAL:
        return "frugal"
    return "caller"


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One request to ``/chat``, ``/chat/stream``, ``/v1/chat/completions`` or ``/v1/responses``.

    ``endpoint`` is ``chat``, ``chat_stream``, ``chat_completions`` or ``responses``. ``status``
    is the HTTP status sent (200 for a stream that later ended with an ``error`` event;
    ``outcome`` and ``error_code`` say so). ``tier`` is the route tier (``cheap``, ``strong``,
    ``explicit``, ``cache``) or None when refused before routing.
    ``exact_lookup``/``semantic_lookup`` say whether that cache was consulted and hit (None: not
    consulted). ``upstream_ms`` is the time spent in the provider call (None when none was
    made); `overhead_ms` is the rest.
    """

    request_id: str
    endpoint: str
    tenant: str = "default"
    status: int = 200
    outcome: Outcome = "ok"
    error_code: str | None = None
    streamed: bool = False
    tier: str | None = None
    cache_layer: Literal["exact", "semantic"] | None = None
    exact_lookup: Lookup | None = None
    semantic_lookup: Lookup | None = None
    model: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    cost_usd_micros: int = 0
    cost_known: bool = True
    saved_usd_micros: int = 0
    used_fallback: bool = False
    fallback_reason: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    upstream_ms: float | None = None

    @property
    def fault(self) -> Fault | None:
        """Who is at fault when the request failed; None when it did not."""
        return None if self.error_code is None else fault_of(self.error_code)

    @property
    def overhead_ms(self) -> float:
        """Time spent outside the provider call (all of it when there was none)."""
        return max(self.latency_ms - (self.upstream_ms or 0.0), 0.0)
