"""A second reading of a query's polarity, for paraphrases that move a negation into a word.

The guards count negations and antonyms as written: "is it not possible" holds a negation and
"possible", "is it impossible" holds neither, so the two differ although they ask the same.
This module reads each query a second way, and the guards report a negation or antonym only
when both readings differ (`cache.guards.differences`):

* a negation right before an adjective of a prefix pair (possible / impossible, legal /
  illegal, able / unable, sure / unsure), or before "be" and one, is that adjective's other
  member, and is not counted: "not possible" = "impossible", "isn't illegal" = "legal",
  "can't be sure" = "unsure";
* "X-free" and "Xless" are "without X": "gluten-free" = "without gluten", "seedless" = "no
  seeds";
* "refuse to", "fail to", "skip", "avoid" and "neglect" say "not" of what follows: "refuse to
  pay overtime" = "not pay overtime", "skip tipping" = "not tip", "avoid eating" = "not eat"
  (before "to" they are a negation as written too, so "fail to show up" / "show up" differ);
* a negated word whose WordNet opposite is itself a negation is that opposite: "don't have" =
  "lack";
* "turn off" and "switch off" are "disable", "turn on" and "switch on" "enable" (the guards'
  own pairs, read by `cache.guard_features`).

A negation can also move without changing the count: "is it rude to not attend a wedding but
still send a gift" / "to attend a wedding but not send a gift" (`negation_moved`). Each "not",
"no", "never" or "without" is read with the word it negates, the next one past *be*, "to" and
a few adverbs; the two queries differ when they negate different words that both say.

Why a second reading instead of one better one: words such as "incorrect", "unable" or
"contactless" hold a negation that a paraphrase may not ("wrong", "can't", "tap to pay"); the
first reading keeps passing those, the second adds what it can prove alike.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from types import MappingProxyType

from cache.guards_zh import word_list
from cache.lexicons import antonym_sides, related_words, wordnet_keys

NEGATIONS = frozenset(
    word_list(
        "not no never without cannot none nobody nothing nowhere nor lack lacks lacked lacking "
        "hardly barely scarcely seldom rarely "
        # contractions typed without the apostrophe
        "dont doesnt didnt cant wont isnt arent wasnt werent havent hasnt hadnt couldnt "
        "wouldnt shouldnt"
    )
)
CONTRACTION_BASES = MappingProxyType({"ca": "can", "wo": "will", "sha": "shall"})
DIMINISHERS = frozenset(word_list("less least"))  # "least expensive" is the cheap side

# Feature keys of the second reading, next to the first reading's "negation" and "ant".
NEGATION, ANTONYM = "negation:second", "ant:second"
SECOND_READING = (NEGATION, ANTONYM)

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Not "unless", "regardless", "nevertheless", "nonetheless", "doubtless".
_WITHOUT = re.compile(r"\b(?!(?:regard|neverthe|nonethe|doubt)less\b)([a-z]{3,})(?:-free|less)\b")
_NEGATIVE_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
_BE = frozenset(word_list("be been being"))
_NEGATORS = frozenset(word_list("not no never without"))
# Passed over to reach the negated word: "not to be sent", "never even asked", "no more".
_BEFORE_NEGATED = frozenset(
    word_list("be been being to even really always ever yet a an the any just only still")
)
_NEGATED_REACH = 3  # words looked at after a negation
# Verbs that say "not" of the verb after them: "refuse to pay" = "not pay", "skip tipping" =
# "not tip". Read the second way; as written only before "to" ("skip a dose" / "miss a dose").
REFUSALS = frozenset(
    word_list(
        "refuse refuses refused refusing fail fails failed failing skip skips skipped skipping "
        "neglect neglects neglected neglecting avoid avoids avoided avoiding"
    )
)


def second_reading(
    text: str, other_negations: int, own: list[str], feats: dict[str, Counter[str]]
) -> set[str]:
    """Add the second reading of ``text`` (lower case, entities removed) to ``feats``:
    negations (``other_negations`` already counted outside English, e.g. Chinese ones) and
    antonym sides, with ``own``, the guards' own pair sides as `cache.guard_features` reads them the
    second way ("turn off" is "disable"). Returns the names of the WordNet pairs read."""
    negations, sides, names = _read(text)
    if negations + other_negations:
        feats[NEGATION] = Counter({"neg": negations + other_negations})
    if own or sides:
        feats[ANTONYM] = Counter(own) + sides
    return set(names)


@lru_cache(maxsize=4096)
def _read(text: str) -> tuple[int, Counter[str], frozenset[str]]:
    wordnet_sides = antonym_sides()
    negations, sides, names = 0, Counter[str](), set[str]()
    negated, diminished, previous = False, False, ""
    for word in _WORD.findall(_WITHOUT.sub(r"without \1", text)):
        word_sides = wordnet_sides.get(word, ())
        flipped = negated and _prefix_adjective(word, word_sides)
        turned = negated and not flipped and _opposite_is_negation(word_sides)
        if negated and not flipped and word not in _BE:
            negations += 1
        negated = negated and word in _BE and not flipped
        if word.endswith("n't"):
            negations += negated  # "can't not": the first one counts now
            negated, word = True, CONTRACTION_BASES.get(word[:-3], word[:-3])
        if word in NEGATIONS or word in REFUSALS:
            negations += negated
            negated = True
        if word_sides and not flipped and not turned:
            keys, pair_names = wordnet_keys(word, diminished)
            sides.update(keys)
            names.update(pair_names)
        for pair, side in word_sides if turned else ():
            sides[f"wn:{pair}:{1 - side}"] += 1  # "don't have" is "lack", a negation itself
            names.add(f"wn:{pair}")
        for pair, side in word_sides if flipped else ():
            opposite = diminished != (_negated_member(pair) is not None)
            sides[f"wn:{pair}:{1 - side if opposite else side}"] += 1
            names.add(f"wn:{pair}")
        diminished = word in DIMINISHERS and previous != "at"
        previous = word
    return negations + negated, sides, frozenset(names)


def _prefix_adjective(word: str, sides: tuple[tuple[str, int], ...]) -> bool:
    # "do" / "undo" are verbs: "didn't do" is no "undo".
    return any(_negated_member(pair) is not None for pair, _ in sides) and _adjective(word)


def _opposite_is_negation(sides: tuple[tuple[str, int], ...]) -> bool:
    # "have" / "lack": the other member of the word's pair is a negation word.
    return any(pair.split("/")[1 - side] in NEGATIONS for pair, side in sides)


@lru_cache(maxsize=1024)
def _negated_member(pair: str) -> int | None:
    """Which member of a WordNet pair is the other with a negative prefix, if one is."""
    a, b = pair.split("/")
    for prefix in _NEGATIVE_PREFIXES:
        if b == prefix + a:
            return 1
        if a == prefix + b:
            return 0
    return None


@lru_cache(maxsize=4096)
def _adjective(word: str) -> bool:
    found = related_words().senses(word)
    return found is not None and any(sense.startswith("a") for sense in found.senses)


def negation_moved(words_a: tuple[str, ...], words_b: tuple[str, ...]) -> bool:
    """Whether the queries (`cache.guard_structure.lower_words`) hold as many negations but
    negate different words that both of them say: "not attend ... send" / "attend ... not
    send". Contractions count but are not read: "why didn't my card work" puts the subject
    between the negation and its verb."""
    negated_a, negated_b = _negated(words_a), _negated(words_b)
    if not negated_a or not negated_b or negated_a == negated_b:
        return False
    if _negations(words_a) != _negations(words_b):
        return False  # the count differs: the negation guard's
    moved = (negated_a - negated_b) + (negated_b - negated_a)
    return all(word in words_a and word in words_b for word in moved)


def _negated(words: tuple[str, ...]) -> Counter[str]:
    found = Counter[str]()
    for at, word in enumerate(words):
        if word not in _NEGATORS:
            continue
        for following in words[at + 1 : at + 1 + _NEGATED_REACH]:
            if following not in _BEFORE_NEGATED:
                found[following] += 1
                break
    return found


def _negations(words: tuple[str, ...]) -> int:
    return sum(word in NEGATIONS or word.endswith("n't") for word in words)
