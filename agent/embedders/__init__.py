"""Embedders: the local all-MiniLM-L6-v2 and multilingual-e5-small models, and wrappers that
implement `Embedder`."""

from agent.embedders.batch import BatchEmbedder
from agent.embedders.e5 import E5Embedder
from agent.embedders.microbatch import BatcherClosed, BatchFailed, MicroBatcher
from agent.embedders.minilm import MiniLMEmbedder
from agent.embedders.minilm_model import MiniLMModel

__all__ = [
    "BatchEmbedder",
    "BatchFailed",
    "BatcherClosed",
    "E5Embedder",
    "MicroBatcher",
    "MiniLMEmbedder",
    "MiniLMModel",
]
