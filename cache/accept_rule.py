"""`AcceptRule`: the one rule deciding whether stored queries may answer a new one.

Used by `cache.semantic_cache.SemanticCache` for every lookup and by ``frugal calibrate`` for
every pair and every scale measurement, so calibration measures exactly what the cache does.

Ambiguity: the cache stores a question only when no stored one answered it, so two entries of
one partition are, by construction, questions the cache told apart. When a query passes the
rule against two of them with scores within ``ambiguity_margin``, it sits between two distinct
questions and the cosine cannot say which it asks: that is a miss (``ambiguous``), not a coin
toss. The check needs neighbours, so it shows in ``frugal calibrate --scale``, not on pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from cache.guards import differences


def judge_allows(chance: float | None, min_probability: float) -> bool:
    """Whether a pair judge's answer lets a candidate through: it abstained (None) or gave at
    least *min_probability*. Serving and `frugal calibrate` decide by this alone."""
    return chance is None or chance >= min_probability


class AcceptRule(msgspec.Struct, frozen=True):
    """The one rule deciding whether a stored query may answer a new one.

    Used by `SemanticCache` for every candidate and by ``frugal calibrate`` for every pair, so
    calibration measures exactly what the cache does.
    """

    threshold: float = 0.92
    max_unknown_token_ratio: float = 0.10
    unknown_ratio: Callable[[str], float] | None = None
    truncated: Callable[[str], bool] | None = None
    ambiguity_margin: float = 0.0

    def unrepresentable(self, text: str) -> str | None:
        """Return why the embedder cannot see ``text`` whole, else None: ``too_long`` (it
        exceeds the embedder's window, whose vector would ignore the rest) or
        ``unrepresentable:<ratio>`` (too many tokens unknown to its vocabulary)."""
        if self.truncated is not None and self.truncated(text):
            return "too_long"
        if self.unknown_ratio is None:
            return None
        ratio = self.unknown_ratio(text)
        if ratio > self.max_unknown_token_ratio:
            return f"unrepresentable:{ratio:.2f}"
        return None

    def judge(self, query: str, candidate: str, score: float) -> str:
        """Return ``"hit"`` or why not: ``too_long``, ``unrepresentable:<ratio>``,
        ``below_threshold`` or
        ``guard:<kind>`` (the first `cache.guards.differences` kind found).
        """
        reason = self.unrepresentable(query) or self.unrepresentable(candidate)
        if reason is not None:
            return reason
        if score < self.threshold:
            return "below_threshold"
        found = differences(query, candidate, first=True)
        if found:
            return "guard:" + ",".join(found)
        return "hit"


def choose(
    verdicts: Sequence[str], scores: Sequence[float], margin: float
) -> tuple[int | None, str]:
    """Pick the candidate to serve from `AcceptRule.judge` verdicts (best score first).

    Returns ``(index, "hit")``, or ``(None, reason)``: ``ambiguous`` when a second accepted
    candidate scores within ``margin`` of the first, else the best candidate's own verdict.
    """
    accepted = [i for i, verdict in enumerate(verdicts) if verdict == "hit"]
    if not accepted:
        return None, verdicts[0] if verdicts else "empty"
    first = accepted[0]
    if len(accepted) > 1 and scores[accepted[1]] > scores[first] - margin:
        return None, "ambiguous"
    return first, "hit"


def choose_judged(
    judge: Callable[[int], str], scores: Sequence[float], margin: float
) -> tuple[int | None, str]:
    """`choose` over candidates (best score first) judged by ``judge(index)`` only as far as the
    choice needs: after the first accepted one, only those within ``margin`` of it, which could
    make it ambiguous. A hit then costs one candidate's guards, not every candidate's."""
    verdicts: list[str] = []
    first: int | None = None
    for at, score in enumerate(scores):
        if first is not None and score <= scores[first] - margin:
            break
        verdicts.append(judge(at))
        if first is None and verdicts[-1] == "hit":
            first = at
    return choose(verdicts, scores[: len(verdicts)], margin)
