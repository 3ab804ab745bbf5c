"""The detectors: a pattern finds candidates, a maintained validator keeps the real ones.

Card numbers must pass the Luhn check (``stdnum.luhn``), IBANs their ISO 7064 checksum
(``stdnum.iban``), national identifiers their own checksum or structure (``stdnum``'s module
for each), and phone numbers are matched by ``phonenumbers`` (libphonenumber's metadata: a
number must be valid for its region). Only e-mail addresses and secrets (``password: ...``)
are plain patterns. Digits next to letters or other digits are never a match, and the
boundaries work in Chinese text (where ``\\b`` does not).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

import phonenumbers
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.cn import ric
from stdnum.es import dni
from stdnum.in_ import aadhaar
from stdnum.us import ssn

from agent.guard.base import Detector, Span

KINDS: Final = ("email", "phone", "card", "iban", "national_id", "secret")
"""Every kind of personal data the guard knows, most specific first: where two detectors
claim overlapping text, the earlier kind in `PRIORITY` wins."""
PRIORITY: Final = ("secret", "email", "iban", "national_id", "card", "phone")

_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
# File names look like addresses ("logo@2x.png"): these endings are never a mail domain.
_FILE_ENDINGS: Final = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "txt", "csv", "zip", "js", "css", "html"}
)
_CARD: Final = re.compile(r"(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")
_IBAN: Final = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_SECRET: Final = re.compile(
    r"(?i)(?:api[_-]?key|access[_-]?token|password|passwd|secret|token|密码)\s*[:=：]\s*"
    r"(?P<value>[^\s,;\"']{4,})"
    r"|(?P<key>\bsk-[A-Za-z0-9_-]{20,})"
)
_PHONE_RUN: Final = re.compile(r"\+?\(?[0-9][0-9 ().\-/]{5,}[0-9]")
_DIGITS_ONLY: Final = re.compile(r"[ -]")


class EmailDetector:
    """E-mail addresses (a pattern: the address's owner is the only validator)."""

    kind = "email"

    def find(self, text: str) -> list[Span]:
        if "@" not in text:
            return []
        return [
            Span(m.start(), m.end(), self.kind)
            for m in _EMAIL.finditer(text)
            if m.group().rsplit(".", 1)[1].lower() not in _FILE_ENDINGS
        ]


class CardDetector:
    """Payment card numbers: 13-19 digits (spaces or dashes between), an issuer's first digit
    (2-6), and a valid Luhn check digit."""

    kind = "card"

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in _CARD.finditer(text):
            digits = _DIGITS_ONLY.sub("", m.group())
            if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
                spans.append(Span(m.start(), m.end(), self.kind))
        return spans


class IbanDetector:
    """IBANs (compact or in groups of four) with a valid country format and checksum; a
    candidate that ran into the next word is shortened group by group until it validates."""

    kind = "iban"

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in _IBAN.finditer(text):
            candidate = m.group()
            while len(candidate.replace(" ", "")) >= 15:
                if iban.is_valid(candidate):
                    spans.append(Span(m.start(), m.start() + len(candidate), self.kind))
                    break
                cut = candidate.rfind(" ")
                if cut < 0:
                    break
                candidate = candidate[:cut]
        return spans


class PhoneDetector:
    """Phone numbers valid for their region (``phonenumbers``, leniency VALID). Numbers
    without a country code are read as numbers of each of ``regions`` (ISO 3166 codes)."""

    kind = "phone"

    def __init__(self, regions: Iterable[str] = ("US",)) -> None:
        self._regions = tuple(regions) or ("US",)

    def find(self, text: str) -> list[Span]:
        spans: set[Span] = set()
        # The matcher is slow on long text: hand it only runs of digits and separators that
        # hold enough digits to be a number.
        for run in _PHONE_RUN.finditer(text):
            if sum(c.isdigit() for c in run.group()) < 7:
                continue
            for region in self._regions:
                matcher = phonenumbers.PhoneNumberMatcher(
                    run.group(), region, leniency=phonenumbers.Leniency.VALID
                )
                for m in matcher:
                    start, end = run.start() + m.start, run.start() + m.end
                    if _stands_alone(text, start, end):
                        spans.add(Span(start, end, self.kind))
        return sorted(spans)


def _stands_alone(text: str, start: int, end: int) -> bool:
    # "ORD-2024-000123" holds a valid-looking number: a code glued to its neighbours is no phone.
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and (before.isalnum() or before in "-_/#:")) and not (
        after.isascii() and (after.isalnum() or after in "-_/#:")
    )


class SecretDetector:
    """Credentials written out: the value after ``password:``, ``api_key=``, ``token:``
    (and ``密码：``), and OpenAI-style ``sk-…`` keys."""

    kind = "secret"

    def find(self, text: str) -> list[Span]:
        spans = []
        for m in _SECRET.finditer(text):
            group = "value" if m.group("value") is not None else "key"
            spans.append(Span(m.start(group), m.end(group), self.kind))
        return spans


_NationalId = tuple[re.Pattern[str], Callable[[str], bool]]

NATIONAL_IDS: Final[dict[str, _NationalId]] = {
    # US social security number, written with dashes (bare nine digits are too common)
    "us_ssn": (re.compile(r"(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])"), ssn.is_valid),
    # Chinese resident identity card: 17 digits and a check character, birth date checked
    "cn_ric": (re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])"), ric.is_valid),
    # Indian Aadhaar: 12 digits (groups of four allowed), Verhoeff check digit
    "in_aadhaar": (
        # not a part of a longer grouped number (a card's first three groups)
        re.compile(
            r"(?<![0-9])(?<![0-9][ -])[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}(?![ -]?[0-9])"
        ),
        aadhaar.is_valid,
    ),
    # Brazilian CPF, written 000.000.000-00, two check digits
    "br_cpf": (
        re.compile(r"(?<![0-9.])[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}(?![0-9])"),
        cpf.is_valid,
    ),
    # Spanish DNI: eight digits and the check letter
    "es_dni": (re.compile(r"(?<![0-9A-Za-z])[0-9]{8}-?[A-Z](?![0-9A-Za-z])"), dni.is_valid),
}


class NationalIdDetector:
    """National identity numbers of the configured ``schemes`` (keys of `NATIONAL_IDS`),
    each validated by ``stdnum``."""

    kind = "national_id"

    def __init__(self, schemes: Iterable[str] = tuple(NATIONAL_IDS)) -> None:
        unknown = set(schemes) - set(NATIONAL_IDS)
        if unknown:
            raise ValueError(f"unknown national id schemes: {', '.join(sorted(unknown))}")
        self._checks = [NATIONAL_IDS[name] for name in schemes]

    def find(self, text: str) -> list[Span]:
        spans = []
        for pattern, is_valid in self._checks:
            for m in pattern.finditer(text):
                if is_valid(m.group()):
                    spans.append(Span(m.start(), m.end(), self.kind))
        return spans


def build_detectors(
    kinds: Iterable[str],
    *,
    phone_regions: Iterable[str] = ("US",),
    national_ids: Iterable[str] = tuple(NATIONAL_IDS),
) -> list[Detector]:
    """One detector per kind in ``kinds`` (names from `KINDS`); raises `ValueError` for an
    unknown kind, region or scheme."""
    regions = tuple(phone_regions)
    for region in regions:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {region!r} (an ISO 3166 code such as US)")
    made: dict[str, Callable[[], Detector]] = {
        "email": EmailDetector,
        "phone": lambda: PhoneDetector(regions),
        "card": CardDetector,
        "iban": IbanDetector,
        "national_id": lambda: NationalIdDetector(national_ids),
        "secret": SecretDetector,
    }
    detectors = []
    for kind in kinds:
        if kind not in made:
            raise ValueError(f"unknown kind of personal data {kind!r} (one of {', '.join(KINDS)})")
        detectors.append(made[kind]())
    return detectors


def resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans in text order: of overlapping ones, the kind earlier in
    `PRIORITY` wins, then the longer span."""
    rank = {kind: i for i, kind in enumerate(PRIORITY)}
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (rank.get(s.kind, len(rank)), s.start - s.end)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen)
