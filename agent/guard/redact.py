"""Redaction: personal data replaced by numbered placeholders (``<EMAIL_1>``), and back.

A `Vault` belongs to one request: the same value gets the same placeholder each time it
appears, and the placeholder can be turned back into the value for that request's caller
(the reversible mode) — never for the caches or the logs, which only ever hold placeholders.
Numbering starts past any placeholder already in the conversation (a history that was
redacted on an earlier turn), so an old ``<EMAIL_1>`` is never read as this turn's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from agent.guard.base import Detector, Span
from agent.guard.detectors import KINDS, resolve

PLACEHOLDER: Final = re.compile(
    r"<(?P<kind>" + "|".join(k.upper() for k in KINDS) + r")_(?P<n>[0-9]{1,6})>"
)
MAX_PLACEHOLDER_LEN: Final = max(len(k) for k in KINDS) + 9  # "<", "_", six digits, ">"


class Vault:
    """One request's placeholders and the values they stand for.

    ``numbered=False`` makes a vault for what is never restored (personal data in a model's
    answer): every value becomes ``[EMAIL_REDACTED]``, which no restorer reads back.
    """

    def __init__(self, *, numbered: bool = True) -> None:
        self._numbered = numbered
        self._by_value: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}
        self._last: Counter[str] = Counter()

    def reserve(self, text: str) -> None:
        """Number new placeholders past those already in ``text``."""
        if "<" not in text:
            return
        for m in PLACEHOLDER.finditer(text):
            kind = m.group("kind")
            self._last[kind] = max(self._last[kind], int(m.group("n")))

    def placeholder(self, kind: str, value: str) -> str:
        """The placeholder for ``value`` (the same one each time it comes back)."""
        known = self._by_value.get((kind, value))
        if known is not None:
            return known
        label = kind.upper()
        if not self._numbered:
            return f"[{label}_REDACTED]"
        self._last[label] += 1
        made = f"<{label}_{self._last[label]}>"
        self._by_value[kind, value] = made
        self._values[made] = value
        return made

    def restore(self, text: str) -> str:
        """``text`` with this vault's placeholders turned back into their values; other
        placeholders (an earlier turn's) are left as they are."""
        if not self._values or "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self._values.get(m.group(), m.group()), text)

    def __len__(self) -> int:
        return len(self._values)


class Redactor:
    """Finds personal data with its ``detectors`` and replaces it by placeholders."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)

    def spans(self, text: str) -> list[Span]:
        """The personal data in ``text``: non-overlapping spans in text order."""
        if not text or not self.detectors:
            return []
        found: list[Span] = []
        for detector in self.detectors:
            found.extend(detector.find(text))
        return resolve(found)

    def redact(self, text: str, vault: Vault, counts: Counter[str]) -> str:
        """``text`` with every span replaced by its placeholder; ``counts`` gains one per
        replaced value, by kind."""
        return replace_spans(text, self.spans(text), vault, counts)


def replace_spans(text: str, spans: Iterable[Span], vault: Vault, counts: Counter[str]) -> str:
    """``text`` with ``spans`` (non-overlapping, in order) replaced by placeholders."""
    out: list[str] = []
    at = 0
    for span in spans:
        out.append(text[at : span.start])
        out.append(vault.placeholder(span.kind, text[span.start : span.end]))
        counts[span.kind] += 1
        at = span.end
    if at == 0:
        return text
    out.append(text[at:])
    return "".join(out)
