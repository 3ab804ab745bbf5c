"""Schemathesis against a real gateway (the simulator as its OpenAI and Anthropic upstream):
generated requests for every operation of ``/openapi.json``, valid and invalid, must never
get a 5xx, and every answer must have a documented status, media type and body shape."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import APIOperation
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.config import load_settings
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

ADMIN_KEY = "fuzz-admin-key-0123456789"
EXAMPLES_PER_MODE = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A few examples per operation and mode keep this within seconds; derandomized, so a run is
# repeatable (a wider exploration: raise EXAMPLES_PER_MODE locally). Streams are read whole:
# their status and media type are checked here, their events by the streaming tests.
_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_MODE,
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def _modes(operation: dict[str, Any]) -> tuple[schemathesis.GenerationMode, ...]:
    # Invalid requests need something to break: a body, or a parameter not every string fits.
    breakable = "requestBody" in operation or any(
        param["in"] != "path" and param["schema"] != {"type": "string"}
        for param in operation.get("parameters", ())
    )
    if breakable:
        return (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    return (schemathesis.GenerationMode.POSITIVE,)


def _fuzz(operation: APIOperation, mode: schemathesis.GenerationMode, base_url: str) -> str | None:
    """The failures of one operation in one mode, or None."""

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @_SETTINGS
    def run(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    with requests.Session() as session:
        try:
            run()
        except (Exception, FailureGroup) as exc:  # reported with every other operation's
            # A flaky verdict wraps the failures it saw: name them, or the report says nothing.
            inner = "; ".join(f"{e!r}"[:500] for e in getattr(exc, "exceptions", ()))
            return f"{operation.label} ({mode}): {exc}" + (f" [{inner}]" if inner else "")
    return None


def _fuzz_all(document: dict[str, Any], base_url: str) -> list[str]:
    # One operation at a time: Hypothesis changes the interpreter's recursion limit while it
    # runs a test, which breaks compiling in other threads.
    failures: list[str] = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        operation = result.ok()
        for mode in _modes(operation.definition.raw):
            failure = _fuzz(operation, mode, base_url)
            if failure is not None:
                failures.append(failure)
    return failures


@pytest.mark.slow
async def test_generated_requests_get_documented_answers_and_no_5xx() -> None:
    async with run_simulator() as sim:
        env = {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            "ANTHROPIC_BASE_URL": sim.base_url,
            "ANTHROPIC_API_KEY": "k",
            "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY,
        }
        async with (
            run_gateway(load_settings(env)) as gateway,
            aiohttp.ClientSession() as http,
            http.get(f"{gateway.base_url}/openapi.json") as answer,
        ):
            document = await answer.json()
            failures = await anyio.to_thread.run_sync(_fuzz_all, document, gateway.base_url)
    assert failures == [], "\n\n".join(failures)
