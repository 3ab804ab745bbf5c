"""The guard's seams: what finds personal data in text, and who counts what the guard did.

A `Detector` finds one kind of personal data; `GuardObserver` is told of every redaction and
injection flag (the gateway counts them for ``/metrics`` and ``/stats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """``text[start:end]`` is personal data of ``kind`` (``email``, ``phone``, ``card``,
    ``iban``, ``national_id`` or ``secret``)."""

    start: int
    end: int
    kind: str


class Detector(Protocol):
    """Finds one kind of personal data."""

    kind: str

    def find(self, text: str) -> list[Span]:
        """Every span of ``text`` this detector recognises, in any order (may overlap other
        detectors' spans); an empty list when there is none. Never raises for odd text."""
        ...


class GuardObserver(Protocol):
    """Told of what the guard did, to count it."""

    def redacted(self, direction: str, kind: str, count: int) -> None:
        """``count`` values of ``kind`` were redacted; ``direction`` is ``input`` (on their way
        to the provider) or ``output`` (in a model's answer)."""
        ...

    def flagged(self, source: str, rule: str, action: str) -> None:
        """Injection rule ``rule`` matched a ``source`` (``input`` or ``tool``) text;
        ``action`` is ``flagged``, ``blocked`` or ``withheld``."""
        ...


class NoObserver:
    """Counts nothing."""

    def redacted(self, direction: str, kind: str, count: int) -> None:
        """Ignore the redaction."""

    def flagged(self, source: str, rule: str, action: str) -> None:
        """Ignore the flag."""
