"""The detail guard (`cache.guard_detail`): an added word that narrows the question is refused;
framing, hedges, verbs, numbers and the word completing a compound pass. And "out of" read as
the opposite of "into" by the direction check."""

from __future__ import annotations

import pytest

from cache.guard_detail import detail_added
from cache.guards import differences

DETAIL_ADDED = [
    (
        "Can you take a bike on the London Underground?",
        "Can you take a folding bike on the London Underground?",
        "folding",
    ),
    (
        "Is it safe to drink tap water in Mexico City?",
        "Is it safe to drink boiled tap water in Mexico City?",
        "boiled",
    ),
    (
        "How do I get into rock climbing with no experience?",
        "How do I get into outdoor rock climbing with no experience?",
        "outdoor",
    ),
    (
        "What's the difference between a Dyson V11 and V15?",
        "What's the price difference between a Dyson V11 and V15?",
        "price",
    ),
    (
        "What's the best time to buy airline tickets for Christmas?",
        "What's the best time to buy international airline tickets for Christmas?",
        "international",
    ),
    ("Which VPN works best for Netflix?", "Which free VPN works best for Netflix?", "free"),
    (
        "How much is the toll on the Golden Gate Bridge?",
        "How much is the toll on the Golden Gate Bridge going northbound?",
        "going northbound",
    ),
    ("A person is cutting mushrooms.", "A person is cutting mushrooms with a knife.", "with knife"),
    (
        "What happens if I don't pay my credit card bill?",
        "What happens if I don't pay my credit card bill in full?",
        "in full",  # "full" after a preposition is no verb
    ),
    (
        "How many miles is too many for a used car?",
        "How many miles a year is too many for a used car?",
        "year",  # a unit without a number: a rate
    ),
]

NOTHING_ADDED = [
    ("How long does a cold last?", "How long does a common cold last?"),  # a WordNet compound
    ("How do I get my deposit back?", "How do I get my security deposit back?"),
    ("How do I clean a fly reel?", "How do I clean a fly fishing reel?"),
    (
        "What is the difference between a loan and a lease?",
        "What is the actual difference between a loan and a lease?",
    ),
    ("what gas does the car use", "what type of gas does the car use"),
    ("Which is cheaper?", "Which one is cheaper?"),
    ("Why does my transfer say pending?", "Why does my transfer still say pending?"),
    ("Was I charged $20?", "Was I charged 20 dollars?"),
    (
        "how do I stop apps running in the background",
        "how do I stop apps from running in the background",
    ),
    ("i want directions to the closest atm", "i want to get directions to the closest atm"),
    ("could you check if my order is here", "could you check to see if my order is here"),
    ("where is my new card?", "could you tell me where is my new card?"),  # framing, first
    ("How do I crop a photo in Photoshop?", "How do I crop a photo in Adobe Photoshop?"),  # a name
    ("heads or tails", "heads or tails i choose tails"),  # a clause, not a detail
    ("I am waiting for a transfer to show", "I am waiting for a transfer to show up"),
]


@pytest.mark.parametrize(("query_a", "query_b", "words"), DETAIL_ADDED)
def test_an_added_narrowing_word_is_refused(query_a: str, query_b: str, words: str) -> None:
    assert detail_added(query_a, query_b) == words
    assert detail_added(query_b, query_a) == words
    assert differences(query_a, query_b) == [f"detail:{words}"]


@pytest.mark.parametrize(("query_a", "query_b"), NOTHING_ADDED)
def test_words_that_add_no_detail_pass(query_a: str, query_b: str) -> None:
    assert detail_added(query_a, query_b) is None
    assert detail_added(query_b, query_a) is None


@pytest.mark.parametrize(
    ("query_a", "query_b"),
    [
        (
            "Can I bring prescription medication into Japan?",
            "Can I bring prescription medication out of Japan?",
        ),
        (
            "How do I transfer a utility account into my name?",
            "How do I transfer a utility account out of my name?",
        ),
        ("How long does it take to get into debt?", "How long does it take to get out of debt?"),
    ],
)
def test_out_of_is_the_opposite_of_into(query_a: str, query_b: str) -> None:
    assert differences(query_a, query_b) == ["order"]


def test_out_of_and_from_say_the_same_direction() -> None:
    assert (
        differences("Can I bring medication out of Japan?", "Can I bring medication from Japan?")
        == []
    )


@pytest.mark.parametrize(
    ("query_a", "query_b", "kind"),
    [
        # "non" before a word is its opposite; "non-profit" and "nonprofit" are one word
        (
            "Can I remove a load bearing wall",
            "Can I remove a non load bearing wall",
            "antonym:nonload/load",
        ),
        # a minus sign is part of its number
        ("Is -5 degrees cold?", "Is 5 degrees cold?", "number"),
        (
            "Does a -2.00 prescription mean nearsighted?",
            "Does a +2.00 prescription mean nearsighted?",
            "number",
        ),
        # the question word as the verb's subject in one, its object in the other
        ("What eats a great white shark?", "What does a great white shark eat?", "order"),
        ("Who killed Kennedy?", "Who did Kennedy kill?", "order"),
        ("what animals eat sharks", "what animals do sharks eat", "order"),
        # after "was" a word that is no participle is a complement, not a verb
        (
            "Carlsen vs Fischer, who was better?",
            "Carlsen vs Fischer, who was more famous?",
            "replaced:better/more famou",
        ),
    ],
)
def test_round_six_differences(query_a: str, query_b: str, kind: str) -> None:
    assert differences(query_a, query_b) == [kind]
    # The other way round names the same kind (a replacement names its words in that order).
    assert [k.split(":")[0] for k in differences(query_b, query_a)] == [kind.split(":")[0]]


@pytest.mark.parametrize(
    ("query_a", "query_b"),
    [
        ("how to start a non-profit", "how to start a nonprofit"),
        ("a 30-60 minute walk for beginners", "a 30-60 minute walk for beginners?"),
        ("What does a shark eat?", "What do sharks eat?"),
        ("who is smarter, cats or dogs", "who is more intelligent, cats or dogs"),
    ],
)
def test_round_six_paraphrases_pass(query_a: str, query_b: str) -> None:
    assert differences(query_a, query_b) == []
