"""The batch lane's value types: OpenAI's file and batch objects, and what Frugal keeps of a
batch while it runs (its provider groups and each line's one final result)."""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

LineStatus = Literal["completed", "failed", "expired", "cancelled"]
LineSource = Literal["cache", "provider_batch", "deferred", "gateway"]
BatchStatus = Literal[
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
]
TERMINAL_BATCH: Final = frozenset({"completed", "failed", "expired", "cancelled"})
TERMINAL_PROVIDER: Final = frozenset({"completed", "failed", "expired", "cancelled"})
ENDPOINTS: Final = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}
"""The endpoints a batch's lines may call, and the protocol of their bodies
(`agent.core.CompletionRequest.protocol`): ``/v1/messages`` carries Anthropic's Message
Batches."""
OPENAI_ENDPOINTS: Final = ("/v1/chat/completions",)
"""The endpoints ``/v1/batches`` accepts (OpenAI's shapes)."""
COMPLETION_WINDOWS: Final = {"24h": 24 * 3600}


class FileObject(msgspec.Struct):
    """OpenAI's file object; the bytes live in the lane's file directory."""

    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    object: str = "file"
    status: str = "processed"


class RequestCounts(msgspec.Struct):
    """Lines in a batch, and how many ended completed or failed (OpenAI's counts)."""

    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchObject(msgspec.Struct):
    """OpenAI's batch object, as ``/v1/batches`` returns it."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: BatchStatus
    created_at: int
    request_counts: RequestCounts
    metadata: dict[str, str] | None = None
    object: str = "batch"
    errors: dict[str, Any] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None


GroupState = Literal["pending", "submitting", "submitted", "done"]


class ProviderGroup(msgspec.Struct):
    """The lines of one batch sent to one provider's own batch API.

    ``idempotency_key`` rides in the provider batch's metadata: a group found ``submitting``
    after a restart is looked up by it before anything is sent again.
    """

    provider: str
    model: str
    upstream_model: str
    custom_ids: list[str]
    idempotency_key: str
    state: GroupState = "pending"
    provider_batch_id: str | None = None
    next_poll_at: float = 0.0
    polls: int = 0
    reserved_usd_micros: int = 0
    provider_status: str | None = None


class BatchJob(msgspec.Struct):
    """Everything the lane keeps of one batch besides its lines' results."""

    batch: BatchObject
    tenant: str
    groups: list[ProviderGroup] = msgspec.field(default_factory=list)
    deferred: list[str] = msgspec.field(default_factory=list)
    planned: bool = False
    deferred_queued: bool = False
    cancel_requested: bool = False
    webhook_url: str | None = None


class LineResult(msgspec.Struct, omit_defaults=True):
    """The one final outcome of one batch line.

    ``body`` is the provider's (or the cache's) answer, ``error`` OpenAI's error object;
    money is integer micro-USD: ``cost`` paid, ``interactive`` what the same answer costs at
    the interactive price (``saved`` = interactive - cost, a cache hit saves all of it).
    """

    custom_id: str
    status: LineStatus
    source: LineSource
    status_code: int = 200
    body: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    model: str | None = None
    cost_usd_micros: int = 0
    interactive_usd_micros: int = 0

    @property
    def saved_usd_micros(self) -> int:
        """What this line did not cost compared with sending it interactively."""
        return max(self.interactive_usd_micros - self.cost_usd_micros, 0)


class BatchStats(msgspec.Struct):
    """The lane's totals for ``/stats`` and ``/metrics``: lines by source, money, and how
    often deferred lines waited."""

    requests: int = 0
    completed: int = 0
    failed: int = 0
    cache_hits: int = 0
    provider_batched: int = 0
    deferred: int = 0
    cost_usd_micros: int = 0
    interactive_usd_micros: int = 0
    deferred_retries: int = 0
    """Deferred lines tried again after a retryable failure."""
    deferred_rate_waits: int = 0
    """Deferred lines put off by their provider's queue limits (RPM/TPM)."""
    deferred_budget_waits: int = 0
    """Deferred lines put off until a budget window has room (``wait_for_budget``)."""

    @property
    def saved_usd_micros(self) -> int:
        """What the lane's lines did not cost compared with interactive calls."""
        return max(self.interactive_usd_micros - self.cost_usd_micros, 0)
