"""Budget refusals: `BudgetExceeded` and its two kinds, with what the HTTP layer needs to answer.

All keep ``code = "budget_exceeded"`` (a 503 in ``server.errors``); ``retry_after_s`` feeds the
``Retry-After`` header when it is known. `agent.errors` re-exports `BudgetExceeded`.
"""

from __future__ import annotations

from cache.errors import AgentError
from metrics.budget_windows import Window


class BudgetExceeded(AgentError):
    """The caller's (or the service's) spending budget cannot cover the request."""

    code = "budget_exceeded"


class BudgetExhausted(BudgetExceeded):
    """A budget window cannot cover the request's worst-case cost.

    ``windows`` are the windows that refused it; ``retry_after_s`` is the time until the last
    of them resets (only then can the request fit for sure; settling requests in flight may
    free room sooner).
    """

    def __init__(self, message: str, *, windows: tuple[Window, ...], retry_after_s: float) -> None:
        super().__init__(message)
        self.windows = windows
        self.retry_after_s = retry_after_s


class BudgetUnavailable(BudgetExceeded):
    """The shared budget store could not be reached and the guard is set to fail closed."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
