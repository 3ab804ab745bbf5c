"""Order that does not matter: things listed with "vs" or "and", relations that hold both ways."""

from __future__ import annotations

import pytest

from cache.guards import differences

BOTH_WAYS = [
    # "vs" with the two listed things trading places whole
    ("Mac vs PC for video editing", "PC vs Mac for video editing"),
    (
        "iPhone vs Android, which is better for privacy?",
        "Android vs iPhone, which is better for privacy?",
    ),
    ("Harvard vs Stanford for computer science", "Stanford vs Harvard for computer science"),
    # a list joined by "and", sharing a word
    (
        "difference between baking soda and baking powder",
        "difference between baking powder and baking soda",
    ),
    (
        "Difference between a Roth IRA and a traditional IRA?",
        "difference between a traditional IRA and a Roth IRA?",
    ),
    # relations that hold both ways
    ("Is Jay-Z married to Beyonce?", "Is Beyonce married to Jay-Z?"),
    ("Is English similar to German?", "Is German similar to English?"),
    ("How far is London from Paris?", "How far is Paris from London?"),
    ("Does France share a border with Spain?", "Does Spain share a border with France?"),
    ("Did Tyson ever fight Holyfield?", "Did Holyfield ever fight Tyson?"),
]

ONE_WAY = [
    # "vs" after a word that moved: a direction
    (
        "How much has the euro dropped vs the dollar this year?",
        "How much has the dollar dropped vs the euro this year?",
    ),
    (
        "arsenal home record vs spurs in the premier league",
        "spurs home record vs arsenal in the premier league",
    ),
    # "and" joining two clauses, not two things
    (
        "Is it a problem if the mother is Rh negative and the baby is Rh positive?",
        "Is it a problem if the mother is Rh positive and the baby is Rh negative?",
    ),
    (
        "should I learn Python and then JavaScript for web development?",
        "should I learn JavaScript and then Python for web development?",
    ),
    # a symmetric verb inside a longer phrase, or a relation that is not symmetric
    ("Does Best Buy price match Amazon?", "Does Amazon price match Best Buy?"),
    ("Can a Christian man marry a Muslim woman?", "Can a Muslim man marry a Christian woman?"),
    ("Does Facebook share data with Google?", "Does Google share data with Facebook?"),
    # a third thing between the two: the relation is the controller's, not the consoles'
    (
        "Is the PS5 controller compatible with the PS4?",
        "Is the PS4 controller compatible with the PS5?",
    ),
    ("convert Celsius to Fahrenheit", "convert Fahrenheit to Celsius"),
    # two adjacent phrases trading places around their own relation words
    (
        "What is the impact of social media on teenagers?",
        "What is the impact of teenagers on social media?",
    ),
]


@pytest.mark.parametrize(("a", "b"), BOTH_WAYS)
def test_order_that_does_not_matter_passes(a: str, b: str) -> None:
    assert differences(a, b) == []
    assert differences(b, a) == []


@pytest.mark.parametrize(("a", "b"), ONE_WAY)
def test_order_that_matters_is_refused(a: str, b: str) -> None:
    assert "order" in differences(a, b)
    assert "order" in differences(b, a)
