"""The batch lane: OpenAI-compatible files and batches, answered from the caches, through the
providers' own batch APIs at their batch price, or through the deferred queue.

`BatchLane` is what the HTTP edge calls; `BatchRunner` advances batches from the state kept
in a `BatchStore` (Redis, so a batch survives a restart and is never submitted twice).
"""

from agent.batch.base import BatchStore, ProviderBatchAPI, ResultStore
from agent.batch.deferred import DeferredLines, RetryPolicy
from agent.batch.errors import BatchConflict, BatchError, BatchNotFound, InvalidBatch
from agent.batch.files import LocalFiles
from agent.batch.lane import BatchLane
from agent.batch.memory_store import MemoryBatchStore
from agent.batch.openai_batches import OpenAIBatchAPI
from agent.batch.planning import LinePlanner
from agent.batch.provider_groups import PollPolicy, ProviderGroups
from agent.batch.redis_store import RedisBatchStore
from agent.batch.runner import BatchRunner
from agent.batch.wire import BatchJob, BatchObject, BatchStats, FileObject, LineResult

__all__ = [
    "BatchConflict",
    "BatchError",
    "BatchJob",
    "BatchLane",
    "BatchNotFound",
    "BatchObject",
    "BatchRunner",
    "BatchStats",
    "BatchStore",
    "DeferredLines",
    "FileObject",
    "InvalidBatch",
    "LinePlanner",
    "LineResult",
    "LocalFiles",
    "MemoryBatchStore",
    "OpenAIBatchAPI",
    "PollPolicy",
    "ProviderBatchAPI",
    "ProviderGroups",
    "RedisBatchStore",
    "ResultStore",
    "RetryPolicy",
]
