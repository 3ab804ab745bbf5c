"""The guard's one refusal."""

from __future__ import annotations

from agent.errors import InvalidRequest


class PromptInjectionBlocked(InvalidRequest):
    """An input matched a prompt-injection rule and the operator's policy blocks those.

    ``reason`` (reported as the error code) is ``prompt_injection_blocked``; ``rules`` are
    the ids of the rules that matched; ``param`` is ``messages``.
    """

    def __init__(self, rules: tuple[str, ...]) -> None:
        super().__init__(
            "the request was refused: it looks like a prompt injection "
            f"(rules: {', '.join(rules)})",
            reason="prompt_injection_blocked",
        )
        self.rules = rules
        self.param = "messages"
        self.headers = {"x-frugal-injection": f"blocked; rules={','.join(sorted(set(rules)))}"}
