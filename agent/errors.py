"""Exceptions raised by LLM clients and embedders.

Every adapter translates its transport's exceptions into these, once, with ``raise ... from``:
no aiohttp exception leaves ``agent/``.

Three kinds are defined lower down, where the packages that raise them can see them, and are
re-exported here: `AgentError` and `EmbeddingError` in `cache.errors` (the semantic cache and the
router consume embedders), `BudgetExceeded` in `metrics.budget_errors` (next to its subclasses).
"""

from __future__ import annotations

from cache.errors import AgentError, EmbeddingError
from metrics.budget_errors import BudgetExceeded

__all__ = [
    "AgentError",
    "AuthError",
    "BadRequest",
    "BudgetExceeded",
    "CircuitOpen",
    "ContextLengthExceeded",
    "EmbeddingError",
    "InvalidRequest",
    "IterationLimitExceeded",
    "ModelNotFound",
    "ProtocolError",
    "ProviderError",
    "RateLimited",
    "StreamInterrupted",
    "UntranslatableRequest",
    "UpstreamError",
    "UpstreamTimeout",
]


class ProviderError(AgentError):
    """A call to an LLM or embeddings provider failed.

    ``retryable`` tells the fallback client whether the same call may succeed if repeated.
    """

    code = "provider_error"
    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        # The provider's own words, passed on to callers of the wire endpoints unchanged.
        self.upstream_message: str | None = None
        self.upstream_code: str | None = None


class RateLimited(ProviderError):
    """The provider answered 429; ``retry_after`` is its Retry-After in seconds, if given."""

    code = "upstream_rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class UpstreamTimeout(ProviderError):
    """The provider did not answer (or stopped streaming) within the deadline."""

    code = "upstream_timeout"
    retryable = True


class AuthError(ProviderError):
    """The provider rejected our credentials (401/403)."""

    code = "upstream_auth"


class BadRequest(ProviderError):
    """The provider rejected the request as malformed (4xx other than 401/403/408/429)."""

    code = "upstream_bad_request"


class ContextLengthExceeded(BadRequest):
    """The prompt plus ``max_tokens`` do not fit the model's context window."""

    code = "context_length_exceeded"


class UpstreamError(ProviderError):
    """The provider failed on its side (5xx) or the connection broke."""

    code = "upstream_error"
    retryable = True


class ProtocolError(ProviderError):
    """The provider's body or stream did not follow its wire format."""

    code = "upstream_protocol_error"
    retryable = True


class CircuitOpen(ProviderError):
    """The circuit breaker is open: the provider is skipped until its cool-down ends."""

    code = "circuit_open"
    retryable = False


class StreamInterrupted(ProviderError):
    """A stream failed after tokens had already been sent to the client.

    ``partial_usage`` holds what was produced before the failure, so it can be billed.
    """

    code = "stream_interrupted"

    def __init__(
        self, message: str, *, provider: str = "", cause: ProviderError | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=getattr(cause, "status", None))
        self.cause = cause


class InvalidRequest(AgentError):
    """A chat request the pipeline refuses before doing any work.

    ``reason`` is a stable machine-readable detail (``no_messages``, ``last_not_user``,
    ``empty_content``, ``too_many_messages``, ``prompt_too_long``, ``bad_temperature``,
    ``bad_max_tokens``, ``bad_cache_mode``); ``code`` is always ``invalid_request``.
    """

    code = "invalid_request"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IterationLimitExceeded(AgentError):
    """A request needed more tool/LLM rounds than the pipeline's ``max_iterations`` allows."""

    code = "iteration_limit_exceeded"


class ModelNotFound(AgentError):
    """No declared model, alias or passthrough provider serves the requested model name."""

    code = "model_not_found"

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message)
        self.model = model
        self.param = "model"  # the request field at fault, for OpenAI-shaped errors


class InvalidModelName(AgentError):
    """A model name is empty, too long, or holds characters no model name has."""

    code = "invalid_model"


class RegistryError(ValueError):
    """The declared providers and models contradict each other (a configuration error).

    The message is one line naming the model or provider and the offending key.
    """


class UntranslatableRequest(BadRequest):
    """The request uses a field the model's provider cannot express (e.g. ``n`` on
    Anthropic); ``param`` names it. Raised before anything is sent."""

    code = "invalid_request"

    def __init__(self, message: str, *, provider: str, param: str) -> None:
        super().__init__(message, provider=provider, status=400)
        self.param = param
        self.upstream_message = message
