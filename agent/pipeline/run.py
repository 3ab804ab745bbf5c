"""Per-request working state of the pipeline: the stage clock and the iteration budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.core.clock import StageClock
from agent.core.costing import Bill
from agent.errors import IterationLimitExceeded
from agent.guard import GuardSession
from agent.history import HistoryRecord
from agent.pipeline.answer_cache import CacheScope
from agent.pipeline.planner import ToolPlan
from agent.pipeline.request import ChatRequest
from agent.pipeline.response import CallCost
from agent.types import Message, Usage


class Iterations:
    """Counts tool and LLM rounds against the request's ``max_iterations``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    def spend(self, what: str) -> None:
        """Take one round; raises `IterationLimitExceeded` when none is left."""
        if self.used >= self.limit:
            raise IterationLimitExceeded(
                f"{what} would exceed the limit of {self.limit} tool/LLM rounds"
            )
        self.used += 1


@dataclass(slots=True)
class Run:
    """Everything one request accumulates on its way through the pipeline."""

    request_id: str
    request: ChatRequest
    clock: StageClock
    iterations: Iterations
    history: HistoryRecord
    conversation: tuple[Message, ...]
    plan: ToolPlan
    scope: CacheScope
    summary_bill: Bill = field(default_factory=Bill)
    summary_usage: Usage = field(default_factory=Usage)
    rounds_bill: Bill = field(default_factory=Bill)
    """What the turn's earlier model calls (those that asked for tools) cost."""
    rounds_usage: Usage = field(default_factory=Usage)
    calls: list[CallCost] = field(default_factory=list)
    """Every finished model call of the turn, in order."""
    unheld_bill: Bill = field(default_factory=Bill)
    """What the turn's tools spent on models themselves (a rerank): no hold of its own, so
    the answer's hold settles it."""
    guard: GuardSession | None = None
    answer: list[str] = field(default_factory=list)
    """The answer as the caches and the history keep it (redacted when the guard is on)."""
