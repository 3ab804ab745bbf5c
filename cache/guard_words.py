"""The words the structure guards read: a query's words, relation and function words, places.

`lower_words` and `order_words` split a query (cached: a lookup compares one query with several
candidates); `FUNCTION`, `RELATIONS`, `BE_FORMS` and `ARTICLES` sort its words; `SYMMETRIC` and
`holds_both_ways` name the relations that hold both ways ("married to", "similar to").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from cache.lexicons import place_names

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|->|→")
_POSSESSIVE = re.compile(r"['’]s$")
KEPT = 4096  # queries whose words and names stay cached: a lookup compares one with several


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


RELATIONS = word_set(
    "to into in onto from than per vs versus over towards toward before after with for instead -> →"
)
# Spellings of one relation: "Celsius to Fahrenheit" = "Celsius into Fahrenheit".
RELATION_ALIASES = {"into": "to", "onto": "to", "towards": "to", "toward": "to", "→": "->"}
RELATION_ALIASES |= {"versus": "vs"}
# Words skipped when looking for a relation's arguments.
FUNCTION = word_set(
    """a an the my your our their his her its this that these those some any of in on at by
    for with and or is are was were be been am do does did i you we they he she it me us them
    can could would should will shall may might must how what which who whom whose when where
    why there here please just"""
)
# Forms of *be*, and of *get* as in "got fired": a participle after them is a verb.
BE_FORMS = word_set("is are am was were be been being get gets got gotten getting")
ARTICLES = word_set("a an the")
# Verbs whose two roles may trade places without changing the question, when they stand alone
# between them ("did Federer play Nadal"; "does Best Buy price match Amazon" is no such verb).
SYMMETRIC = word_set(
    "marry married marrying meet met meeting compare compared comparing equal equals match "
    "matches play played playing face faced facing fight fought fighting"
)
# Words naming a relation that holds both ways, before its "to", "from" or "with".
SYMMETRIC_RELATIONS = SYMMETRIC | word_set(
    "similar far close near related compatible identical equivalent border borders distance"
)

_SHARING = frozenset(("share", "shares", "shared", "sharing"))  # "share a border with"


def only_relating(words: Sequence[str]) -> bool:
    """Whether ``words`` (what stands between two things) say nothing but how they relate:
    "[similar to]", "[is married to]", "[shares a border with]"; "[controller compatible with]"
    names a third thing, so "the PS5 controller" and "the PS4" are no symmetric pair."""
    return all(
        w in FUNCTION or w in RELATIONS or w in SYMMETRIC_RELATIONS or w in _SHARING for w in words
    )


def holds_both_ways(words: Sequence[str], at: int) -> bool:
    """Whether the relation word at ``at`` holds both ways, as its nearest words say: "similar
    to", "married to", "how far is London from Paris", "share a border with"."""
    return words[at] in RELATIONS and any(
        w in SYMMETRIC_RELATIONS for w in words[max(0, at - 3) : at]
    )


@lru_cache(maxsize=KEPT)
def lower_words(text: str) -> tuple[str, ...]:
    return tuple(bare(w.lower()) for w in WORD.findall(text))


@lru_cache(maxsize=KEPT)
def order_words(text: str) -> tuple[str, ...]:
    # As `lower_words`, but "US" and "IT" in capitals, and "the us", stay content words (a
    # country, a trade), not the function words "us" and "it" ("can a US citizen sponsor a
    # foreign spouse"), and a place is one word however it is named: "a Canadian in the US" /
    # "an American in Canada".
    # A capital "A" inside a query and before a word in lower case is a name too (blood type
    # "A positive", "plan A"), not the article of a title in capitals ("Get A Job").
    words = []
    tokens = WORD.findall(text)
    for at, word in enumerate(tokens):
        if word.isupper() and len(word) > 1 and word.lower() in FUNCTION:
            place = _place(word.lower())
            words.append(word if place == word.lower() else place)
        elif word.lower() == "us" and at and tokens[at - 1].lower() == "the":
            words.append(_place("usa"))  # "sell Louisiana to the us": a country, typed lower
        elif word == "A" and at and (at + 1 == len(tokens) or tokens[at + 1].islower()):
            words.append(word)
        elif word.lower() in FUNCTION:
            words.append(word.lower())  # "does", "this": not "doe", "thi"
        else:
            lowered = bare(word.lower())
            words.append(lowered if lowered in FUNCTION else _place(lowered))
    return tuple(words)


@lru_cache(maxsize=KEPT)
def _place(word: str) -> str:
    # One name for a place and its one-word names and adjectives (US, USA, America, American).
    # An adjective names its place ("mexican" -> "mexico"), so it takes that place's name.
    named = _one_word_names(word)
    if not named:
        return word
    return min(min([name, *_one_word_names(name)]) for name in named)


def _one_word_names(word: str) -> list[str]:
    return [name[0] for name in place_names().get(word, ()) if len(name) == 1]


def bare(word: str) -> str:
    # "France's" and "France" name the same thing; "grams" and "gram" the same unit.
    word = _POSSESSIVE.sub("", word)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
