"""The guard: personal data redaction and prompt-injection flags (off unless configured).

`build_guard` makes a `Guard` from plain settings; the completion core and the Agent turn
each open one `GuardSession` per request (see `agent.core.guarding`, `agent.pipeline.turn`).
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.guard.base import Detector, GuardObserver, NoObserver, Span
from agent.guard.detectors import KINDS, NATIONAL_IDS, build_detectors
from agent.guard.errors import PromptInjectionBlocked
from agent.guard.injection import InjectionScanner
from agent.guard.redact import Redactor, Vault
from agent.guard.session import Guard, GuardPolicy, GuardSession, InjectionMode
from agent.guard.wire import guard_body, guard_chunks, guard_response

__all__ = [
    "KINDS",
    "NATIONAL_IDS",
    "Detector",
    "Guard",
    "GuardObserver",
    "GuardPolicy",
    "GuardSession",
    "InjectionMode",
    "InjectionScanner",
    "NoObserver",
    "PromptInjectionBlocked",
    "Redactor",
    "Span",
    "Vault",
    "build_detectors",
    "build_guard",
    "guard_body",
    "guard_chunks",
    "guard_response",
]


def build_guard(
    policy: GuardPolicy,
    *,
    kinds: Iterable[str] = KINDS,
    phone_regions: Iterable[str] = ("US",),
    national_ids: Iterable[str] = tuple(NATIONAL_IDS),
    observer: GuardObserver | None = None,
) -> Guard | None:
    """The guard for ``policy``, or None when the policy does nothing (the default).
    Raises `ValueError` for an unknown kind, phone region or national id scheme."""
    detectors = build_detectors(kinds, phone_regions=phone_regions, national_ids=national_ids)
    if not policy.active:
        return None
    return Guard(policy, Redactor(detectors), InjectionScanner(), observer)
