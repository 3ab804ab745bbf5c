"""The OpenAPI description: it names every route the app serves (and nothing else), it is a
valid OpenAPI 3.1 document, and the gateway serves it and its reference page locally."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator
from starlette.routing import Mount, Route

from server.app import create_app
from server.config import load_settings
from server.openapi import OPERATIONS, build_document
from tests.support.gateway import run_gateway

_PATH_CONVERTER = re.compile(r"{(\w+):\w+}")


def _app_operations() -> set[tuple[str, str]]:
    app = create_app(load_settings({}))
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            path = _PATH_CONVERTER.sub(r"{\1}", route.path)
            # Starlette answers HEAD on every GET route by itself.
            found |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            found.add((f"{route.path}/{{path}}", "get"))
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return found


class TestRouteTable:
    def test_names_every_route_the_app_serves_and_no_other(self) -> None:
        table = {(op.path, op.method) for op in OPERATIONS}
        served = _app_operations()
        assert served - table == set(), "routes missing from server/openapi/operations.py"
        assert table - served == set(), "operations the app does not serve"

    def test_lists_each_operation_once(self) -> None:
        pairs = [(op.path, op.method) for op in OPERATIONS]
        assert len(pairs) == len(set(pairs))


class TestDocument:
    def test_is_openapi_3_1_with_valid_json_schemas(self) -> None:
        document = build_document()
        assert document["openapi"] == "3.1.0"
        for name, schema in document["components"]["schemas"].items():
            Draft202012Validator.check_schema(schema)
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), f"unreadable component name {name}"

    def test_every_reference_resolves(self) -> None:
        document = build_document()
        names = set(document["components"]["schemas"])

        def refs(node: Any) -> list[str]:
            if isinstance(node, dict):
                found = [node["$ref"]] if "$ref" in node else []
                return found + [r for value in node.values() for r in refs(value)]
            if isinstance(node, list):
                return [r for item in node for r in refs(item)]
            return []

        missing = {r for r in refs(document) if r.rsplit("/", 1)[-1] not in names}
        assert missing == set()

    def test_errors_use_the_envelope_of_the_protocol_the_path_speaks(self) -> None:
        paths = build_document()["paths"]

        def error_ref(path: str, method: str, status: str) -> str:
            content = paths[path][method]["responses"][status]["content"]
            return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

        assert error_ref("/chat", "post", "422") == "FrugalError"
        assert error_ref("/v1/chat/completions", "post", "400") == "OpenAIError"
        assert error_ref("/v1/messages", "post", "400") == "AnthropicError"
        assert error_ref("/v1/messages/batches", "post", "400") == "AnthropicError"

    def test_relayed_wire_bodies_allow_fields_frugal_does_not_read(self) -> None:
        schemas = build_document()["components"]["schemas"]
        for name in ("ChatCompletionRequest", "MessagesRequest", "EmbeddingsRequest"):
            assert schemas[name].get("additionalProperties", True) is not False, name
        assert schemas["ChatBody"]["additionalProperties"] is False  # Frugal's own API


@pytest.mark.anyio
async def test_gateway_serves_the_document_and_a_local_reference_page() -> None:
    async with run_gateway(load_settings({})) as gateway, aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.base_url}/openapi.json") as answer:
            assert answer.status == 200
            assert answer.content_type == "application/json"
            assert await answer.json() == build_document()
        async with http.get(f"{gateway.base_url}/docs") as answer:
            assert answer.status == 200
            page = await answer.text()
            assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        # Everything the page loads comes from this origin: no CDN.
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets)
        for asset in assets:
            async with http.get(f"{gateway.base_url}{asset}") as answer:
                assert answer.status == 200, asset
        async with http.get(f"{gateway.base_url}/static/docs.js") as answer:
            assert "/openapi.json" in await answer.text()
