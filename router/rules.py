"""`RuleRouter`: the seed's three cheap rules (turn count, length, technical keywords).

Diverges from the Go seed: keywords match case-insensitively for real (the seed lower-cased the
query but not "API"), English keywords match whole words only, and benign phrases such as
"promo code" are ignored, because a support bot hears them all day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cache.types import Message
from router.base import RouteDecision, Tier

DEFAULT_TECHNICAL_KEYWORDS: tuple[str, ...] = (
    # The seed's list.
    "配置", "错误", "报错", "exception", "error", "debug", "deploy", "部署", "权限",
    "permission", "API", "代码", "code", "integrate", "集成",
    # Word forms the whole-word match would otherwise miss.
    "debugging", "deployment", "integration", "config", "configure", "configuration",
    # Additions: words that almost only appear in developer questions.
    "stack trace", "stacktrace", "traceback", "timeout", "timed out", "webhook", "SDK",
    "endpoint", "OAuth", "JSON", "rate limit", "HTTP 500", "status 500",
    "接口", "异常", "超时", "调试", "回调", "密钥",
)  # fmt: skip
"""Keywords that send a query to the strong model. A bare "500" is deliberately absent: in a
shop it is far more often an amount ("refund of 500") than a server error."""

DEFAULT_BENIGN_PHRASES: tuple[str, ...] = (
    "promo code", "discount code", "coupon code", "voucher code", "gift code",
    "gift card code", "referral code", "redeem code", "redemption code", "zip code",
    "postal code", "post code", "verification code", "confirmation code", "security code",
    "tracking code", "dress code",
)  # fmt: skip
"""English phrases blanked out before keyword matching: "code" in them is not source code."""

# Letters and digits either side make a different word ("barcode", "decode", "APIary"); CJK
# characters do not, so "用API调用" still matches "API" (plain \b would treat CJK as a word char).
_BEFORE = r"(?<![a-z0-9_])"
_AFTER = r"(?:s|es)?(?![a-z0-9_])"  # plurals count: "errors", "APIs", "webhooks"


def _is_ascii(word: str) -> bool:
    return all(ord(ch) < 128 for ch in word)


def _phrase_pattern(phrase: str) -> str:
    # Any run of whitespace between the words of a phrase: "stack   trace" is still a trace.
    return r"\s+".join(re.escape(part) for part in phrase.split())


def _compile_words(words: Iterable[str], *, named: bool) -> re.Pattern[str] | None:
    # Longest first so "gift card code" wins over "gift code"-like prefixes at the same spot.
    ordered = sorted(words, key=len, reverse=True)
    if not ordered:
        return None
    parts = [
        f"(?P<k{i}>{_phrase_pattern(w)})" if named else _phrase_pattern(w)
        for i, w in enumerate(ordered)
    ]
    return re.compile(_BEFORE + "(?:" + "|".join(parts) + ")" + _AFTER, re.IGNORECASE)


class RuleRouter:
    """Routes by three rules, checked in order; the first that fires sends the query to strong.

    1. More than ``max_turns`` turns, where a turn is one *user* message in ``messages``
       (assistant, tool and system messages do not count): a long thread carries context the
       cheap model handles badly.
    2. The last user message is longer than ``max_chars`` characters, counted as Unicode code
       points after stripping surrounding whitespace (200 Chinese characters count 200, not the
       600 bytes of their UTF-8).
    3. The last user message contains a technical keyword. English keywords (ASCII) match
       case-insensitively as whole words, plurals included, so "code" fires on "my code fails"
       but not on "barcode" or "decode"; ``benign_phrases`` such as "promo code" are ignored
       first (an "error" elsewhere in the text still fires). Other keywords (Chinese) match as
       substrings, since Chinese has no spaces between words.

    Otherwise the cheap model answers. Routing is pure CPU work of a few microseconds.
    """

    def __init__(
        self,
        *,
        cheap_model: str,
        strong_model: str,
        max_turns: int = 5,
        max_chars: int = 200,
        keywords: Sequence[str] = DEFAULT_TECHNICAL_KEYWORDS,
        benign_phrases: Sequence[str] = DEFAULT_BENIGN_PHRASES,
    ) -> None:
        if max_turns < 0 or max_chars < 0:
            raise ValueError("max_turns and max_chars must be zero or more")
        self.cheap_model = cheap_model
        self.strong_model = strong_model
        self.max_turns = max_turns
        self.max_chars = max_chars
        english = [k.strip() for k in keywords if k.strip() and _is_ascii(k)]
        self._english = _compile_words(english, named=True)
        self._english_names = sorted(english, key=len, reverse=True)  # index i ↔ group k{i}
        self._other = tuple(k.strip().lower() for k in keywords if k.strip() and not _is_ascii(k))
        self._benign = _compile_words((p.strip() for p in benign_phrases if p.strip()), named=False)

    async def route(
        self, messages: Sequence[Message], *, earlier_turns: int = 0
    ) -> RouteDecision:
        """Return strong with the first rule that fired, else cheap ("default: simple query")."""
        reason = self.shape_rule(messages, earlier_turns=earlier_turns) or self.keyword_rule(
            last_user_text(messages)
        )
        if reason is not None:
            return self.decision("strong", reason)
        return self.decision("cheap", "default: simple query")

    def shape_rule(self, messages: Sequence[Message], *, earlier_turns: int = 0) -> str | None:
        """Rules 1 and 2 (turns, length): the reason if one fires, else None.

        They need no semantics, so `router.embedding.EmbeddingRouter` applies them first too.
        """
        turns = earlier_turns + sum(1 for m in messages if m.role == "user")
        if turns > self.max_turns:
            return f"turns {turns} > {self.max_turns}"
        length = len(last_user_text(messages))
        if length > self.max_chars:
            return f"length {length} > {self.max_chars} chars"
        return None

    def keyword_rule(self, text: str) -> str | None:
        """Rule 3: ``"technical keyword: <kw>"`` for the keyword found earliest in ``text``."""
        found: tuple[int, str] | None = None
        if self._english is not None:
            scrubbed = text if self._benign is None else self._benign.sub(_blank, text)
            match = self._english.search(scrubbed)
            if match is not None and match.lastgroup is not None:
                found = (match.start(), self._english_names[int(match.lastgroup[1:])])
        lowered = text.lower()
        for keyword in self._other:
            at = lowered.find(keyword)
            if at >= 0 and (found is None or at < found[0]):
                found = (at, keyword)
        return None if found is None else f"technical keyword: {found[1]}"

    def decision(self, tier: Tier, reason: str) -> RouteDecision:
        """A `RouteDecision` for ``tier`` with this router's model for it."""
        model = self.strong_model if tier == "strong" else self.cheap_model
        return RouteDecision(tier=tier, model=model, reason=reason)


def last_user_text(messages: Sequence[Message]) -> str:
    """The stripped content of the last user message, or "" when there is none."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content.strip()
    return ""


def _blank(match: re.Match[str]) -> str:
    # Same length, so positions of the remaining keywords stay comparable with the CJK scan.
    return " " * len(match.group(0))
