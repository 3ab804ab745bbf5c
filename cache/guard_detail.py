"""The detail guard: one query adds a detail that narrows what it asks.

"can you take a bike" / "a folding bike on the London Underground", "drink tap water" / "boiled
tap water", "the difference" / "the price difference between a Dyson V11 and V15", "get into
rock climbing" / "outdoor rock climbing", "the toll on the Golden Gate Bridge" / "... going
northbound". Every word of the shorter query is in the longer one, so embeddings score them 0.92
to 0.97; but the added word picks one kind of the thing, and the answer is that kind's.

A paraphrase adds words too, but other ones (measured on the dev pair files): framing at the
start ("could you tell me", "for some reason"), hedges and plain words ("the actual difference",
"what kind of gas", "which one is cheaper"), verbs and particles ("do I need to get",
"stop apps from running"), and the word that completes a compound ("a common cold" / "a cold",
"my security deposit" / "my deposit", "fly fishing reel" / "fly reel"; WordNet's two-word nouns,
`cache.lexicons.compounds`). Those pass. Refused, on the queries' words with articles left out
when everything else is the same: one to three words added, not first, holding a content word,
which is

* a noun or adjective WordNet knows ("folding", "price", "outdoor"), or a word it does not know
  at all (a product, a brand in lower case), and
* not a name (capitalized inside the query: the names guard compares those), and
* not a verb: a verb form after a function word ("want to get") or an inflected one ("going",
  "bought") that does not stand before a noun as its modifier ("a folding bike" does).

Measured at the default threshold, counting pairs it alone refuses: on the six dev forum files
and the dev question file it catches 21 false hits and refuses 9 true paraphrases, on STS 1 and
7. It costs recall where a paraphrase adds a detail the asker thought obvious ("leftover pizza",
"budget keyboard", "vitamin D supplements"): a miss, not a wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from cache.guard_scope import FILLERS
from cache.guard_structure import replacement
from cache.guard_words import ARTICLES, BE_FORMS, FUNCTION, KEPT, RELATIONS, WORD, bare
from cache.guards_zh import word_list
from cache.lexicons import adverbs, compounds, related_words, verb_forms

_MOST_ADDED = 3
# Adjectives and nouns that add no detail: "the actual difference", "what kind of gas",
# "a new tattoo", "which one is cheaper".
_PLAIN = frozenset(
    word_list(
        "actual real new good best main proper typical normal regular usual current basic "
        "simple general whole entire own certain particular specific exact right correct "
        "kind type sort reason order way thing version area help question information info "
        "one please tell all different through across along"
    )
)
# Function words that open a phrase of detail: "with a knife", "at night". Any other opens a
# clause or a determiner ("i choose tails", "what the analysts say", "my e-mail"): left alone.
_OPENING_DETAIL = frozenset(word_list("of in on at by for with"))
# Function words a modifier may follow: "which free VPN", "my outdoor plants".
_DETERMINERS = frozenset(
    word_list("which what whose this that these those my your our their his her its some any")
)


def detail_added(query_a: str, query_b: str) -> str | None:
    """The words one query adds that narrow what it asks ("folding"); None when neither adds
    such words."""
    read_a, read_b = _words(query_a), _words(query_b)
    start, one, other = replacement(read_a[0], read_b[0])
    if bool(one) == bool(other) or start == 0:
        return None
    added, (longer, capitals, after_article) = (one, read_a) if one else (other, read_b)
    end = start + len(added)
    if len(added) > _MOST_ADDED or capitals.intersection(range(start, end)):
        return None
    if added[0] in FUNCTION and added[0] not in _OPENING_DETAIL:
        return None
    if not any(_content(longer, at, at in after_article) for at in range(start, end)):
        return None
    if len(added) == 1 and _compound(longer, start):
        return None
    return " ".join(added)


@lru_cache(maxsize=KEPT)
def _words(query: str) -> tuple[tuple[str, ...], frozenset[int], frozenset[int]]:
    # The query's words without articles, as `lower_words` reads them; where a word is
    # capitalized after the first (a name); and which words follow an article.
    raw: list[str] = []
    capitals: set[int] = set()
    after_article: set[int] = set()
    for word in WORD.findall(query):
        if word.lower() in ARTICLES:
            after_article.add(len(raw))
            continue
        if raw and word[:1].isupper():
            capitals.add(len(raw))
        lowered = word.lower()
        raw.append(lowered if lowered in FUNCTION else bare(lowered))
    return tuple(raw), frozenset(capitals), frozenset(after_article)


def _content(words: Sequence[str], at: int, after_article: bool) -> bool:
    word = words[at]
    if word in FUNCTION or word in RELATIONS or word in BE_FORMS or word in _PLAIN:
        return False
    if word in FILLERS:
        return False  # "still", "right now", "show up"
    before = words[at - 1] if at else ""
    if word[:1].isdigit() or before[:1].isdigit():
        return False  # numbers and units are the number and unit guards': "$20" / "20 dollars"
    after = words[at + 1] if at + 1 < len(words) else ""
    known = _noun_or_adjective(word)
    form = verb_forms().form(word)
    if form is None:
        return known or (related_words().senses(word) is None and word not in adverbs())
    inflected = word not in form.lemmas
    if before != "to" and (before in _OPENING_DETAIL or before in RELATIONS):
        # After a preposition a base form is a noun ("in full"), an inflected one a gerund
        # ("from running", "for granting asylum").
        return known and not inflected
    if (before in FUNCTION or before == "to") and not (after_article or before in _DETERMINERS):
        return False  # "to get", "I need"
    if not inflected:
        return known
    # "going northbound", "bought from": a verb; "a folding bike", "boiled tap water": a modifier.
    return known and after not in FUNCTION and _noun_or_adjective(after)


def _noun_or_adjective(word: str) -> bool:
    senses = related_words().senses(word) if word else None
    return senses is not None and bool(senses.senses)


def _compound(words: Sequence[str], at: int) -> bool:
    # "common cold", "security deposit", "fly fishing": the added word completes a noun.
    pairs = []
    if at:
        pairs.append((words[at - 1], words[at]))
    if at + 1 < len(words):
        pairs.append((words[at], words[at + 1]))
    return any(compounds().holds(first, second) for first, second in pairs)
