"""A long message is read as a keyed context and an embedded question."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cache.question_context import LONG_WORDS, split_question, with_context

_DOC = " ".join(f"Clause {i}: the tenant pays the agreed rent on time." for i in range(8))


def test_a_short_message_is_all_question() -> None:
    assert split_question("How much is the pet fee?") == ("", "How much is the pet fee?")


def test_a_long_message_splits_at_its_last_sentence() -> None:
    context, question = split_question(_DOC + " How much is the pet fee?")
    assert (context, question) == (_DOC, "How much is the pet fee?")


def test_a_short_last_sentence_takes_the_one_before_it() -> None:
    context, question = split_question(_DOC + " Why are my orders missing from the report? Help!")
    assert question == "Why are my orders missing from the report? Help!"
    assert context == _DOC


def test_line_breaks_and_chinese_punctuation_end_sentences() -> None:
    assert split_question(_DOC + "\nhow long is the notice period")[1] == (
        "how long is the notice period"
    )
    doc = "。".join(["租户应按时支付约定的租金并保持房屋整洁"] * 12) + "。"
    context, question = split_question(doc + "提前解约需要提前多少天通知？")
    assert question == "提前解约需要提前多少天通知？"
    assert context == doc


def test_a_long_message_without_boundaries_stays_whole() -> None:
    text = " ".join(["rent"] * (LONG_WORDS + 5))
    assert split_question(text) == ("", text)


def test_the_context_is_part_of_the_partition() -> None:
    assert with_context("tier", "") == "tier"
    assert with_context("tier", _DOC) != with_context("tier", _DOC + " ")
    assert with_context("tier", _DOC).startswith("tier|ctx:")


@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60))
def test_messages_that_differ_before_their_question_never_share_a_partition(
    edit_a: str, edit_b: str
) -> None:
    a = split_question(edit_a + " " + _DOC + " How much is the pet fee?")
    b = split_question(edit_b + " " + _DOC + " How much is the pet fee?")
    # Two messages are compared only when everything before their questions is the same text.
    assert (a[0] == b[0]) == (with_context("t", a[0]) == with_context("t", b[0]))
    assert a[1] == b[1] == "How much is the pet fee?" or a[0] == "" or b[0] == ""
