"""Choosing the model tier: the `Router` seam, the keyword rules and the embedding kNN router."""

from router.base import RouteDecision, Router, Tier
from router.embedding import EmbeddingRouter
from router.examples import EXAMPLES_PATH, RouteExample, load_examples
from router.rules import (
    DEFAULT_BENIGN_PHRASES,
    DEFAULT_TECHNICAL_KEYWORDS,
    RuleRouter,
    last_user_text,
)

__all__ = [
    "DEFAULT_BENIGN_PHRASES",
    "DEFAULT_TECHNICAL_KEYWORDS",
    "EXAMPLES_PATH",
    "EmbeddingRouter",
    "RouteDecision",
    "RouteExample",
    "Router",
    "RuleRouter",
    "Tier",
    "last_user_text",
    "load_examples",
]
