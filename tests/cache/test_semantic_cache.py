"""SemanticCache: guarded hits, isolation, TTLs, unrepresentable queries, store events."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from agent.embedders import MiniLMEmbedder
from agent.embedders.pair_judge import ThreadedPairJudge, shared_pair_judge
from agent.testing import ManualClock
from cache.accept_rule import AcceptRule, choose, choose_judged
from cache.semantic_cache import SemanticCache, SemanticRecord

_STOP = frozenset(re.findall(r"\w+", "how do does can could i my me the a an is are what why was"))


class HashingEmbedder:
    """Deterministic bag-of-words embedder: stop words dropped, each word hashed to a signed
    axis. Paraphrases that differ only in stop words score 1.0; one extra word lowers it."""

    name = "hashing-bow"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+|[^\x00-\x7f]", text.lower()):
                if word in _STOP:
                    continue
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else np.eye(self.dim, dtype=np.float32)[0]
        return out


def non_ascii_ratio(text: str) -> float:
    chars = [ch for ch in text if not ch.isspace()]
    return sum(not ch.isascii() for ch in chars) / len(chars) if chars else 0.0


def make_cache(**kwargs: object) -> SemanticCache:
    options: dict[str, object] = {"threshold": 0.8, "unknown_ratio": non_ascii_ratio}
    options.update(kwargs)
    return SemanticCache(HashingEmbedder(), **options)  # type: ignore[arg-type]


async def put(cache: SemanticCache, query: str, payload: bytes, ttl_s: float = 60.0) -> bool:
    return await cache.store(query, payload, tenant="acme", tier="cheap", ttl_s=ttl_s)


class TestLookup:
    @pytest.mark.anyio
    async def test_paraphrase_hits_with_the_stored_payload(self) -> None:
        cache = make_cache()
        assert await put(cache, "How do I reset my password?", b"answer-1")
        found = await cache.lookup("How can I reset my  password?", tenant="acme", tier="cheap")
        assert found.reason == "hit"
        assert found.entry is not None and found.entry.payload == b"answer-1"
        assert found.score == pytest.approx(1.0, abs=2e-3)

    @pytest.mark.anyio
    async def test_negated_query_is_refused_by_the_guard(self) -> None:
        cache = make_cache()
        await put(cache, "Can I cancel my order?", b"yes")
        found = await cache.lookup("Can I not cancel my order?", tenant="acme", tier="cheap")
        assert found.entry is None
        assert found.reason == "guard:negation"
        assert found.score >= 0.8

    @pytest.mark.anyio
    async def test_first_candidate_passing_the_guard_wins(self) -> None:
        cache = make_cache(threshold=0.6)
        await put(cache, "refund order 1002 now", b"wrong order")  # closer, but another order
        await put(cache, "refund my order 1001 quickly soon", b"right order")
        found = await cache.lookup("refund order 1001 now", tenant="acme", tier="cheap")
        assert found.reason == "hit"
        assert found.entry is not None and found.entry.payload == b"right order"
        assert 0.6 <= found.score < 0.75

    @pytest.mark.anyio
    async def test_unrelated_query_is_below_threshold(self) -> None:
        cache = make_cache()
        await put(cache, "Where is my parcel?", b"x")
        found = await cache.lookup("Which payment cards work?", tenant="acme", tier="cheap")
        assert (found.entry, found.reason) == (None, "below_threshold")

    @pytest.mark.anyio
    async def test_empty_cache_does_not_embed(self) -> None:
        embedder = HashingEmbedder()
        cache = SemanticCache(embedder)
        found = await cache.lookup("anything", tenant="acme", tier="cheap")
        assert (found.reason, embedder.calls) == ("empty", 0)

    @pytest.mark.anyio
    async def test_tenants_and_tiers_do_not_share_entries(self) -> None:
        cache = make_cache()
        await put(cache, "Where is my parcel?", b"x")
        other_tenant = await cache.lookup("Where is my parcel?", tenant="globex", tier="cheap")
        other_tier = await cache.lookup("Where is my parcel?", tenant="acme", tier="smart")
        assert other_tenant.reason == other_tier.reason == "empty"

    @pytest.mark.anyio
    async def test_expired_entry_is_not_served(self) -> None:
        clock = ManualClock()
        cache = make_cache(clock=clock)
        await put(cache, "Where is my parcel?", b"x", ttl_s=10.0)
        clock.advance(10.0)
        found = await cache.lookup("Where is my parcel?", tenant="acme", tier="cheap")
        assert found.entry is None
        assert await cache.purge_expired() == 1
        assert cache.entry_count == 0


class TestStore:
    @pytest.mark.anyio
    async def test_unrepresentable_query_is_neither_stored_nor_looked_up(self) -> None:
        cache = make_cache()
        assert await put(cache, "如何开启两步验证", b"x") is False
        assert cache.entry_count == 0
        found = await cache.lookup("如何开启两步验证", tenant="acme", tier="cheap")
        assert found.reason == "unrepresentable:1.00"

    @pytest.mark.anyio
    async def test_zero_ttl_stores_nothing(self) -> None:
        cache = make_cache()
        assert await put(cache, "Where is my parcel?", b"x", ttl_s=0.0) is False
        assert cache.entry_count == 0

    @pytest.mark.anyio
    async def test_same_query_replaces_and_count_stays_bounded(self) -> None:
        cache = make_cache(max_entries=3)
        await put(cache, "Where is my parcel?", b"old")
        await put(cache, "where is my parcel?", b"new")
        assert cache.entry_count == 1
        for word in ("alpha", "beta", "gamma", "delta"):
            await put(cache, f"tell me about {word}", word.encode())
        assert cache.entry_count == 3
        assert await cache.remove("tell me about delta", tenant="acme", tier="cheap")

    @pytest.mark.anyio
    async def test_store_event_replays_into_another_replica(self) -> None:
        records: list[SemanticRecord] = []

        async def on_store(record: SemanticRecord) -> None:
            records.append(record)

        primary = make_cache(on_store=on_store)
        replica = make_cache()
        await put(primary, "Where is my parcel?", b"payload")
        [record] = records
        assert (record.embedder, record.ttl_s, record.query) == (
            "hashing-bow",
            60.0,
            "where is my parcel?",
        )
        vector = np.frombuffer(record.vector, dtype=np.float32)
        await replica.add_local(
            record.query, vector, record.payload, tenant=record.tenant, tier=record.tier,
            ttl_s=record.ttl_s,
        )  # fmt: skip
        found = await replica.lookup("Where is my parcel?", tenant="acme", tier="cheap")
        assert found.entry is not None and found.entry.payload == b"payload"
        assert len(records) == 1


@pytest.fixture
async def minilm() -> AsyncIterator[MiniLMEmbedder]:
    async with MiniLMEmbedder.load() as embedder:
        yield embedder


class TestWithMiniLM:
    """The pairs measured with the real all-MiniLM-L6-v2, at the default threshold 0.92."""

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("stored", "asked", "reason"),
        [
            ("How do I reset my password?", "How can I reset my password?", "hit"),
            ("Can I cancel my order?", "Can I not cancel my order?", "guard:negation"),
            ("Why was I charged twice?", "Why was I not charged twice?", "guard:negation"),
            ("Refund order 1001", "Refund order 1002", "guard:number"),
            (
                "How do I enable dark mode?",
                "How do I disable dark mode?",
                "guard:antonym:enable/disable",
            ),
        ],
    )
    async def test_measured_pairs(
        self, minilm: MiniLMEmbedder, stored: str, asked: str, reason: str
    ) -> None:
        cache = SemanticCache(minilm, unknown_ratio=minilm.unknown_token_ratio)
        assert await cache.store(stored, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
        found = await cache.lookup(asked, tenant="t", tier="cheap")
        assert found.reason == reason
        assert found.score >= 0.92  # similar enough that only the guard stands in the way
        assert (found.entry is not None) == (reason == "hit")

    @pytest.mark.anyio
    async def test_chinese_is_unrepresentable_for_minilm(self, minilm: MiniLMEmbedder) -> None:
        cache = SemanticCache(minilm, unknown_ratio=minilm.unknown_token_ratio)
        assert not await cache.store("如何开启两步验证", b"x", tenant="t", tier="cheap", ttl_s=60)
        found = await cache.lookup("如何关闭两步验证", tenant="t", tier="cheap")
        assert found.reason.startswith("unrepresentable:")
        rule = AcceptRule(unknown_ratio=minilm.unknown_token_ratio)
        verdict = rule.judge("如何开启两步验证", "如何关闭两步验证", 1.0)
        assert verdict.startswith("unrepresentable:")


class TestWithThePairJudge:
    """The real judge behind the real MiniLM, at its threshold 0.88: it refuses what the
    guards let through (another role, said with other words) and keeps paraphrases."""

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("stored", "asked", "reason"),
        [
            ("How do I reset my password?", "How can I reset my password?", "hit"),
            (
                "What is the best way to learn Spanish fast?",
                "How can I learn Spanish quickly?",
                "hit",
            ),
            (
                "What is it like to study at IIT Bombay?",
                "What is it like to teach at IIT Bombay?",
                "judge:rejected",
            ),
            (
                "Does lifting weights make you a better runner?",
                "Does running make you a better weightlifter?",
                "judge:rejected",
            ),
        ],
    )
    async def test_judged_pairs(
        self, minilm: MiniLMEmbedder, stored: str, asked: str, reason: str
    ) -> None:
        async with ThreadedPairJudge(shared_pair_judge()) as judge:
            cache = SemanticCache(
                minilm, threshold=0.88, unknown_ratio=minilm.unknown_token_ratio, pair_judge=judge
            )
            assert await cache.store(stored, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
            found = await cache.lookup(asked, tenant="t", tier="cheap")
        assert found.reason == reason
        assert found.score >= 0.88  # the guards passed it: only the judge stands in the way
        without = SemanticCache(minilm, threshold=0.88, unknown_ratio=minilm.unknown_token_ratio)
        assert await without.store(stored, b"answer", tenant="t", tier="cheap", ttl_s=60.0)
        assert (await without.lookup(asked, tenant="t", tier="cheap")).reason == "hit"


class TestAmbiguity:
    def test_choose_serves_the_best_accepted_candidate(self) -> None:
        assert choose(["guard:order", "hit", "hit"], [0.99, 0.95, 0.90], 0.02) == (1, "hit")
        assert choose(["below_threshold"], [0.5], 0.02) == (None, "below_threshold")
        assert choose([], [], 0.02) == (None, "empty")

    def test_candidates_are_judged_only_as_far_as_the_choice_needs(self) -> None:
        verdicts = ["guard:number", "hit", "hit", "hit"]
        scores = [0.99, 0.96, 0.955, 0.93]
        judged: list[int] = []

        def judge(at: int) -> str:
            judged.append(at)
            return verdicts[at]

        # The second hit lies within the margin of the first: judged, and ambiguous.
        assert choose_judged(judge, scores, 0.01) == (None, "ambiguous")
        assert judged == [0, 1, 2]
        judged.clear()
        # Outside the margin nothing after the first hit is judged.
        assert choose_judged(judge, scores, 0.001) == (1, "hit")
        assert judged == [0, 1]
        judged.clear()
        # No hit: every candidate is judged and the best one's verdict is the reason.
        assert choose_judged(lambda at: judge(at) and "guard:order", scores, 0.01) == (
            None,
            "guard:order",
        )
        assert judged == [0, 1, 2, 3]
        # The same choice as judging every candidate first.
        for margin in (0.0, 0.001, 0.01, 0.05):
            assert choose_judged(verdicts.__getitem__, scores, margin) == choose(
                verdicts, scores, margin
            )

    def test_two_accepted_candidates_within_the_margin_are_ambiguous(self) -> None:
        assert choose(["hit", "hit"], [0.95, 0.945], 0.01) == (None, "ambiguous")
        assert choose(["hit", "hit"], [0.95, 0.93], 0.01) == (0, "hit")
        assert choose(["hit", "hit"], [0.95, 0.95], 0.0) == (0, "hit")  # margin 0: off

    @pytest.mark.anyio
    async def test_lookup_between_two_stored_questions_misses(self) -> None:
        cache = make_cache(threshold=0.5, ambiguity_margin=0.05)
        # Each stored question adds a word that changes nothing (the detail guard lets it pass).
        assert await put(cache, "parcel delivery status still", b"one")
        assert await put(cache, "parcel delivery status currently", b"two")
        found = await cache.lookup("parcel delivery status", tenant="acme", tier="cheap")
        assert (found.entry, found.reason) == (None, "ambiguous")


class FixedJudge:
    """A pair judge answering one probability (or failing), recording what it was asked."""

    name = "fixed-judge"

    def __init__(self, chance: float | None, fail: bool = False) -> None:
        self.chance = chance
        self.fail = fail
        self.asked: list[tuple[str, str]] = []

    async def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        self.asked += pairs
        if self.fail:
            raise RuntimeError("judge down")
        return [self.chance] * len(pairs)


class TestPairJudge:
    @pytest.mark.anyio
    async def test_a_candidate_the_judge_accepts_is_served(self) -> None:
        judge = FixedJudge(0.6)
        cache = make_cache(pair_judge=judge, judge_min_probability=0.5)
        await put(cache, "How do I reset my password?", b"A")
        found = await cache.lookup("how can I reset my password", tenant="acme", tier="cheap")
        assert found.reason == "hit" and found.entry is not None
        # Asked about the new question against the stored one, as the cache reads them.
        assert judge.asked == [("how can I reset my password", "how do I reset my password?")]

    @pytest.mark.anyio
    async def test_a_candidate_the_judge_refuses_is_a_miss(self) -> None:
        cache = make_cache(pair_judge=FixedJudge(0.4), judge_min_probability=0.5)
        await put(cache, "How do I reset my password?", b"A")
        found = await cache.lookup("how can I reset my password", tenant="acme", tier="cheap")
        assert (found.entry, found.reason) == (None, "judge:rejected")
        assert found.score > 0.8  # the candidate was there; the judge turned it down

    @pytest.mark.anyio
    async def test_where_the_judge_abstains_threshold_and_guards_decide(self) -> None:
        cache = make_cache(pair_judge=FixedJudge(None))
        await put(cache, "How do I reset my password?", b"A")
        found = await cache.lookup("how can I reset my password", tenant="acme", tier="cheap")
        assert found.reason == "hit"

    @pytest.mark.anyio
    async def test_a_failing_judge_is_a_miss_never_a_hit(self) -> None:
        cache = make_cache(pair_judge=FixedJudge(1.0, fail=True))
        await put(cache, "How do I reset my password?", b"A")
        found = await cache.lookup("how can I reset my password", tenant="acme", tier="cheap")
        assert (found.entry, found.reason) == (None, "judge:error")

    @pytest.mark.anyio
    async def test_the_judge_is_not_asked_about_what_the_guards_refuse(self) -> None:
        judge = FixedJudge(1.0)
        cache = make_cache(pair_judge=judge)
        await put(cache, "Can I cancel my order?", b"A")
        found = await cache.lookup("Can I not cancel my order?", tenant="acme", tier="cheap")
        assert found.reason.startswith("guard:") and judge.asked == []
