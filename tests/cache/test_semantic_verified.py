"""`SemanticCache` with a verifier: the gray zone is judged, verdicts are remembered."""

from __future__ import annotations

import pytest

from cache.semantic_backend import SemanticEntry
from cache.semantic_cache import SemanticCache
from cache.verified_hits import MemoryVerdicts, VerdictLog
from tests.cache.test_semantic_cache import HashingEmbedder

pytestmark = pytest.mark.anyio

STORED = "reset password please"
CLOSE = "reset password"  # bag-of-words cosine 2 / sqrt(6) = 0.816: in the gray zone
FAR = "reset"  # cosine 0.577: below the floor


class ScriptedVerifier:
    """Answers from a script (or raises), and remembers every question it was asked."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str, str]] = []

    async def verify(self, question: str, entry: SemanticEntry, *, tenant: str) -> bool:
        self.asked.append((question, entry.query, tenant))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def verified_cache(verifier: ScriptedVerifier) -> SemanticCache:
    return SemanticCache(
        HashingEmbedder(),
        threshold=0.95,
        verifier=verifier,
        verdicts=MemoryVerdicts(VerdictLog(0.05, explore_rate=0.0)),
        verify_floor=0.8,
    )


async def stored(cache: SemanticCache) -> SemanticCache:
    assert await cache.store(STORED, b"answer", tenant="t", tier="p", ttl_s=60)
    return cache


async def test_a_gray_zone_candidate_is_served_once_the_verifier_agrees() -> None:
    verifier = ScriptedVerifier(True)
    cache = await stored(verified_cache(verifier))
    found = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (found.reason, found.verified) == ("hit", True)
    assert found.entry is not None and found.entry.query == STORED
    assert found.score == pytest.approx(0.816, abs=0.01)
    assert verifier.asked == [(CLOSE, STORED, "t")]


async def test_a_question_judged_right_is_served_again_without_asking() -> None:
    verifier = ScriptedVerifier(True)
    cache = await stored(verified_cache(verifier))
    first = await cache.lookup(CLOSE, tenant="t", tier="p")
    again = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (first.reason, first.verified, again.reason, again.verified) == (
        "hit",
        True,
        "hit",
        False,
    )
    assert len(verifier.asked) == 1


async def test_a_rejected_entry_is_refused_later_without_asking_again() -> None:
    verifier = ScriptedVerifier(False)
    cache = await stored(verified_cache(verifier))
    first = await cache.lookup(CLOSE, tenant="t", tier="p")
    second = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (first.entry, first.reason, first.verified) == (None, "verifier:rejected", True)
    assert (second.entry, second.reason, second.verified) == (None, "verifier:refused", False)
    assert len(verifier.asked) == 1


async def test_a_failing_verifier_is_a_miss_never_a_hit() -> None:
    verifier = ScriptedVerifier(RuntimeError("provider down"))
    cache = await stored(verified_cache(verifier))
    found = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (found.entry, found.reason) == (None, "verifier:error")
    assert isinstance(cache.verdicts, MemoryVerdicts)
    assert cache.verdicts.log.asked == 0  # no verdict recorded


async def test_below_the_floor_nobody_is_asked() -> None:
    verifier = ScriptedVerifier()
    cache = await stored(verified_cache(verifier))
    found = await cache.lookup(FAR, tenant="t", tier="p")
    assert (found.entry, found.reason) == (None, "below_threshold")
    assert verifier.asked == []


async def test_without_a_verifier_the_fixed_threshold_decides() -> None:
    cache = await stored(SemanticCache(HashingEmbedder(), threshold=0.95))
    found = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (found.entry, found.reason, found.verified) == (None, "below_threshold", False)
    assert cache.verdicts is None


async def test_proven_scores_are_served_without_the_verifier() -> None:
    verifier = ScriptedVerifier()
    log = VerdictLog(0.05, explore_rate=0.0)
    for i in range(60):  # earlier verdicts, all right, from 0.80 up
        log.record(f"other{i}", 0.80, True)
    cache = SemanticCache(
        HashingEmbedder(),
        threshold=0.95,
        verifier=verifier,
        verdicts=MemoryVerdicts(log),
        verify_floor=0.8,
    )
    await stored(cache)
    found = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (found.reason, found.verified) == ("hit", False)
    assert verifier.asked == []


async def test_an_entry_stored_again_with_another_answer_starts_without_verdicts() -> None:
    verifier = ScriptedVerifier(False, True)
    cache = await stored(verified_cache(verifier))
    rejected = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert await cache.store(STORED, b"a better answer", tenant="t", tier="p", ttl_s=60)
    again = await cache.lookup(CLOSE, tenant="t", tier="p")
    assert (rejected.reason, again.reason, again.verified) == ("verifier:rejected", "hit", True)
    assert again.entry is not None and again.entry.payload == b"a better answer"
    assert len(verifier.asked) == 2  # the verdict on the old answer does not refuse the new one
