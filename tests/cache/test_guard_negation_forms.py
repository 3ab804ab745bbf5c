"""Negations said without a plain "not": refusals, near-negations, "avoid", "lack", "unable"."""

from __future__ import annotations

import pytest

from cache.guards import differences, hit_allowed

NEGATED = [
    # "fail to" / "refuse to" say "not"; "hardly" and "barely" nearly do
    (
        "What happens if you fail to show up for jury duty?",
        "What happens when you show up for jury duty?",
    ),
    (
        "What happens if I refuse to take a breathalyzer test?",
        "What happens if I agree to take a breathalyzer test?",
    ),
    (
        "Why do I hardly sweat when I exercise?",
        "Why do I sweat so much when I exercise?",
    ),
    ("My baby barely eats, is that normal?", "My baby eats a lot, is that normal?"),
    (
        "Which foods should I eat to lose weight?",
        "Which foods should I avoid to lose weight?",
    ),
]

SAID_ANOTHER_WAY = [
    # a refusal is a negation said another way
    ("What if my boss refuses to pay overtime?", "What if my boss doesn't pay overtime?"),
    ("Why do I barely sleep at night?", "Why don't I sleep much at night?"),
    ("I am not able to log in", "I am unable to log in"),
    ("Should I not eat before a blood test?", "Should I avoid eating before a blood test?"),
    ("Does the US not have universal healthcare?", "Does the US lack universal healthcare?"),
]


@pytest.mark.parametrize(("a", "b"), NEGATED)
def test_a_negation_said_another_way_is_reported(a: str, b: str) -> None:
    assert "negation" in differences(a, b)
    assert "negation" in differences(b, a)
    assert not hit_allowed(a, b)


@pytest.mark.parametrize(("a", "b"), SAID_ANOTHER_WAY)
def test_the_same_negation_said_another_way_passes(a: str, b: str) -> None:
    assert differences(a, b) == []
    assert hit_allowed(b, a)
