"""The app's one error handler: every exception a route raises becomes HTTP here, in the
shape of the protocol the path speaks (Anthropic's under ``/v1/messages``, OpenAI's elsewhere
under ``/v1``, Frugal's elsewhere)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cache.errors import AgentError, CacheError
from metrics.rate_limit import RateLimitExceeded
from server.anthropic_errors import PATH_PREFIX as ANTHROPIC_PATHS
from server.anthropic_errors import anthropic_error
from server.errors import APIError, response_for_exception
from server.openai_errors import openai_error

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def _speaks_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


async def _handle_exception(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(ANTHROPIC_PATHS):
        status, body, headers = anthropic_error(exc)
        return Response(body, status_code=status, media_type="application/json", headers=headers)
    if _speaks_openai(request):
        status, body, headers = openai_error(exc)
        return Response(body, status_code=status, media_type="application/json", headers=headers)
    return response_for_exception(exc)


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    error = APIError(code, str(exc.detail), headers=dict(exc.headers or {}))
    response = await _handle_exception(request, error)
    response.status_code = exc.status_code
    return response


def install_error_handlers(app: Starlette) -> None:
    """Register the one handler for API errors, HTTP errors and anything unexpected.

    The gateway's own error classes are registered by name: Starlette answers those in its
    exception middleware and keeps the connection. The catch-all for anything else (a bug)
    runs in the server-error middleware, which answers, logs the traceback and re-raises.
    """
    app.add_exception_handler(HTTPException, _handle_http_exception)
    for error in (APIError, AgentError, CacheError, RateLimitExceeded):
        app.add_exception_handler(error, _handle_exception)
    app.add_exception_handler(Exception, _handle_exception)
