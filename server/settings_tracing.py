"""The ``[tracing]`` settings section: OpenTelemetry traces, off by default."""

from __future__ import annotations

from server.settings_base import Section
from server.settings_base import check as _check


class TracingSettings(Section, frozen=True, forbid_unknown_fields=True):
    """Whether requests are traced, where spans go (an OTLP/HTTP traces endpoint, e.g. an
    OpenTelemetry Collector or Jaeger on 4318), the service name they carry, and the share
    of new traces kept (a caller's sampled ``traceparent`` is always followed)."""

    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "frugal"
    sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        _check(0.0 <= self.sample_ratio <= 1.0, "sample_ratio", "a number from 0 to 1")
        _check(bool(self.service_name), "service_name", "a non-empty name")
        _check(
            self.otlp_endpoint.startswith(("http://", "https://")),
            "otlp_endpoint",
            "an http:// or https:// URL",
        )
