"""`GatewayMetrics`: the Prometheus collectors behind ``GET /metrics``.

Every chat request is counted from its `RequestRecord`; budgets report through two small
methods. Metrics live in the instance's own `CollectorRegistry` (several apps may share a test
process), or, with several workers, in prometheus-client's multiprocess files (see
`metrics.prometheus_multiprocess` for what the CLI must set up). The tenant is never a label:
it is unbounded. Model names are capped (``max_models``, per process) because callers can name
models (any name a passthrough provider accepts): later new names are labelled ``other``.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase

from metrics.degradation import DegradationMetrics
from metrics.prometheus_multiprocess import merged_registry, values_are_shared
from metrics.request_record import RequestRecord

# Whole requests: a cache hit takes milliseconds, a long completion a minute or two.
REQUEST_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
TTFT_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
)  # fmt: skip
# Our own overhead should be sub-millisecond to a few milliseconds: resolve the low end.
OVERHEAD_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

NO_LABEL: Final = "none"
OTHER_MODELS: Final = "other"
_TOKEN_TYPES: Final = ("input", "cached_input", "cache_write", "output")
_MAX_REASONS: Final = 50

_M = TypeVar("_M", bound=MetricWrapperBase)


class _Children(Generic[_M]):
    # `labels()` takes a lock and re-validates its values on every call; a dict hit does not.
    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: _M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str | int, ...], _M] = {}

    def get(self, *values: str | int) -> _M:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


class GatewayMetrics:
    """Prometheus counters, histograms and gauges of one gateway process.

    ``multiprocess_dir``: render the merged metrics of every worker writing into that
    directory, which must be the ``PROMETHEUS_MULTIPROC_DIR`` this process was started with
    (raises ``ValueError`` when the variable was not set before ``prometheus_client`` was
    imported: this process's own metrics would silently be missing). In that mode keep one
    instance per process: instances of one process write the same file entries.
    """

    def __init__(self, *, multiprocess_dir: str | None = None, max_models: int = 200) -> None:
        registry: CollectorRegistry | None
        if multiprocess_dir is None:
            registry = CollectorRegistry(auto_describe=True)
            self._exposed = registry
        else:
            if not values_are_shared():
                raise ValueError(
                    "multiprocess_dir needs PROMETHEUS_MULTIPROC_DIR set to it before "
                    "prometheus_client is first imported"
                )
            registry = None  # values go to the files; rendering reads them all back
            self._exposed = merged_registry(multiprocess_dir)
        self._max_models = max_models
        self._models: set[str] = set()

        requests = Counter(
            "frugal_requests",
            "Chat requests by endpoint, HTTP status and outcome (ok, error, cancelled).",
            ["endpoint", "status", "outcome"],
            registry=registry,
        )
        tokens = Counter(
            "frugal_tokens",
            "Tokens billed, by type: input (uncached input = prompt - cached_input - "
            "cache_write), cached_input, cache_write, output; the four add up to prompt + "
            "completion tokens.",
            ["type", "model"],
            registry=registry,
        )
        cost = Counter(
            "frugal_cost_usd_micros",
            "Spend in micro-USD (integer increments).",
            ["model"],
            registry=registry,
        )
        unpriced = Counter(
            "frugal_unpriced_calls",
            "Calls to a model with no price: their cost is unknown, not zero.",
            ["model"],
            registry=registry,
        )
        cache = Counter(
            "frugal_cache_requests",
            "Response cache lookups by layer (exact, semantic) and result (hit, miss).",
            ["layer", "result"],
            registry=registry,
        )
        route = Counter("frugal_route", "Requests by route tier.", ["tier"], registry=registry)
        errors = Counter(
            "frugal_errors",
            "Failed requests by error code and who is at fault (caller, policy, provider, frugal).",
            ["fault", "code"],
            registry=registry,
        )
        duration = Histogram(
            "frugal_request_duration_seconds",
            "Whole request latency as seen by Frugal.",
            ["endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        ttft = Histogram(
            "frugal_time_to_first_token_seconds",
            "Time to the first streamed token.",
            ["endpoint"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        overhead = Histogram(
            "frugal_overhead_seconds",
            "Frugal's own time per request: latency outside the upstream call.",
            ["endpoint"],
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        budget_used = Gauge(
            "frugal_budget_used_ratio",
            "Settled spend over the cap of the current budget window (1 = exhausted).",
            ["scope", "period"],
            registry=registry,
            # The latest value set by any worker wins: budget use falls back to 0 when a
            # window resets, so a max over workers would keep showing a stale peak.
            multiprocess_mode="mostrecent",
        )
        budget_alerts = Counter(
            "frugal_budget_alerts",
            "Budget alert thresholds reached, by scope, period and threshold percent.",
            ["scope", "period", "threshold"],
            registry=registry,
        )
        redacted = Counter(
            "frugal_pii_redacted",
            "Personal data values redacted by the guard, by direction (input: on their way to "
            "the provider; output: in a model's answer) and kind.",
            ["direction", "kind"],
            registry=registry,
        )
        injection = Counter(
            "frugal_injection_flags",
            "Prompt-injection rule matches, by source (input, tool), rule and action "
            "(flagged, blocked, withheld).",
            ["source", "rule", "action"],
            registry=registry,
        )
        self._saved = Counter(
            "frugal_saved_usd_micros",
            "Money saved in micro-USD by cache hits and routing to a cheaper model.",
            registry=registry,
        )
        self._estimated = Counter(
            "frugal_estimated_usage",
            "Requests whose token counts were estimated locally (no provider usage).",
            registry=registry,
        )
        fallbacks = Counter(
            "frugal_fallbacks",
            "Requests answered by a fallback model, by reason (primary_timeout, "
            "primary_rate_limited, circuit_open, context_window, primary_error:<code>, "
            "midstream:<code>).",
            ["reason"],
            registry=registry,
        )
        self.degradation = DegradationMetrics(registry)
        """Breakers, replication, journal, Redis errors, fail-open decisions, webhooks."""
        self._requests = _Children(requests)
        self._tokens = _Children(tokens)
        self._cost = _Children(cost)
        self._unpriced = _Children(unpriced)
        self._route = _Children(route)
        self._errors = _Children(errors)
        self._duration = _Children(duration)
        self._ttft = _Children(ttft)
        self._overhead = _Children(overhead)
        self._budget_used = _Children(budget_used)
        self._budget_alerts = _Children(budget_alerts)
        self._redacted = _Children(redacted)
        self._injection = _Children(injection)
        self._fallbacks = _Children(fallbacks)
        self._reasons: set[str] = set()
        self._cache = {
            (layer, result): cache.labels(layer, result)
            for layer in ("exact", "semantic")
            for result in ("hit", "miss")
        }

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request (answered, refused or failed). Never raises for
        odd counts: negative token buckets are clamped to zero."""
        endpoint = record.endpoint
        self._requests.get(endpoint, record.status, record.outcome).inc()
        self._duration.get(endpoint).observe(record.latency_ms / 1000.0)
        self._overhead.get(endpoint).observe(record.overhead_ms / 1000.0)
        if record.ttft_ms is not None:
            self._ttft.get(endpoint).observe(record.ttft_ms / 1000.0)
        if record.tier is not None:
            self._route.get(record.tier).inc()
        if record.exact_lookup is not None:
            self._cache["exact", record.exact_lookup].inc()
        if record.semantic_lookup is not None:
            self._cache["semantic", record.semantic_lookup].inc()
        if record.error_code is not None:
            self._errors.get(record.fault or "caller", record.error_code).inc()
        if record.used_fallback:
            self._fallbacks.get(self._reason_label(record.fallback_reason)).inc()
        if record.saved_usd_micros > 0:
            self._saved.inc(record.saved_usd_micros)
        self._observe_spend(record)

    def _observe_spend(self, record: RequestRecord) -> None:
        usage = record.usage
        if usage.estimated:
            self._estimated.inc()
        model = self._model_label(record.model)
        if not record.cost_known:
            self._unpriced.get(model).inc()
        if record.cost_usd_micros > 0:
            self._cost.get(model).inc(record.cost_usd_micros)
        counts = (
            usage.prompt - usage.cached_prompt - usage.cache_write,
            usage.cached_prompt,
            usage.cache_write,
            usage.completion,
        )
        for kind, count in zip(_TOKEN_TYPES, counts, strict=True):
            if count > 0:  # skip zero writes: each is an mmap write in multiprocess mode
                self._tokens.get(kind, model).inc(count)

    def _model_label(self, model: str | None) -> str:
        if model is None:
            return NO_LABEL
        if model in self._models:
            return model
        if len(self._models) < self._max_models:
            self._models.add(model)
            return model
        return OTHER_MODELS

    def _reason_label(self, reason: str | None) -> str:
        # Reasons come from a fixed list and the error codes; capped all the same.
        if reason is None:
            return NO_LABEL
        if reason in self._reasons or len(self._reasons) < _MAX_REASONS:
            self._reasons.add(reason)
            return reason
        return OTHER_MODELS

    def set_budget_use(self, scope: str, period: str, fraction: float) -> None:
        """Set ``frugal_budget_used_ratio{scope,period}`` (spend / cap, 1.0 = exhausted).
        For ``scope="tenant"`` pass the highest use among tenants: tenants are no label."""
        self._budget_used.get(scope, period).set(fraction)

    def count_budget_alert(self, scope: str, period: str, threshold_percent: int) -> None:
        """Count one alert of ``frugal_budget_alerts_total{scope,period,threshold}``."""
        self._budget_alerts.get(scope, period, threshold_percent).inc()

    def count_redacted(self, direction: str, kind: str, count: int) -> None:
        """Add ``count`` to ``frugal_pii_redacted_total{direction,kind}`` (labels from the
        guard's fixed lists: bounded)."""
        self._redacted.get(direction, kind).inc(count)

    def count_injection_flag(self, source: str, rule: str, action: str) -> None:
        """Count one ``frugal_injection_flags_total{source,rule,action}``."""
        self._injection.get(source, rule, action).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition (all workers' merged in multiprocess mode) and its
        content type, for the ``/metrics`` response."""
        return generate_latest(self._exposed), CONTENT_TYPE_LATEST
