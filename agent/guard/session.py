"""`Guard` (the operator's policy, built once) and `GuardSession` (one request under it).

A session redacts what goes to the provider (and so what the caches key on and store, and
what the logs show), flags injection attempts in inputs and tool results, redacts personal
data in the model's answer, and in the reversible mode turns the request's own placeholders
back into its values for the caller only. It says what it did in ``x-frugal-*`` headers and
tells the `GuardObserver`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Final, Literal

from agent.guard.base import GuardObserver, NoObserver
from agent.guard.errors import PromptInjectionBlocked
from agent.guard.injection import InjectionScanner
from agent.guard.redact import Redactor, Vault
from agent.guard.streaming import PlaceholderRestorer, StreamRedactor

_log = logging.getLogger("frugal.guard")

InjectionMode = Literal["off", "flag", "block"]
REDACTED_HEADER: Final = "x-frugal-redacted"
OUTPUT_HEADER: Final = "x-frugal-redacted-output"
INJECTION_HEADER: Final = "x-frugal-injection"
WITHHELD_TOOL_RESULT: Final = (
    "withheld: this tool result looked like a prompt injection (instructions aimed at the "
    "assistant) and was not passed on"
)


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """What the operator turned on (everything is off by default).

    ``redact_input``: personal data in messages is replaced by placeholders before the
    provider, the caches and the logs see it. ``reversible``: the caller gets its own values
    back where the answer repeats a placeholder. ``redact_output``: personal data in the
    model's answer is redacted before the caller, the caches and the logs see it.
    ``injection``: ``flag`` logs and counts matches; ``block`` also refuses a flagged input
    (400 ``prompt_injection_blocked``) and withholds a flagged tool result from the model.
    """

    redact_input: bool = False
    reversible: bool = False
    redact_output: bool = False
    injection: InjectionMode = "off"
    scan_tool_results: bool = True

    @property
    def active(self) -> bool:
        """True when the guard does anything at all."""
        return self.redact_input or self.redact_output or self.injection != "off"


class Guard:
    """The policy with its detectors and rules; `session` makes one request's guard."""

    def __init__(
        self,
        policy: GuardPolicy,
        redactor: Redactor,
        scanner: InjectionScanner | None = None,
        observer: GuardObserver | None = None,
    ) -> None:
        self.policy = policy
        self.redactor = redactor
        self.scanner = scanner or InjectionScanner()
        self.observer: GuardObserver = observer or NoObserver()

    def session(self, request_id: str = "") -> GuardSession | None:
        """A session for one request, or None when the policy does nothing."""
        return GuardSession(self, request_id) if self.policy.active else None


class GuardSession:
    """One request's redactions and flags; see the module docstring."""

    def __init__(self, guard: Guard, request_id: str) -> None:
        self._guard = guard
        self.policy = guard.policy
        self.request_id = request_id
        self.vault = Vault()
        self._output_vault = Vault(numbered=False)
        self.input_counts: Counter[str] = Counter()
        self.output_counts: Counter[str] = Counter()
        self.flags: list[tuple[str, str, str]] = []  # (source, rule, action)
        self._reported_input: Counter[str] = Counter()
        self._reported_output: Counter[str] = Counter()

    # inputs -------------------------------------------------------------------------------

    def reserve(self, text: str) -> None:
        """Number this request's placeholders past those already in ``text`` (history)."""
        if self.policy.redact_input:
            self.vault.reserve(text)

    def check_input(self, text: str, *, source: str = "input") -> None:
        """Flag ``text`` (a user's or, on the wire, a tool message) when it matches an
        injection rule; raises `PromptInjectionBlocked` in the block mode."""
        if self.policy.injection == "off":
            return
        rules = self._guard.scanner.scan(text, source=source)
        if not rules:
            return
        action = "blocked" if self.policy.injection == "block" else "flagged"
        self._flag(source, rules, action)
        if action == "blocked":
            raise PromptInjectionBlocked(rules)

    def redact_input(self, text: str, *, count: bool = True) -> str:
        """``text`` with its personal data replaced by placeholders (as is when off);
        ``count=False`` for a second view of a text already counted."""
        if not self.policy.redact_input or not text:
            return text
        counts = self.input_counts if count else Counter[str]()
        return self._guard.redactor.redact(text, self.vault, counts)

    def finish_input(self) -> None:
        """Tell the observer what the inputs gave up so far (callable more than once)."""
        fresh = self.input_counts - self._reported_input
        for kind, count in fresh.items():
            self._guard.observer.redacted("input", kind, count)
        self._reported_input.update(fresh)

    def tool_result(self, name: str, text: str) -> str:
        """A tool's output on its way into the prompt: flagged when it matches a rule (and
        replaced by a notice in the block mode), then redacted like any input."""
        if self.policy.injection != "off" and self.policy.scan_tool_results:
            rules = self._guard.scanner.scan(text, source="tool")
            if rules:
                action = "withheld" if self.policy.injection == "block" else "flagged"
                self._flag(f"tool:{name}", rules, action)
                if action == "withheld":
                    return WITHHELD_TOOL_RESULT
        return self.redact_input(text)

    # outputs ------------------------------------------------------------------------------

    def redact_output(self, text: str, *, count: bool = True) -> str:
        """A whole answer with personal data redacted (``[EMAIL_REDACTED]``), when on;
        ``count=False`` for a second view of an answer already counted."""
        if not self.policy.redact_output or not text:
            return text
        counts = self.output_counts if count else Counter[str]()
        return self._guard.redactor.redact(text, self._output_vault, counts)

    def output_buffer(self) -> StreamRedactor:
        """A buffer that redacts one streamed answer (one per choice)."""
        return StreamRedactor(self._guard.redactor, self._output_vault, self.output_counts)

    def finish_output(self) -> None:
        """Tell the observer what the answer gave up so far (callable more than once)."""
        fresh = self.output_counts - self._reported_output
        for kind, count in fresh.items():
            self._guard.observer.redacted("output", kind, count)
        self._reported_output.update(fresh)
        if fresh:
            _log.info("request %s: redacted in the answer %s", self.request_id, _counts(fresh))

    @property
    def restores(self) -> bool:
        """True when the caller gets its own values back (reversible mode, values held)."""
        return self.policy.reversible and len(self.vault) > 0

    def restore(self, text: str) -> str:
        """Text for the caller: this request's placeholders turned back into its values."""
        return self.vault.restore(text) if self.restores else text

    def restorer(self) -> PlaceholderRestorer:
        """A buffer that restores placeholders across stream pieces (one per choice)."""
        return PlaceholderRestorer(self.vault)

    # reporting ----------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """What the guard did to the request, as ``x-frugal-*`` headers (none if nothing)."""
        headers = {}
        if self.input_counts:
            headers[REDACTED_HEADER] = _counts(self.input_counts)
        if self.flags:
            action = "blocked" if any(a == "blocked" for _, _, a in self.flags) else "flagged"
            rules = sorted({rule for _, rule, _ in self.flags})
            headers[INJECTION_HEADER] = f"{action}; rules={','.join(rules)}"
        return headers

    def output_headers(self) -> dict[str, str]:
        """What was redacted from a whole answer (none if nothing)."""
        return {OUTPUT_HEADER: _counts(self.output_counts)} if self.output_counts else {}

    def _flag(self, source: str, rules: tuple[str, ...], action: str) -> None:
        for rule in rules:
            self.flags.append((source, rule, action))
            self._guard.observer.flagged(source.partition(":")[0], rule, action)
        _log.warning(
            "request %s: prompt injection %s in %s (rules: %s)",
            self.request_id,
            action,
            source,
            ", ".join(rules),
        )


def _counts(counts: Counter[str]) -> str:
    return ",".join(f"{kind}={count}" for kind, count in sorted(counts.items()))
