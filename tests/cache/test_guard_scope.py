"""The scope guard (`cache.guard_scope`) and the spellings the other guards now read alike: codes
with or without a hyphen, "401(k)", a unit glued to its number, "refuse to" for "not", a name
qualified by another."""

from __future__ import annotations

import pytest

from cache.guard_scope import scope_changed
from cache.guards import differences

SCOPE_CHANGED = [
    # one thing in place of another, not both
    (
        "Can I take melatonin instead of my sleeping pill?",
        "Can I take melatonin along with my sleeping pill?",
        None,
    ),
    (
        "what tire pressure should I run on a 2018 Ford F-150?",
        "what tire pressure should I run on a 2018 Ford F-150 when towing?",
        "when towing",
    ),
    (
        "how often should you exfoliate your face",
        "how often should you exfoliate your face if you have rosacea",
        "if you have rosacea",
    ),
    (
        "how much notice should I give when quitting my job?",
        "how much notice should I give when quitting my job during probation?",
        "during probation",
    ),
    (
        "how do I center a div horizontally and vertically with CSS?",
        "how do I center a div horizontally with CSS?",
        "and vertically",
    ),
    ("the woman is rolling dough.", "a woman is flouring and rolling dough.", "flouring and"),
    (
        "my toddler refuses to sleep in his own bed",
        "my toddler refuses to sleep anywhere except his own bed",
        "anywhere except",
    ),
    ("how to factory reset a phone", "how to factory reset a phone without a password", None),
    (
        "how much should I tip hotel housekeeping per night?",
        "how much should I tip hotel housekeeping per week?",
        "per night/week",
    ),
    (
        "how much protein do I need per day to build muscle?",
        "how much protein do I need per meal to build muscle?",
        "per day/meal",
    ),
    (
        "my dog keeps licking his paws, should I be worried?",
        "my dog keeps licking everything, should I be worried?",
        "everything",
    ),
]


@pytest.mark.parametrize(("query_a", "query_b", "words"), SCOPE_CHANGED)
def test_an_added_condition_exception_or_item_is_refused(
    query_a: str, query_b: str, words: str | None
) -> None:
    found = scope_changed(query_a, query_b)
    assert found is not None
    if words is not None:
        assert found == words
    assert scope_changed(query_b, query_a) == found  # read the same both ways
    assert f"scope:{found}" in differences(query_a, query_b)


SCOPE_KEPT = [
    # "instead of" said another way
    ("can I use butter instead of oil in brownies", "can I use butter rather than oil in brownies"),
    ("Can I get a Visa or Mastercard?", "Can I get a Visa instead of a MasterCard?"),
    # a clause of context, not a second item
    ("i am stranded and need an uber", "i need an uber"),
    # the same lack said another way
    ("list of foods without gluten", "list of gluten-free foods"),
    # a condition moved, not added
    (
        "what happens if I miss the deadline?",
        "if I miss the deadline, what happens?",
    ),
    # a rewrite longer than a scope
    (
        "just got an error saying my transfer is not possible, it worked without problem before",
        "the transfer failed, let me know the issue as it is the first time I get an error",
    ),
    # only function words added
    ("how do I renew my passport", "how do I renew my passport when"),
    ("how are things with you", "how is everything with you"),
    ("what is the fee per transfer?", "what is the fee per transfer for me?"),
]


@pytest.mark.parametrize(("query_a", "query_b"), SCOPE_KEPT)
def test_context_lacks_and_moved_conditions_are_no_scope(query_a: str, query_b: str) -> None:
    assert scope_changed(query_a, query_b) is None
    assert scope_changed(query_b, query_a) is None


ALIKE = [
    ("tire pressure for a 2018 Ford F-150", "tire pressure for a 2018 Ford F150"),
    (
        "what is the difference between a W-2 and a 1099 employee?",
        "how is a W2 employee different from a 1099 employee?",
    ),
    ("should I invest in my 401k", "should I invest in my 401(k)"),
    ("how deep for a 6 foot fence post", "how deep for a 6ft fence post"),
    # "refuse to", "skip" say "not"
    (
        "is it legal for my employer to not pay overtime in Texas",
        "is it legal for my employer to refuse to pay overtime in Texas",
    ),
    ("is it rude to not tip at a buffet?", "is it rude to skip tipping at a buffet?"),
    # a name qualified by another
    (
        "how do I factory reset a Samsung Galaxy S21 without the password",
        "how do I factory reset my Galaxy S21 without the password",
    ),
    (
        "why did the judge find Jerry Sandusky guilty in the trial",
        "why did the judge find Sandusky guilty in the trial",
    ),
    # a name with capitals added
    (
        "is PostgreSQL faster than MySQL for read-heavy workloads?",
        "is Postgres faster than MySQL for read-heavy workloads?",
    ),
    (
        "what language did people speak in Egypt in 2000 BC?",
        "what language did people speak in Egypt in 2000 BCE?",
    ),
]


@pytest.mark.parametrize(("query_a", "query_b"), ALIKE)
def test_spellings_of_one_code_amount_or_negation_pass(query_a: str, query_b: str) -> None:
    assert differences(query_a, query_b) == []
    assert differences(query_b, query_a) == []


DIFFERENT = [
    ("tire pressure for a Ford F-150", "tire pressure for a Ford F-250"),
    ("is 5G safe", "is 4G safe"),
    ("should I invest in my 401(k)", "should I invest in my 403(b)"),
    ("how deep for a 6ft fence post", "how deep for an 8ft fence post"),
    # a place named in two words, and another qualifier of one name
    (
        "is it safe to travel to North Korea as a tourist",
        "is it safe to travel to Korea as a tourist",
    ),
    (
        "is it expensive to live in New York as a student",
        "is it expensive to live in York as a student",
    ),
    ("can I use Google Maps when I am offline", "can I use Apple Maps when I am offline"),
    (
        "should I learn Java before learning anything else",
        "should I learn JavaScript before learning anything else",
    ),
    (
        "did you talk to Paul about the party yesterday",
        "did you talk to Paula about the party yesterday",
    ),
    ("is it safe to travel to the UK this summer", "is it safe to travel to Ukraine this summer"),
    # the speaker against a group the speaker belongs to
    (
        "how much should I spend on a wedding gift for a coworker?",
        "how much should our team spend on a wedding gift for a coworker?",
    ),
]


@pytest.mark.parametrize(("query_a", "query_b"), DIFFERENT)
def test_other_codes_amounts_and_doers_are_refused(query_a: str, query_b: str) -> None:
    assert differences(query_a, query_b)
    assert differences(query_b, query_a)


MANNER = [
    ("how do I get rid of dandruff naturally?", "how do I get rid of dandruff?", "naturally"),
    ("how do I delete my Facebook account permanently?", "how do I delete my account?", None),
    ("how do I make money on YouTube fast?", "how do I make money on YouTube?", "fast"),
    ("how can I learn Python quickly?", "how can I learn Python?", "quickly"),
]


@pytest.mark.parametrize(("query_a", "query_b", "word"), MANNER)
def test_an_added_manner_is_refused(query_a: str, query_b: str, word: str | None) -> None:
    assert differences(query_a, query_b)
    if word is not None:
        assert scope_changed(query_a, query_b) == word
        assert scope_changed(query_b, query_a) == word


MANNER_KEPT = [
    ("can I still get a refund?", "can I get a refund?"),  # a filler
    ("how do I actually cancel my plan?", "how do I cancel my plan?"),
    ("how to cook rice properly", "how to cook rice"),
    ("how do I change my last name?", "how do I change my name?"),  # not closing, no -ly
    ("a woman is cutting through an onion.", "a woman is cutting an onion."),
    # the same adverb moved
    ("how can I permanently delete my account?", "how do I delete my account permanently?"),
]


@pytest.mark.parametrize(("query_a", "query_b"), MANNER_KEPT)
def test_fillers_and_adverbs_that_are_no_manner_pass(query_a: str, query_b: str) -> None:
    assert scope_changed(query_a, query_b) is None
    assert scope_changed(query_b, query_a) is None
