"""The bundled FAQ and its lexical matcher."""

from __future__ import annotations

import pytest

from agent.knowledge import FaqEntry, KnowledgeBase, tokenize


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load_default()


class TestBundledFaq:
    def test_has_enough_well_formed_entries(self, kb: KnowledgeBase) -> None:
        assert 32 <= len(kb.entries) <= 40
        for entry in kb.entries:
            assert entry.id.startswith("kb-")
            assert entry.title and entry.question and entry.tags and entry.category
            assert 2 <= entry.answer.count(". ") + 1 <= 6
            assert entry.realtime is False

    def test_covers_every_support_area(self, kb: KnowledgeBase) -> None:
        categories = {entry.category for entry in kb.entries}
        assert {
            "orders",
            "shipping",
            "returns",
            "billing",
            "account",
            "subscriptions",
            "api",
            "api-keys",
            "webhooks",
            "sdk",
            "deployment",
            "permissions",
        } <= categories

    def test_get_by_id(self, kb: KnowledgeBase) -> None:
        entry = kb.get("kb-api-002")
        assert entry is not None and "429" in entry.title
        assert kb.get("kb-nope-999") is None


class TestBestMatch:
    @pytest.mark.parametrize(
        ("question", "expected"),
        [
            ("How can I track my order?", "kb-orders-001"),
            ("I keep getting HTTP 429 errors from your API", "kb-api-002"),
            ("my api key returns 401 unauthorized", "kb-api-001"),
            ("How do I reset my password?", "kb-account-001"),
            ("how to verify the webhook signature", "kb-webhooks-002"),
            ("I was charged twice", "kb-billing-004"),
            ("my API requests keep timing out", "kb-api-004"),
            ("How do I cancel my subscription?", "kb-subs-003"),
            ("how long until my refund arrives", "kb-returns-002"),
        ],
    )
    def test_finds_the_right_article(self, kb: KnowledgeBase, question: str, expected: str) -> None:
        match = kb.best_match(question)
        assert match is not None
        assert match.id == expected

    @pytest.mark.parametrize("question", ["", "hello", "what is the capital of Peru?"])
    def test_unrelated_question_has_no_match(self, kb: KnowledgeBase, question: str) -> None:
        assert kb.best_match(question) is None

    def test_search_ranks_best_first(self, kb: KnowledgeBase) -> None:
        results = kb.search("two-factor authentication lost phone recovery codes", limit=3)
        assert results[0][0].id == "kb-account-003"
        scores = [score for _, score in results]
        assert scores == sorted(scores, reverse=True)


def test_tokenize_drops_stopwords_and_folds_plurals() -> None:
    assert tokenize("How do I get my Refunds for the orders?") == ["refund", "order"]


def test_duplicate_ids_are_rejected() -> None:
    entry = FaqEntry(id="kb-x-1", title="t", question="q", answer="a")
    with pytest.raises(ValueError, match="unique"):
        KnowledgeBase([entry, entry])
