"""GatewayMetrics: exact samples parsed back from the exposition, isolation, multiprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from agent.types import Usage
from metrics.prometheus import GatewayMetrics
from metrics.prometheus_multiprocess import render_multiprocess
from metrics.request_record import RequestRecord

REPO = Path(__file__).resolve().parents[2]

Labels = tuple[tuple[str, str], ...]


class Exposition:
    """The samples of one rendering, by sample name and label set (``_created`` dropped)."""

    def __init__(self, text: bytes) -> None:
        self.help: dict[str, str] = {}
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text.decode()):
            self.help[family.name] = family.documentation
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    self.samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples[name, tuple(sorted(labels.items()))]

    def series(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


def render(metrics: GatewayMetrics) -> Exposition:
    body, content_type = metrics.render()
    assert content_type == CONTENT_TYPE_LATEST
    return Exposition(body)


def rec(request_id: str, endpoint: str = "chat", **fields: Any) -> RequestRecord:
    return RequestRecord(request_id=request_id, endpoint=endpoint, tenant="acme", **fields)


MINI, SONNET, LLAMA = "gpt-4o-mini", "claude-sonnet-4-6", "llama-3-70b"
RECORDS = (
    rec("ok", tier="cheap", model=MINI, exact_lookup="miss", semantic_lookup="miss",
        usage=Usage(prompt=1000, cached_prompt=200, completion=300), cost_usd_micros=450,
        latency_ms=500.0, upstream_ms=499.0),
    rec("exact-hit", tier="cache", cache_layer="exact", exact_lookup="hit", model=MINI,
        saved_usd_micros=450, latency_ms=2.0),
    rec("stream", "chat_stream", streamed=True, tier="strong", model=SONNET,
        exact_lookup="miss", semantic_lookup="miss",
        usage=Usage(prompt=3000, cached_prompt=1000, cache_write=1000, completion=100),
        cost_usd_micros=8550, ttft_ms=250.0, latency_ms=1500.0, upstream_ms=1496.0),
    rec("semantic-hit", tier="cache", cache_layer="semantic", exact_lookup="miss",
        semantic_lookup="hit", model="gpt-4o", saved_usd_micros=3250, latency_ms=20.0),
    rec("fallback", tier="strong", model=MINI, used_fallback=True,
        fallback_reason="primary_timeout", usage=Usage(prompt=400, completion=100),
        cost_usd_micros=120, latency_ms=1000.0, upstream_ms=992.0),
    rec("unpriced", "chat_completions", tier="explicit", model=LLAMA, cost_known=False,
        usage=Usage(prompt=10, completion=5, estimated=True), latency_ms=250.0,
        upstream_ms=240.0),
    rec("caller", status=400, outcome="error", error_code="invalid_json", latency_ms=1.0),
    rec("policy", status=503, outcome="error", error_code="budget_exceeded", latency_ms=3.0),
    rec("provider", "chat_stream", streamed=True, outcome="error",
        error_code="stream_interrupted", tier="cheap", model=MINI,
        usage=Usage(prompt=50, completion=7, estimated=True), cost_usd_micros=9,
        ttft_ms=100.0, latency_ms=2000.0, upstream_ms=1990.0),
    rec("frugal", "chat_completions", status=500, outcome="error", error_code="internal_error",
        latency_ms=5.0),
)  # fmt: skip


@pytest.fixture
def observed() -> Exposition:
    metrics = GatewayMetrics()
    for record in RECORDS:
        metrics.observe(record)
    return render(metrics)


class TestObserve:
    def test_requests_by_endpoint_status_and_outcome(self, observed: Exposition) -> None:
        assert observed.series("frugal_requests_total") == {
            (("endpoint", "chat"), ("outcome", "ok"), ("status", "200")): 4,
            (("endpoint", "chat_stream"), ("outcome", "ok"), ("status", "200")): 1,
            (("endpoint", "chat_completions"), ("outcome", "ok"), ("status", "200")): 1,
            (("endpoint", "chat"), ("outcome", "error"), ("status", "400")): 1,
            (("endpoint", "chat"), ("outcome", "error"), ("status", "503")): 1,
            (("endpoint", "chat_stream"), ("outcome", "error"), ("status", "200")): 1,
            (("endpoint", "chat_completions"), ("outcome", "error"), ("status", "500")): 1,
        }

    def test_token_buckets_add_up_to_prompt_plus_completion(self, observed: Exposition) -> None:
        tokens = {
            (labels[1][1], labels[0][1]): v
            for labels, v in observed.series("frugal_tokens_total").items()
        }
        assert tokens == {
            ("input", MINI): 800 + 400 + 50,
            ("cached_input", MINI): 200,
            ("output", MINI): 300 + 100 + 7,
            ("input", SONNET): 1000,
            ("cached_input", SONNET): 1000,
            ("cache_write", SONNET): 1000,
            ("output", SONNET): 100,
            ("input", LLAMA): 10,
            ("output", LLAMA): 5,
        }
        assert sum(v for (_, m), v in tokens.items() if m == SONNET) == 3000 + 100
        assert "prompt + completion" in observed.help["frugal_tokens"]

    def test_cost_saved_unpriced_and_estimated(self, observed: Exposition) -> None:
        assert observed.series("frugal_cost_usd_micros_total") == {
            (("model", MINI),): 450 + 120 + 9,
            (("model", SONNET),): 8550,
        }
        assert observed.value("frugal_saved_usd_micros_total") == 450 + 3250
        assert observed.series("frugal_unpriced_calls_total") == {(("model", LLAMA),): 1}
        assert observed.value("frugal_estimated_usage_total") == 2

    def test_cache_lookups_routes_and_fallbacks(self, observed: Exposition) -> None:
        cache = observed.series("frugal_cache_requests_total")
        assert cache == {
            (("layer", "exact"), ("result", "hit")): 1,
            (("layer", "exact"), ("result", "miss")): 3,
            (("layer", "semantic"), ("result", "hit")): 1,
            (("layer", "semantic"), ("result", "miss")): 2,
        }
        assert observed.series("frugal_route_total") == {
            (("tier", "cheap"),): 2,
            (("tier", "cache"),): 2,
            (("tier", "strong"),): 2,
            (("tier", "explicit"),): 1,
        }
        assert observed.series("frugal_fallbacks_total") == {(("reason", "primary_timeout"),): 1}

    def test_errors_by_fault_and_code(self, observed: Exposition) -> None:
        assert observed.series("frugal_errors_total") == {
            (("code", "invalid_json"), ("fault", "caller")): 1,
            (("code", "budget_exceeded"), ("fault", "policy")): 1,
            (("code", "stream_interrupted"), ("fault", "provider")): 1,
            (("code", "internal_error"), ("fault", "frugal")): 1,
        }

    def test_latency_histograms(self, observed: Exposition) -> None:
        duration = "frugal_request_duration_seconds"
        assert observed.value(f"{duration}_count", endpoint="chat") == 6
        assert observed.value(f"{duration}_sum", endpoint="chat") == pytest.approx(1.526)
        assert observed.value(f"{duration}_count", endpoint="chat_stream") == 2
        assert observed.value(f"{duration}_sum", endpoint="chat_stream") == pytest.approx(3.5)
        assert observed.value(f"{duration}_bucket", endpoint="chat", le="0.5") == 5
        assert observed.value(f"{duration}_bucket", endpoint="chat", le="+Inf") == 6

    def test_ttft_only_for_records_that_have_one(self, observed: Exposition) -> None:
        ttft = "frugal_time_to_first_token_seconds"
        assert set(observed.series(f"{ttft}_count")) == {(("endpoint", "chat_stream"),)}
        assert observed.value(f"{ttft}_count", endpoint="chat_stream") == 2
        assert observed.value(f"{ttft}_sum", endpoint="chat_stream") == pytest.approx(0.35)

    def test_overhead_is_latency_outside_upstream_with_fine_low_buckets(
        self, observed: Exposition
    ) -> None:
        overhead = "frugal_overhead_seconds"
        # chat overheads: 1, 2, 20, 8, 1, 3 ms (the whole latency when no upstream call).
        assert observed.value(f"{overhead}_count", endpoint="chat") == 6
        assert observed.value(f"{overhead}_sum", endpoint="chat") == pytest.approx(0.035)
        buckets = {
            dict(labels)["le"]: v
            for labels, v in observed.series(f"{overhead}_bucket").items()
            if dict(labels)["endpoint"] == "chat"
        }
        assert buckets["0.0001"] == 0
        assert buckets["0.0025"] == 3
        assert buckets["0.005"] == 4
        assert buckets["0.01"] == 5
        assert buckets["0.025"] == 6

    def test_tenant_is_never_a_label(self, observed: Exposition) -> None:
        assert all("tenant" not in dict(labels) for _, labels in observed.samples)


class TestEdgeRecords:
    def test_refusal_without_model_creates_no_model_series(self) -> None:
        metrics = GatewayMetrics()
        metrics.observe(rec("r", status=429, outcome="error", error_code="rate_limited"))
        exposition = render(metrics)
        assert exposition.series("frugal_tokens_total") == {}
        assert exposition.series("frugal_cost_usd_micros_total") == {}
        assert exposition.series("frugal_route_total") == {}
        assert exposition.value("frugal_errors_total", fault="policy", code="rate_limited") == 1

    def test_tokens_without_model_use_the_none_label(self) -> None:
        metrics = GatewayMetrics()
        metrics.observe(rec("r", usage=Usage(prompt=3, completion=2, estimated=True)))
        exposition = render(metrics)
        assert exposition.value("frugal_tokens_total", type="input", model="none") == 3
        assert exposition.value("frugal_tokens_total", type="output", model="none") == 2

    def test_inconsistent_usage_is_clamped_not_raised(self) -> None:
        metrics = GatewayMetrics()
        metrics.observe(rec("r", model=MINI, usage=Usage(prompt=1, cached_prompt=5)))
        assert render(metrics).series("frugal_tokens_total") == {
            (("model", MINI), ("type", "cached_input")): 5
        }

    def test_models_past_the_cap_share_the_other_label(self) -> None:
        metrics = GatewayMetrics(max_models=2)
        for model in ("a", "b", "c", "d", "a"):
            metrics.observe(rec("r", model=model, cost_usd_micros=10))
        assert render(metrics).series("frugal_cost_usd_micros_total") == {
            (("model", "a"),): 20,
            (("model", "b"),): 10,
            (("model", "other"),): 20,
        }


class TestBudget:
    def test_budget_use_gauge_keeps_the_latest_value(self) -> None:
        metrics = GatewayMetrics()
        metrics.set_budget_use("global", "day", 0.9)
        metrics.set_budget_use("global", "day", 0.25)
        metrics.set_budget_use("tenant", "hour", 1.0)
        assert render(metrics).series("frugal_budget_used_ratio") == {
            (("period", "day"), ("scope", "global")): 0.25,
            (("period", "hour"), ("scope", "tenant")): 1.0,
        }

    def test_alerts_counted_per_threshold(self) -> None:
        metrics = GatewayMetrics()
        for percent in (50, 80, 100, 50):
            metrics.count_budget_alert("global", "hour", percent)
        assert render(metrics).series("frugal_budget_alerts_total") == {
            (("period", "hour"), ("scope", "global"), ("threshold", "50")): 2,
            (("period", "hour"), ("scope", "global"), ("threshold", "80")): 1,
            (("period", "hour"), ("scope", "global"), ("threshold", "100")): 1,
        }


def test_instances_do_not_share_values() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.observe(RECORDS[0])
    first.observe(RECORDS[0])
    second.observe(RECORDS[4])
    assert render(first).value("frugal_cost_usd_micros_total", model=MINI) == 900
    assert render(first).series("frugal_fallbacks_total") == {}
    assert render(second).value("frugal_cost_usd_micros_total", model=MINI) == 120
    assert render(second).value("frugal_fallbacks_total", reason="primary_timeout") == 1


# A worker: records one request with `completion` output tokens (and as many micro-USD),
# sets the global budget use, and prints the merged exposition when asked.
WORKER = """
import sys
from agent.types import Usage
from metrics.prometheus import GatewayMetrics
from metrics.request_record import RequestRecord
directory, completion, budget, show = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
metrics = GatewayMetrics(multiprocess_dir=directory)
metrics.observe(RequestRecord(
    request_id="r", endpoint="chat", tier="cheap", model="gpt-4o-mini", used_fallback=True,
    fallback_reason="circuit_open",
    usage=Usage(prompt=100, completion=completion), cost_usd_micros=completion,
    latency_ms=200.0, upstream_ms=190.0, ttft_ms=50.0,
))
metrics.set_budget_use("global", "day", budget)
if show == "render":
    sys.stdout.buffer.write(metrics.render()[0])
"""


class TestMultiprocess:
    def worker(self, directory: Path, completion: int, budget: float, show: str) -> list[str]:
        return [sys.executable, "-c", WORKER, str(directory), str(completion), str(budget), show]

    def run_workers(self, directory: Path) -> bytes:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
        first, second = (
            subprocess.Popen(self.worker(directory, n, budget, "-"), cwd=REPO, env=env)
            for n, budget in ((10, 0.9), (20, 0.2))
        )
        assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
        last = subprocess.run(
            self.worker(directory, 30, 0.3, "render"),
            cwd=REPO, env=env, capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        return last.stdout

    def test_workers_sum_into_one_exposition(self, tmp_path: Path) -> None:
        from_worker = Exposition(self.run_workers(tmp_path))
        body, content_type = render_multiprocess(str(tmp_path))
        assert content_type == CONTENT_TYPE_LATEST
        for exposition in (from_worker, Exposition(body)):
            assert (
                exposition.value(
                    "frugal_requests_total", endpoint="chat", status="200", outcome="ok"
                )
                == 3
            )
            assert exposition.value("frugal_tokens_total", type="input", model=MINI) == 300
            assert exposition.value("frugal_tokens_total", type="output", model=MINI) == 60
            assert exposition.value("frugal_cost_usd_micros_total", model=MINI) == 60
            assert exposition.value("frugal_fallbacks_total", reason="circuit_open") == 3
            duration = "frugal_request_duration_seconds"
            assert exposition.value(f"{duration}_count", endpoint="chat") == 3
            assert exposition.value(f"{duration}_sum", endpoint="chat") == pytest.approx(0.6)
            assert exposition.value(f"{duration}_bucket", endpoint="chat", le="0.25") == 3
            ttft = "frugal_time_to_first_token_seconds"
            assert exposition.value(f"{ttft}_sum", endpoint="chat") == pytest.approx(0.15)
            # The last value set wins over the largest one (0.9 from the first worker).
            assert exposition.value("frugal_budget_used_ratio", scope="global", period="day") == (
                pytest.approx(0.3)
            )
            assert all("pid" not in dict(labels) for _, labels in exposition.samples)

    def test_multiprocess_dir_without_the_environment_variable_is_refused(
        self, tmp_path: Path
    ) -> None:
        # This test process imported prometheus_client without PROMETHEUS_MULTIPROC_DIR.
        with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
            GatewayMetrics(multiprocess_dir=str(tmp_path))
