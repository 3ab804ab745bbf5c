"""The one mapping from exceptions to HTTP error responses."""

from __future__ import annotations

import anyio
import msgspec

from agent.errors import BudgetExceeded, InvalidRequest
from metrics.budget_errors import BudgetExhausted
from metrics.rate_limit import RateLimitExceeded, RateLimits
from metrics.rate_limit_memory import MemoryRateLimiter
from server.errors import error_for_exception, response_for_exception


def test_budget_refusal_is_503_with_retry_after_rounded_up() -> None:
    exc = BudgetExhausted("hourly budget spent", windows=(), retry_after_s=12.2)
    code, _, headers = error_for_exception(exc)
    assert (code, headers) == ("budget_exceeded", {"Retry-After": "13"})
    response = response_for_exception(exc)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "13"
    body = msgspec.json.decode(bytes(response.body))
    assert body == {"error": {"code": "budget_exceeded", "message": "hourly budget spent"}}


def test_budget_refusal_without_a_known_reset_has_no_retry_after() -> None:
    assert error_for_exception(BudgetExceeded("no budget"))[2] == {}


def test_invalid_request_reports_its_reason_as_the_code() -> None:
    response = response_for_exception(InvalidRequest("too long", reason="prompt_too_long"))
    assert response.status_code == 413


def test_unexpected_errors_reveal_nothing() -> None:
    code, message, _ = error_for_exception(KeyError("/srv/secret/path"))
    assert code == "internal_error" and "secret" not in message


def test_inbound_rate_limit_is_429_with_its_headers() -> None:
    limits = RateLimits(requests=1, window_s=60.0)
    limiter = MemoryRateLimiter(limits, clock=lambda: 100.0)

    async def refuse() -> RateLimitExceeded:
        await limiter.check("caller", 0)
        return RateLimitExceeded(await limiter.check("caller", 0))

    exc = anyio.run(refuse)
    response = response_for_exception(exc)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert response.headers["X-RateLimit-Remaining-Requests"] == "0"
