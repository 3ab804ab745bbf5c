"""The scope guard: one query asks about less or more than the other.

Embeddings score a question and the same question with a condition, an exception or a second
item added at 0.88 to 0.98, since every word of the shorter one is in the longer one. But the
answer changes: "what tire pressure should I run on my truck" / "... when towing", "how often
should you exfoliate your face" / "... if you have rosacea", "center a div horizontally" /
"horizontally and vertically", "sleep in his own bed" / "sleep anywhere except his own bed".

Read on the queries' words with articles left out, when everything else is the same:

* **a condition added**: the added words start with a word that sets when or whether the rest
  holds (when, while, during, if, unless, after, before, until, without) and say something of
  their own (a content word): "when towing", "during probation", "without a password";
* **an exception**: the added or replaced words hold "except", "excluding", "unless",
  "without" or "instead", and the other query's words there do not ("take melatonin instead
  of my sleeping pill" / "along with my sleeping pill"; "rather than" or "or" there pass);
* **a manner**: one adverb added that narrows how ("how do I get rid of dandruff naturally",
  "delete my account permanently", "make money on YouTube fast"): a WordNet adverb ending in
  "-ly" or closing the question, and not one that only hedges or stresses ("still",
  "actually", "really", "properly");
* **another rate**: "per night" / "per week", "per day" / "per meal" (unless the two words
  share a WordNet sense);
* **everything for one thing**: "my dog keeps licking his paws" / "keeps licking everything"
  (one of everything, anything, everyone, anyone for up to three words naming something);
* **a second item**: two words added, "and" or "or" next to one content word: "horizontally and
  vertically", "singing and playing". A clause added with "and" ("I am stranded and need an
  uber" / "I need an uber") is context, not a second item, and is left to the score.

A paraphrase moves a condition rather than adding it ("if I'm owed a refund, what happens" keeps
both the "if" and its words), so only an addition on one side counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from cache.guard_modifiers import share_a_sense
from cache.guard_structure import replacement
from cache.guard_words import ARTICLES, FUNCTION, KEPT, lower_words
from cache.guards_zh import word_list
from cache.lexicons import adverbs

_CONDITIONS = frozenset(
    word_list("when whenever while whilst during if unless after before until without")
)
_EXCEPTIONS = frozenset(word_list("except excluding unless without instead"))
# Another way to say "instead of": "rather than", "in place of", "replace with", "X or Y".
_INSTEAD = frozenset(word_list("or rather place replace replacing substitute substituting swap"))
_JOINS = frozenset(word_list("and or"))
# "without gluten" / "gluten-free", "with no sugar": the same lack said another way.
_LACKING = frozenset(word_list("free no not non never"))
_MOST_ADDED = 5
_EVERYTHING = frozenset(word_list("everything anything everyone anyone everybody anybody"))
_ANY_THING = frozenset(word_list("thing one body"))  # "how are things" / "how is everything"
_MOST_NAMED = 3
# Adverbs that hedge, stress or date the question rather than narrow it: "can I still get a
# refund", "how do I actually cancel", "how to cook rice properly".
FILLERS = frozenset(
    word_list(
        "just really actually still even also ever now already currently basically exactly "
        "please usually generally typically normally simply possibly probably maybe perhaps "
        "anyway too very so quite pretty rather certainly definitely honestly literally "
        "seriously kindly yet only again here there today right immediately much more most well "
        "back away up down out off over around approximately about almost nearly roughly "
        "properly correctly recently"
    )
)


def scope_changed(query_a: str, query_b: str) -> str | None:
    """The words that add a condition, an exception, a manner, a rate, a second item or
    "everything" to one query ("when towing"); None when the queries do not differ so."""
    words_a, words_b = _scope_words(query_a), _scope_words(query_b)
    if rate := _rate_changed(words_a, words_b):
        return rate
    _, one, other = replacement(words_a, words_b)
    if len(one) > _MOST_ADDED or len(other) > _MOST_ADDED:
        return None  # a rewrite, not a scope: left to the score
    if one and other:
        return (
            _exception(one, other)
            or _exception(other, one)
            or _everything(one, other)
            or _everything(other, one)
        )
    added = one or other
    if not added or not any(w not in FUNCTION and w not in _CONDITIONS for w in added):
        return None
    if added[0] in _CONDITIONS or _EXCEPTIONS.intersection(added):
        return " ".join(added)
    if len(added) == 2 and (added[0] in _JOINS) != (added[-1] in _JOINS):
        return " ".join(added)
    if len(added) == 1 and _manner(added[0], (words_a if one else words_b)[-1]):
        return added[0]
    return None


@lru_cache(maxsize=KEPT)
def _scope_words(query: str) -> tuple[str, ...]:
    # A lookup compares one query with several candidates: its words are read once.
    return tuple(w for w in lower_words(query) if w not in ARTICLES)


def _manner(word: str, last: str) -> bool:
    # "naturally", "permanently"; "fast", "overnight" only closing the question ("my last
    # name" / "my name", "cutting through an onion" are no manner).
    return (
        word in adverbs()
        and word not in FILLERS
        and word not in FUNCTION
        and (word.endswith("ly") or word == last)
    )


def _rate_changed(words_a: Sequence[str], words_b: Sequence[str]) -> str | None:
    # "tip housekeeping per night" / "per week", "protein per day" / "per meal"
    per_a, per_b = _per(words_a), _per(words_b)
    only_a, only_b = per_a - per_b, per_b - per_a
    if not per_a or not per_b or not only_a or not only_b:
        return None
    if any(share_a_sense(one, other) for one in only_a for other in only_b):
        return None
    return "per " + "/".join(sorted(only_a | only_b))


def _per(words: Sequence[str]) -> set[str]:
    return {words[at + 1] for at, word in enumerate(words[:-1]) if word == "per"}


def _everything(replaced: Sequence[str], other: Sequence[str]) -> str | None:
    # "keeps licking his paws" / "keeps licking everything"
    if len(replaced) != 1 or replaced[0] not in _EVERYTHING or len(other) > _MOST_NAMED:
        return None
    named = any(w not in FUNCTION and w not in _ANY_THING for w in other)
    return replaced[0] if named else None


def _exception(replaced: Sequence[str], other: Sequence[str]) -> str | None:
    # "sleep in his own bed" / "sleep anywhere except his own bed"
    if _EXCEPTIONS.intersection(replaced) and not any(
        w in _EXCEPTIONS or w in _LACKING or w in _INSTEAD or w.endswith("less") for w in other
    ):
        return " ".join(replaced)
    return None
