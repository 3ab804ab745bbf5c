"""People trading places (`cache.guard_people`); things and activities traded (the order guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cache.guard_people import asked_for, doer_replaced, persons_traded, verb_roles_traded
from cache.guards import differences
from cache.lexicons import doer_nouns
from cache.normalize import normalize_text

TRADED = [
    (
        "can I book a hotel room for someone else under my name?",
        "can I book a hotel room for myself under someone else's name?",
    ),
    ("can I pay for her ticket with my card?", "can I pay for my ticket with her card?"),
    ("should I tell them about you?", "should I tell you about them?"),
]
NOT_TRADED = [
    # generic "you" for "I": one person, no trade
    ("how do I reset my password?", "how do you reset your password?"),
    # other words change too: left to the other checks
    ("can I add my wife to my account?", "can my wife add me to her account?"),
    ("can I use my card for someone else?", "can someone else use my card?"),
]


@pytest.mark.parametrize(("a", "b"), TRADED)
def test_people_trading_places_is_refused(a: str, b: str) -> None:
    assert persons_traded(a, b) and persons_traded(b, a)
    assert "order" in differences(a, b)


@pytest.mark.parametrize(("a", "b"), NOT_TRADED)
def test_no_trade_of_people(a: str, b: str) -> None:
    assert not persons_traded(a, b) and not persons_traded(b, a)


def test_two_roles_swapped_while_one_more_word_changes_are_refused() -> None:
    a = "can an employer sue an employee for breaking a non-compete in Texas?"
    b = "can an employee sue an employer for enforcing a non-compete in Texas?"
    assert "order" in differences(a, b)
    # two words more changed: not read as one swap
    c = "can an employee sue a former employer for enforcing a non-solicit in Texas?"
    assert "order" not in differences(a, c)
    # a repeated word is not two things swapped
    assert differences("ah ha, ha, ha, ha, ha!", "ha, ha, ha, ha, ha, ha!") == []


VERB_ROLES_TRADED = [
    ("can my employer see my browsing history?", "can I see my employer's browsing history?"),
    ("does my wife's insurance cover me?", "does my insurance cover my wife?"),
    (
        "can my landlord enter my flat without notice?",
        "can I enter my landlord's flat without notice?",
    ),
    ("is my boss allowed to read my emails?", "am I allowed to read my boss's emails?"),
    (
        "do I need to pay tax on money my parents give me?",
        "do my parents need to pay tax on money they give me?",
    ),
    ("can I claim my parents as dependents?", "can my parents claim me as a dependent?"),
]
VERB_ROLES_KEPT = [
    # the same doer, said another way
    ("can my employer read my work emails?", "is my employer allowed to read my work emails?"),
    ("how do I reset my password?", "how do you reset your password?"),
    # a passive is the voice guard's; "I" against "you" alone is a question to an assistant
    ("can my employer fire me for a post?", "can I be fired by my employer for a post?"),
    ("can you send me a new card?", "can I get a new card from you?"),
    # a noun after a determiner, or a pronoun that receives
    ("help me with a PIN change.", "help me change my PIN."),
    ("would you provide the number of days i have", "provide me the number of days i have"),
    ("what is my location right now", "where am i right now, location wise"),
]


@pytest.mark.parametrize(("a", "b"), VERB_ROLES_TRADED)
def test_doer_and_done_to_traded_around_a_verb_are_refused(a: str, b: str) -> None:
    assert verb_roles_traded(a, b) and verb_roles_traded(b, a)
    assert "order" in differences(a, b)


@pytest.mark.parametrize(("a", "b"), VERB_ROLES_KEPT)
def test_the_same_roles_pass(a: str, b: str) -> None:
    assert not verb_roles_traded(a, b) and not verb_roles_traded(b, a)


def test_us_in_capitals_is_a_role_of_the_order_guard() -> None:
    a = "can a US citizen sponsor a foreign spouse for a green card?"
    b = "can a foreign spouse sponsor a US citizen for a green card?"
    assert "order" in differences(a, b)
    # "the us" typed in lower case is the country too
    a, b = "why did france sell louisiana to the us", "why did the us sell louisiana to france"
    assert "order" in differences(a, b)
    # and not a function word that the names guard would stumble on
    assert differences("how much is a US passport?", "how much is an American passport?") == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # two things trading places, one written with an article
        ("can Windows read a Mac-formatted drive?", "can a Mac read a Windows-formatted drive?"),
        # two places trading places, each named another way
        (
            "can a Canadian work in the US without a visa?",
            "can an American work in Canada without a visa?",
        ),
        # a people's name takes its country's: "Mexicans" is "Mexico", as "Americans" is "America"
        ("do Americans need a visa to go to Mexico?", "do Mexicans need a visa to go to America?"),
        # "Chinese" is China's, though Taiwan is named "China" too
        (
            "what would happen if India banned Chinese products?",
            "what would happen if China banned Indian products?",
        ),
        # a capital "A" before a word in lower case is a name, not an article
        (
            "can O positive donate blood to A positive?",
            "can A positive donate blood to O positive?",
        ),
        # two people exchanged across a clause
        (
            "what should a teacher do when a parent is rude?",
            "what should a parent do when a teacher is rude?",
        ),
        # owner and owned trade places
        (
            "what should I do if my wife's friend likes me?",
            "what should I do if my friend's wife likes me?",
        ),
        (
            "Is it weird to date my brother's best friend?",
            "Is it weird to date my best friend's brother?",
        ),
        # one owner's "'s" moved to another thing both queries name
        (
            "Why is my neighbor's cat always in my garden?",
            "Why is my cat always in my neighbor's garden?",
        ),
        (
            "My neighbor's tree fell on my fence, who pays to fix it?",
            "My tree fell on my neighbor's fence, who pays to fix it?",
        ),
        # a continent's people ("Australians") read as the continent
        (
            "why do Indians go to Australia for studies?",
            "why do Australians go to India for studies?",
        ),
        # the swapped subject changes its verb's agreement or its possessive
        (
            "how does the dollar rate affect gold prices?",
            "how do gold prices affect the dollar rate?",
        ),
        (
            "can a husband file a case against his wife?",
            "can a wife file a case against her husband?",
        ),
        ("how can a team motivate its manager?", "how can a manager motivate his team?"),
        # a symmetric verb ("match") inside another one ("price match")
        ("does Best Buy price match Amazon?", "does Amazon price match Best Buy?"),
        # the activities of a time relation traded
        (
            "how long after eating should I take my medication?",
            "how long after taking my medication should I eat?",
        ),
        ("should I stretch before or after running?", "should I run before or after stretching?"),
        ("should I eat before or after working out?", "should I work out before or after eating?"),
    ],
)
def test_things_and_activities_traded_are_refused(a: str, b: str) -> None:
    assert "order" in differences(a, b) and "order" in differences(b, a)


def test_a_title_in_capitals_keeps_its_articles() -> None:
    assert differences("How To Get A Job In Canada", "how to get a job in canada") == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "what is the difference between a virus and a bacteria?",
            "what is the difference between a bacteria and a virus?",
        ),
        ("who is older, Modi or Trump?", "who is older, Trump or Modi?"),
        ("what rug size goes under a queen bed", "what size rug goes under a queen bed"),
    ],
)
def test_equals_and_neighbours_may_trade_places(a: str, b: str) -> None:
    assert differences(a, b) == []


def test_roles_around_a_symmetric_verb_may_trade_places() -> None:
    assert differences("when did Federer play Nadal?", "when did Nadal play Federer?") == []


def test_a_place_named_another_way_is_no_swap() -> None:
    a = "do Americans need a visa for Canada?"
    assert differences(a, "does a US citizen need a visa for Canada?") == []


def test_the_same_activity_said_elsewhere_passes() -> None:
    a = "is it better to walk after eating or before eating?"
    assert differences(a, "should I walk before eating or after eating?") == []


def test_every_check_reads_a_pair_the_same_both_ways() -> None:
    # A hit allowed one way and refused the other would depend on which question came first.
    root = Path(__file__).resolve().parents[2] / "bench" / "data" / "semantic"
    for name in (
        "dev_people.jsonl",
        "dev_roles.jsonl",
        "dev_forum.jsonl",
        "dev_forum2.jsonl",
        "dev_forum3.jsonl",
    ):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            pair = json.loads(line)
            a, b = normalize_text(pair["a"]), normalize_text(pair["b"])
            assert bool(differences(a, b)) == bool(differences(b, a)), (a, b)


@pytest.mark.parametrize(
    ("a", "b", "replaced"),
    [
        (
            "what happens if you break a lease early?",
            "what happens if your landlord breaks a lease early?",
            True,
        ),
        ("can I cancel the lease early?", "can my landlord cancel the lease early?", True),
        ("do I have to pay taxes on a gift?", "does my son have to pay taxes on a gift?", True),
        ("what happens if I eat chocolate?", "what happens if my dog eats chocolate?", True),
        # a thing is no doer; the same pronoun, or the doer named in both, is no new doer
        ("why can't I connect to wifi?", "why can't my phone connect to wifi?", False),
        ("why do I feel tired after eating?", "why does my body feel tired after eating?", False),
        ("what happens if I miss a car payment?", "what happens if you miss a car payment?", False),
        ("can my landlord keep my deposit?", "can my landlord keep my deposit if I leave?", False),
    ],
)
def test_a_new_doer_in_place_of_a_pronoun(a: str, b: str, replaced: bool) -> None:
    assert doer_replaced(a, b) is replaced and doer_replaced(b, a) is replaced


def test_doers_are_people_animals_and_groups() -> None:
    doers = doer_nouns()
    assert {"landlord", "landlords", "son", "dog", "company", "employer"} <= doers
    assert not {"phone", "card", "body", "account", "app"} & doers


@pytest.mark.parametrize(
    ("a", "b", "someone"),
    [
        ("is it safe to eat raw eggs?", "is it safe for dogs to eat raw eggs?", "dog"),
        ("what's the best credit card?", "what's the best credit card for students?", "student"),
        ("what vaccines are required?", "what vaccines are required for puppies?", "puppie"),
        ("how do I apply for a passport?", "how do I apply for a passport for my child?", "child"),
        # no one added: a thing, a pronoun, or more than "for" and someone
        ("how do I make a resume?", "how do I make a resume for a job?", None),
        ("what are good gift ideas?", "what are good gift ideas for me?", None),
        ("is it safe to eat raw eggs?", "is it safe for dogs to eat raw eggs daily?", None),
    ],
)
def test_asked_for_someone(a: str, b: str, someone: str | None) -> None:
    assert asked_for(a, b) == someone and asked_for(b, a) == someone
    if someone is not None:
        assert f"for:{someone}" in differences(a, b)


def test_someone_added_after_to_or_with_is_asked_for() -> None:
    a = "is it legal for my employer to not pay overtime in Texas"
    b = "is it legal for my employer to not pay overtime to independent contractors in Texas"
    assert asked_for(a, b) == "contractor"
    assert asked_for("can I travel to Japan?", "can I travel to Japan with my kids?") == "kid"


def test_an_owner_named_twice_with_the_same_things_passes() -> None:
    # "drug" is owned in both ("the world's harshest drug laws" / "vietnam's drug laws"):
    # nothing owned moved to where nobody owns it.
    a = "vietnam has among the world's harshest drug laws."
    b = "vietnam's drug laws are among the world's strictest laws."
    assert "order" not in differences(a, b)
    assert differences("how do I walk my neighbor's dog?", "how to walk my neighbor's dog") == []
