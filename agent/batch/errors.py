"""The batch lane's refusals; the app's error handler answers them in OpenAI's shape."""

from __future__ import annotations

from cache.errors import AgentError


class BatchError(AgentError):
    """Base of the batch lane's refusals."""

    code = "invalid_batch"


class InvalidBatch(BatchError):
    """An upload or batch the lane refuses (bad purpose, endpoint, window, missing file)."""

    code = "invalid_batch"


class BatchNotFound(BatchError):
    """No file or batch has that id (for this caller)."""

    code = "not_found"


class BatchConflict(BatchError):
    """The batch already ended: it cannot be cancelled."""

    code = "batch_conflict"
