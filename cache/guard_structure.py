"""Guards on a query's structure: which way a relation points, and which names it mentions.

Embeddings are nearly blind to both. "Convert Celsius to Fahrenheit" and "convert Fahrenheit to
Celsius" share every word (cosine 0.995), and so do "from savings to checking" and its reverse;
"Lake Superior" and "Lake Ontario" differ by one name the vector barely weighs.

* **Order.** Around each relation word (to, from, in, than, per, vs...) the nearest content
  words on either side (up to `_ARGS` each) are its two arguments. The direction differs when
  the other query has a relation whose arguments hold the same two words the other way round
  ("Celsius to Fahrenheit" / "Fahrenheit to Celsius"). Both queries must state the relation:
  a reordering with no relation word reversed ("for data science, the best way to learn
  Python", active against passive) is left to the score. One more order counts: the same
  content words where two of them swap places around a third ("the dog chases the cat" /
  "the cat chases the dog").
* **Names.** A capitalised word that does not start a sentence, or an all-capitals word, is
  taken as a name. Every name of one query must occur (in any case) in the other. A query
  written in Title Case or in capitals throughout gives no names of its own (its capitals say
  nothing), but still has to contain the other's. Names in lower-case text are not detected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|->|→")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")
_POSSESSIVE = re.compile(r"['’]s$")
_KEPT = 4096  # queries whose words and names stay cached: a lookup compares one with several


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_RELATIONS = _word_set(
    "to into in onto from than per vs versus over towards toward before after -> →"
)
# Words skipped when looking for a relation's arguments.
_FUNCTION = _word_set(
    """a an the my your our their his her its this that these those some any of in on at by
    for with and or is are was were be been am do does did i you we they he she it me us them
    can could would should will shall may might must how what which who whom whose when where
    why there here please just"""
)
_REACH = 4  # how many words a relation looks at on each side
_ARGS = 2  # content words taken on each side as the relation's arguments

_Relation = tuple[frozenset[str], frozenset[str]]


def order_differs(query_a: str, query_b: str) -> bool:
    """Whether a relation of one query (X to Y, from X, X than Y) is reversed in the other, or
    the two roles around one word are swapped (the dog chases the cat / the cat chases the
    dog)."""
    words_a, words_b = _lower_words(query_a), _lower_words(query_b)
    relations_b = _relations(words_b)
    for left_a, right_a in _relations(words_a):
        for left_b, right_b in relations_b:
            if left_a & right_b and right_a & left_b:
                return True
    return _roles_swapped(_content(words_a), _content(words_b))


def _content(words: Sequence[str]) -> list[str]:
    return [w for w in words if w not in _FUNCTION and w not in _RELATIONS]


def _roles_swapped(content_a: list[str], content_b: list[str]) -> bool:
    # X M Y in one query and Y M X in the other, as consecutive content words: the same three
    # words with the two ends exchanged around the same middle one.
    if sorted(content_a) != sorted(content_b):
        return False
    triples_b = set(zip(content_b, content_b[1:], content_b[2:], strict=False))
    return any(
        x != y and (y, m, x) in triples_b
        for x, m, y in zip(content_a, content_a[1:], content_a[2:], strict=False)
    )


def names_differ(query_a: str, query_b: str) -> bool:
    """Whether a name in one query is missing from the other (see the module docstring)."""
    words_a, words_b = frozenset(_lower_words(query_a)), frozenset(_lower_words(query_b))
    return not (_names(query_a) <= words_b and _names(query_b) <= words_a)


@lru_cache(maxsize=_KEPT)
def _lower_words(text: str) -> tuple[str, ...]:
    return tuple(_bare(w.lower()) for w in _WORD.findall(text))


def _bare(word: str) -> str:
    # "France's" and "France" name the same thing; "grams" and "gram" the same unit.
    word = _POSSESSIVE.sub("", word)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _relations(words: Sequence[str]) -> list[_Relation]:
    found = []
    for i, word in enumerate(words):
        if word not in _RELATIONS:
            continue
        left = _arguments(words, range(i - 1, max(i - 1 - _REACH, -1), -1))
        right = _arguments(words, range(i + 1, min(i + 1 + _REACH, len(words))))
        if left and right:
            found.append((left - right, right - left))
    return found


def _arguments(words: Sequence[str], positions: range) -> frozenset[str]:
    picked: list[str] = []
    for j in positions:
        if words[j] in _RELATIONS or len(picked) == _ARGS:
            break
        if words[j] not in _FUNCTION:
            picked.append(words[j])
    return frozenset(picked)


@lru_cache(maxsize=_KEPT)
def _names(text: str) -> frozenset[str]:
    tokens = [
        (m.group(), i == 0 or bool(_SENTENCE_END.search(text[: m.start()])))
        for i, m in enumerate(_WORD.finditer(text))
    ]
    inner = [t for t, first in tokens if not first and t[0].isalpha()]
    if len(inner) >= 3 and sum(t[0].isupper() for t in inner) * 5 > 3 * len(inner):
        return frozenset()  # Title Case or shouting: capitals carry no information here
    names = set()
    for token, starts_sentence in tokens:
        if not token[0].isupper() or re.split(r"['’]", token)[0] == "I":
            continue  # "I", "I'm", "I've"
        shouted = len(token) > 1 and token.isupper()
        if not starts_sentence or shouted:
            names.add(_bare(token.lower()))
    return frozenset(names)
