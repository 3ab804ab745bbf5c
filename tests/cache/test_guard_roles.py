"""Roles across active and passive voice, and inverse comparisons (`cache.guard_roles`)."""

from __future__ import annotations

import pytest

from cache.guard_roles import (
    Comparison,
    inverse_comparison,
    swapped_comparison,
    voice_roles_swapped,
)
from cache.guards import differences

SWAPPED_VOICE = [
    # a progressive active is active: the subject buys in one and is bought in the other
    (
        "my company is acquiring our biggest competitor, what happens to my role?",
        "my company is being acquired by our biggest competitor, what happens to my role?",
    ),
    ("did Germany beat Brazil in the 2014 World Cup?", "was Germany beaten by Brazil in 2014?"),
    ("can a landlord evict a tenant without notice?", "can a landlord be evicted by a tenant?"),
    ("why did Brutus kill Caesar?", "why was Brutus killed by Caesar?"),
    ("my dog was bitten by the neighbour's cat", "my dog bit the neighbour's cat"),
    ("did Microsoft buy LinkedIn in 2016?", "was Microsoft bought by LinkedIn in 2016?"),
    ("can my employer sue me for quitting?", "can my employer be sued by me for quitting?"),
    ("my cat got scratched by my neighbour's dog", "my cat scratched my neighbour's dog"),
]
SAME_VOICE_ROLES = [
    ("did Germany beat Brazil in the 2014 World Cup?", "was Brazil beaten by Germany in 2014?"),
    ("can a landlord evict a tenant without notice?", "can a tenant be evicted by a landlord?"),
    ("my dog was bitten by the neighbour's cat", "the neighbour's cat bit my dog"),
    ("can my employer sue me for quitting?", "can I be sued by my employer for quitting?"),
    (
        "is it illegal for my employer to fire me?",
        "is it illegal for me to be fired by my employer?",
    ),
    ("who painted the Mona Lisa?", "by whom was the Mona Lisa painted?"),
    ("is the book written by Tolkien worth reading?", "is the book Tolkien wrote worth reading?"),
]


@pytest.mark.parametrize(("a", "b"), SWAPPED_VOICE)
def test_roles_swapped_across_voices_are_refused(a: str, b: str) -> None:
    assert voice_roles_swapped(a, b) and voice_roles_swapped(b, a)
    assert "order" in differences(a, b)


@pytest.mark.parametrize(("a", "b"), SAME_VOICE_ROLES)
def test_the_same_roles_in_the_other_voice_pass(a: str, b: str) -> None:
    assert not voice_roles_swapped(a, b) and not voice_roles_swapped(b, a)


INVERSE = [
    ("is gold heavier than lead?", "is lead lighter than gold?"),
    ("is Python faster than Java for web servers?", "is Java slower than Python for web servers?"),
    ("is rice cheaper than pasta per serving?", "is pasta more expensive than rice per serving?"),
    ("is brown rice healthier than white rice?", "is white rice less healthy than brown rice?"),
    ("are cats smarter than dogs?", "are dogs less intelligent than cats?"),
    ("is Mount Everest taller than K2?", "is K2 shorter than Mount Everest?"),
]
ONE_FLIP = [
    ("is gold heavier than lead?", "is lead heavier than gold?", "order"),
    (
        "is rice cheaper than pasta per serving?",
        "is rice more expensive than pasta per serving?",
        "antonym",
    ),
    (
        "is brown rice healthier than white rice?",
        "is brown rice less healthy than white rice?",
        "antonym",
    ),
    ("are SSDs faster than hard drives?", "are hard drives faster than SSDs?", "order"),
    ("is Canada bigger than the US?", "is the US smaller than Mexico?", "name"),
]


@pytest.mark.parametrize(("a", "b"), INVERSE)
def test_an_inverse_comparison_asks_the_same(a: str, b: str) -> None:
    assert differences(a, b) == [] and differences(b, a) == []


@pytest.mark.parametrize(("a", "b", "kind"), ONE_FLIP)
def test_one_flip_alone_is_another_question(a: str, b: str, kind: str) -> None:
    assert any(k.startswith(kind) for k in differences(a, b))
    assert any(k.startswith(kind) for k in differences(b, a))


def test_the_comparison_is_read_around_its_one_than() -> None:
    assert swapped_comparison("is gold heavier than lead", "is lead lighter than gold") == (
        Comparison("heavier", "lighter", less_once=False)
    )
    turned = swapped_comparison("are cats smarter than dogs", "are dogs less intelligent than cats")
    assert turned == Comparison("smarter", "intelligent", less_once=True)
    # the same side, two "than"s, or another thing compared: no swapped comparison
    assert swapped_comparison("is gold heavier than lead", "is gold lighter than lead") is None
    assert swapped_comparison("is a better than b or worse than c", "is b better than a") is None
    assert swapped_comparison("is gold heavier than lead", "is iron lighter than gold") is None


def test_only_one_flip_by_antonym_or_less_makes_an_inverse() -> None:
    assert inverse_comparison(Comparison("heavier", "lighter", less_once=False), opposite=True)
    assert not inverse_comparison(Comparison("heavier", "light", less_once=True), opposite=True)
    assert inverse_comparison(Comparison("faster", "fast", less_once=True), opposite=False)
    # unrelated comparatives ("bigger" / "older") say nothing about each other
    assert not inverse_comparison(Comparison("bigger", "older", less_once=True), opposite=False)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "What was the climate of the Sahara desert 10,000 years ago?",
            "What will the climate of the Sahara desert be in 10,000 years?",
        ),
        (
            "How is the pension calculated for federal employees under FERS",
            "How was the pension calculated for federal employees under FERS",
        ),
        # a past verb right after "what" or "who", "going to", and the perfect
        (
            "What will happen to the Indian economy after demonetization?",
            "What happened to the Indian economy after demonetization?",
        ),
        (
            "Who will win the 2016 US presidential election?",
            "Who won the 2016 US presidential election?",
        ),
        ("What is going to happen to the stock market?", "What happened to the stock market?"),
        (
            "How will artificial intelligence change the world?",
            "How has artificial intelligence changed the world?",
        ),
    ],
)
def test_another_time_is_another_question(a: str, b: str) -> None:
    assert "tense" in differences(a, b) and "tense" in differences(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Why was my card declined?", "Why has my card been declined?"),  # past / perfect
        ("Does Best Buy price match Amazon?", "Will Best Buy price match Amazon?"),
        ("Why was I charged twice?", "Why am I being charged twice?"),  # the asker's own case
        # a past verb stands against the future only
        ("Why is Elon Musk so successful?", "What made Elon Musk so successful?"),
    ],
)
def test_past_present_and_future_said_alike_pass_the_tense_check(a: str, b: str) -> None:
    assert "tense" not in differences(a, b)
