"""OpenTelemetry traces through real HTTP: a real gateway (spans kept by the SDK's in-memory
exporter) in front of the simulator, which records the headers it received."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from server.config import load_settings
from simulator import SimConfig
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

PRIMARY, FALLBACK = "gpt-4o", "gpt-4o-mini"

CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{sim}/v1"
api_key_env = "CLOUD_KEY"

[[registry.models]]
name = "gpt-4o"
provider = "cloud"
price = {{input = 2500000, output = 10000000}}
fallback = ["gpt-4o-mini"]

[[registry.models]]
name = "gpt-4o-mini"
provider = "cloud"
price = {{input = 150000, output = 600000}}
"""

ENV = {
    "CLOUD_KEY": "sk-test",
    "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
    "FRUGAL_TRACING_ENABLED": "true",
}


@dataclass
class Stack:
    sim: RunningSimulator
    gateway: RunningGateway
    http: aiohttp.ClientSession
    spans: InMemorySpanExporter

    async def complete(self, model: str, question: str, *, stream: bool, traceparent: str) -> Any:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": question}],
            "temperature": 0,
        }
        headers = {"traceparent": traceparent}
        url = f"{self.gateway.base_url}/v1/chat/completions"
        async with self.http.post(url, json={**body, "stream": stream}, headers=headers) as r:
            assert r.status == 200, await r.text()
            return await r.read() if stream else await r.json()

    async def received(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sim.base_url}/_sim/requests") as response:
            body: Any = await response.json()
        return [r for r in body if r["path"] == "/v1/chat/completions"]

    async def set_fault(self, model: str, fault: str | None) -> None:
        body = {"model": model, "fault": fault}
        async with self.http.put(f"{self.sim.base_url}/_sim/faults", json=body) as response:
            assert response.status == 200, await response.text()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    exporter = InMemorySpanExporter()
    async with run_simulator(SimConfig(tokens_per_s=400.0, output_tokens=8)) as sim:
        path = tmp_path / "frugal.toml"
        path.write_text(CONFIG.format(sim=sim.base_url))
        settings = load_settings({**ENV, "FRUGAL_CONFIG": str(path)})
        async with (
            run_gateway(settings, span_exporter=exporter) as gateway,
            aiohttp.ClientSession() as http,
        ):
            yield Stack(sim, gateway, http, exporter)


def new_traceparent() -> tuple[str, str, str]:
    """A caller's (traceparent, trace id, span id), as hex."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


class Tree:
    """The finished spans of one trace, by parent."""

    def __init__(self, spans: tuple[ReadableSpan, ...], trace_id: str) -> None:
        self.spans = [s for s in spans if f"{_ctx(s).trace_id:032x}" == trace_id]
        assert self.spans, "no span of the caller's trace"

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, [s.name for s in self.spans]
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        ordered = sorted(self.spans, key=lambda s: s.start_time or 0)
        return [s for s in ordered if s.parent and s.parent.span_id == _ctx(parent).span_id]

    def names_under(self, parent: ReadableSpan) -> list[str]:
        return [s.name for s in self.children(parent)]


def _ctx(span: ReadableSpan) -> Any:
    context = span.get_span_context()
    assert context is not None
    return context


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _span_hex(span: ReadableSpan) -> str:
    return f"{_ctx(span).span_id:016x}"


class TestRequestTrace:
    async def test_a_whole_answer_is_one_span_tree_continuing_the_callers_trace(
        self, stack: Stack
    ) -> None:
        traceparent, trace_id, caller_span = new_traceparent()
        answer = await stack.complete(
            PRIMARY, "What are your opening hours?", stream=False, traceparent=traceparent
        )
        tree = Tree(stack.spans.get_finished_spans(), trace_id)

        root = tree.one("POST /v1/chat/completions")
        assert root.kind is SpanKind.SERVER
        assert root.parent is not None and f"{root.parent.span_id:016x}" == caller_span
        assert _attrs(root)["http.response.status_code"] == 200
        assert tree.names_under(root) == [
            "admission",
            "cache.exact",
            "cache.semantic",
            "route",
            "llm",
        ]
        assert _attrs(tree.one("cache.exact"))["frugal.cache.result"] == "miss"
        assert _attrs(tree.one("cache.semantic"))["frugal.cache.result"] == "miss"
        assert _attrs(tree.one("route"))["frugal.route.model"] == PRIMARY

        llm = tree.one("llm")
        usage = answer["usage"]
        assert _attrs(llm) | {
            "gen_ai.request.model": PRIMARY,
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "frugal.used_fallback": False,
        } == _attrs(llm)
        assert _attrs(llm)["gen_ai.response.model"] == answer["model"]
        assert _attrs(llm)["frugal.cost_usd_micros"] > 0
        [attempt] = tree.children(llm)
        assert attempt.name == f"chat {PRIMARY}" and attempt.kind is SpanKind.CLIENT
        assert _attrs(attempt) | {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": PRIMARY,
            "gen_ai.usage.input_tokens": usage["prompt_tokens"],
            "gen_ai.usage.output_tokens": usage["completion_tokens"],
            "frugal.provider": "cloud",
        } == _attrs(attempt)

        # The provider was told which attempt called it, in the caller's trace.
        [received] = await stack.received()
        assert received["headers"]["traceparent"] == f"00-{trace_id}-{_span_hex(attempt)}-01"

    async def test_a_cache_hit_has_no_provider_span(self, stack: Stack) -> None:
        question = "Do you ship to Canada?"
        await stack.complete(PRIMARY, question, stream=False, traceparent=new_traceparent()[0])
        traceparent, trace_id, _ = new_traceparent()
        await stack.complete(PRIMARY, question, stream=False, traceparent=traceparent)
        tree = Tree(stack.spans.get_finished_spans(), trace_id)
        root = tree.one("POST /v1/chat/completions")
        assert tree.names_under(root) == ["admission", "cache.exact"]
        assert _attrs(tree.one("cache.exact"))["frugal.cache.result"] == "hit"
        assert len(await stack.received()) == 1

    async def test_each_fallback_attempt_is_its_own_span_with_its_own_traceparent(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "500")
        traceparent, trace_id, _ = new_traceparent()
        raw = await stack.complete(
            PRIMARY, "Can I change my delivery address?", stream=True, traceparent=traceparent
        )
        assert b"[DONE]" in raw
        tree = Tree(stack.spans.get_finished_spans(), trace_id)
        llm = tree.one("llm")
        assert _attrs(llm)["frugal.used_fallback"] is True
        assert _attrs(llm)["frugal.fallback_reason"] == "primary_error:upstream_error"
        assert _attrs(llm)["gen_ai.response.model"].startswith(FALLBACK)
        failed, answered = tree.children(llm)
        assert failed.name == f"chat {PRIMARY}" and answered.name == f"chat {FALLBACK}"
        assert failed.status.status_code is StatusCode.ERROR
        assert _attrs(failed)["error.type"] == "upstream_error"
        assert answered.status.status_code is StatusCode.UNSET
        assert _attrs(answered)["gen_ai.usage.output_tokens"] > 0

        received = await stack.received()
        assert [r["model"] for r in received] == [PRIMARY, FALLBACK]
        assert [r["headers"]["traceparent"] for r in received] == [
            f"00-{trace_id}-{_span_hex(failed)}-01",
            f"00-{trace_id}-{_span_hex(answered)}-01",
        ]


class TestAgentTrace:
    async def test_each_tool_call_of_a_chat_turn_is_a_span(self, stack: Stack) -> None:
        traceparent, trace_id, _ = new_traceparent()
        headers = {"traceparent": traceparent}
        body = {"message": "Where is my order 1002?", "user_id": "u-1002"}
        url = f"{stack.gateway.base_url}/chat"
        async with stack.http.post(url, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        tree = Tree(stack.spans.get_finished_spans(), trace_id)
        root = tree.one("POST /chat")
        tools = sorted(t["name"] for t in answer["tools"])
        spans = sorted(s.name for s in tree.spans if s.name.startswith("tool "))
        assert spans == [f"tool {name}" for name in tools] and spans
        for tool in tree.spans:
            if tool.name.startswith("tool "):
                assert tool.parent is not None and tool.parent.span_id == _ctx(root).span_id
                assert _attrs(tool)["frugal.tool.ok"] is True
        assert "llm" in tree.names_under(root)


async def test_without_tracing_no_traceparent_reaches_the_provider(tmp_path: Path) -> None:
    async with run_simulator(SimConfig(tokens_per_s=400.0, output_tokens=8)) as sim:
        path = tmp_path / "frugal.toml"
        path.write_text(CONFIG.format(sim=sim.base_url))
        env = {**ENV, "FRUGAL_CONFIG": str(path), "FRUGAL_TRACING_ENABLED": "false"}
        exporter = InMemorySpanExporter()
        async with (
            run_gateway(load_settings(env), span_exporter=exporter) as gateway,
            aiohttp.ClientSession() as http,
        ):
            stack = Stack(sim, gateway, http, exporter)
            traceparent, _, _ = new_traceparent()
            await stack.complete(PRIMARY, "Hello there?", stream=False, traceparent=traceparent)
            [received] = await stack.received()
            assert "traceparent" not in received["headers"]
            assert exporter.get_finished_spans() == ()


class _Collector(ThreadingHTTPServer):
    """An OTLP/HTTP traces receiver on its own thread (the exporter posts from the SDK's)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CollectorHandler)
        self.requests: list[ExportTraceServiceRequest] = []


class _CollectorHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert isinstance(self.server, _Collector) and self.path == "/v1/traces"
        self.server.requests.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


async def test_spans_reach_an_otlp_collector_over_http(tmp_path: Path) -> None:
    collector = _Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        async with run_simulator(SimConfig(tokens_per_s=400.0, output_tokens=8)) as sim:
            path = tmp_path / "frugal.toml"
            path.write_text(CONFIG.format(sim=sim.base_url))
            endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
            env = {
                **ENV,
                "FRUGAL_CONFIG": str(path),
                "FRUGAL_TRACING_OTLP_ENDPOINT": endpoint,
                "FRUGAL_TRACING_SERVICE_NAME": "frugal-test",
            }
            traceparent, trace_id, _ = new_traceparent()
            async with run_gateway(load_settings(env)) as gateway, aiohttp.ClientSession() as http:
                stack = Stack(sim, gateway, http, InMemorySpanExporter())
                await stack.complete(PRIMARY, "Hi?", stream=False, traceparent=traceparent)
            # The gateway's shutdown flushed the batch to the collector.
    finally:
        collector.shutdown()
        collector.server_close()
    spans = [
        (resource.resource, span)
        for request in collector.requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for _, span in spans if span.trace_id.hex() == trace_id}
    assert {"POST /v1/chat/completions", "llm", f"chat {PRIMARY}"} <= names
    services = {
        attribute.value.string_value
        for resource, _ in spans
        for attribute in resource.attributes
        if attribute.key == "service.name"
    }
    assert services == {"frugal-test"}
