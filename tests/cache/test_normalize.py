"""The exact-cache normalization rule: merge only what cannot change meaning."""

from __future__ import annotations

import pytest

from cache.normalize import is_code_like, normalize_text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Whitespace around and inside prose carries no meaning.
        ("  What is the refund policy?  ", "What is the refund policy?"),
        ("What is\tthe  refund\n\npolicy?", "What is the refund policy?"),
        ("What is the\u00a0refund policy?", "What is the refund policy?"),
        ("line one\r\nline two", "line one\nline two"),
        # A stray single space after a line break is still prose.
        ("what is the\n refund policy?", "what is the refund policy?"),
        # Composed and decomposed forms of the same character.
        ("caf\u00e9 hours", "cafe\u0301 hours"),
        # The first word's ordinary capital is grammar.
        ("What is the refund policy?", "what is the refund policy?"),
        ("I need help", "i need help"),
        ("What's new?", "what's new?"),
        ("\u00c9tat du compte", "\u00e9tat du compte"),
    ],
)
def test_normalization_merges_equivalent_texts(a: str, b: str) -> None:
    assert normalize_text(a) == normalize_text(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Case elsewhere can be meaning: acronyms, brands, ids, passwords.
        ("Is the US store open?", "Is the us store open?"),
        ("US shipping times", "us shipping times"),
        ("iPhone battery", "iphone battery"),
        ("Order AB12cd status", "Order ab12cd status"),
        ("A1 seat", "a1 seat"),
        ("Reset to Hunter2", "Reset to hunter2"),
        ("I like Apple", "I like apple"),
        # Indentation in code is syntax.
        ("if x:\n    y()\nz()", "if x:\ny()\nz()"),
        ("run `a  b`", "run `a b`"),
        # Punctuation is never touched.
        ("refund policy?", "refund policy"),
    ],
)
def test_normalization_keeps_texts_that_may_differ_in_meaning_apart(a: str, b: str) -> None:
    assert normalize_text(a) != normalize_text(b)


def test_prose_becomes_one_line_with_single_spaces() -> None:
    assert normalize_text("  Hello   there,\n\nhow are you? ") == "hello there, how are you?"


def test_code_keeps_its_indentation_but_loses_trailing_space_and_blank_edges() -> None:
    text = "\n\ndef f():  \r\n    return 1\t\n\n"
    assert normalize_text(text) == "def f():\n    return 1"


def test_code_is_not_case_folded() -> None:
    assert normalize_text("Run `make`") == "Run `make`"


def test_normalization_is_idempotent() -> None:
    for text in ("  What   is  THIS? ", "def f():\n    pass\n", "US  Open", ""):
        once = normalize_text(text)
        assert normalize_text(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", False),
        ("one\n two", False),
        ("one\n  two", True),
        ("one\n\ttwo", True),
        ("   leading only", False),
        ("use `grep`", True),
        ("blank\n   \nlines", False),
    ],
)
def test_code_like_detection(text: str, expected: bool) -> None:
    assert is_code_like(text) is expected
