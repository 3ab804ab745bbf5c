"""The routing seam: a `Router` picks the model tier for a conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import msgspec

from cache.types import Message

Tier = Literal["cheap", "strong"]


class RouteDecision(msgspec.Struct, frozen=True):
    """Which tier answers, with which model, and a short human-readable reason.

    ``reason`` names the rule that decided (``"turns 6 > 5"``, ``"technical keyword: deploy"``,
    ``"embedding: 6/7 neighbours strong (...)"``); it ends up in logs and response metadata.
    """

    tier: Tier
    model: str
    reason: str


@runtime_checkable
class Router(Protocol):
    """Chooses the cheap or the strong model for a conversation."""

    async def route(
        self, messages: Sequence[Message], *, earlier_turns: int = 0
    ) -> RouteDecision:
        """Return the decision for ``messages`` (oldest first, the new user turn last).

        ``earlier_turns`` counts user turns of the same conversation that are no longer in
        ``messages`` (folded into a history summary); the turn rule counts them too.

        Never raises for ordinary input: a router that cannot decide (no user text, embedder
        down) falls back to a simpler rule and says so in ``reason``.
        """
        ...
