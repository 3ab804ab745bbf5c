"""False-hit guards: meaning-changing differences that embeddings barely see.

Sentence embeddings put "Can I cancel my order?" and "Can I not cancel my order?" at cosine
0.98, so before a semantic hit is served we compare what the two queries literally say: negations,
antonyms, numbers, ids, dates, emails, URLs, phone numbers and money amounts. Any difference
rejects the hit; a missed hit only costs one model call, a false one serves a wrong answer.

English is split into words (contractions such as "don't" count as a negation); Chinese is
scanned longest-first against a small lexicon (`cache.guards_zh`), after removing common words
whose characters merely look like negations or numerals (非常, 未来, 一下...). What each query
says is read by `cache.guard_features`; WordNet's antonyms and pint's units come from generated
tables (`cache.lexicons`). Word order around relation words is compared by
`cache.guard_structure`, proper names by `cache.guard_names`, antonym pairs by
`cache.guard_antonyms`. "One" (and "once", "single", "first") is a weak number: "which one is
cheaper" asks what "which is cheaper" asks, so it only counts when the numbers differ without it
too ("one ticket" vs "two tickets").

A lookup only needs to know whether anything differs, so it asks for the ``first`` kind found:
the cheap per-query readings are compared before the checks that walk both queries' words, and
a refused candidate (most of them) stops there.
"""

from __future__ import annotations

from collections.abc import Callable

from cache.guard_antonyms import polarity, prefix_antonyms
from cache.guard_detail import detail_added
from cache.guard_features import feature_kinds
from cache.guard_modifiers import modifier_replaced, word_replaced
from cache.guard_names import names_differ
from cache.guard_people import (
    asked_for,
    doer_replaced,
    exchanged,
    persons_traded,
    verb_roles_traded,
)
from cache.guard_polarity import negation_moved
from cache.guard_roles import (
    asked_doer_swapped,
    asked_role_changed,
    inverse_comparison,
    swapped_comparison,
    time_changed,
    voice_roles_swapped,
)
from cache.guard_scope import scope_changed
from cache.guard_structure import order_differs
from cache.guard_words import lower_words
from cache.lexicons import (
    adverbs,
    antonym_sides,
    compounds,
    doer_nouns,
    place_names,
    place_openings,
    related_words,
    unit_words,
    verb_forms,
)

Check = Callable[[str, str], str | None]


def differences(query_a: str, query_b: str, *, first: bool = False) -> list[str]:
    """Return the kinds of meaning-changing differences between two queries.

    Kinds: ``negation``, ``antonym:<a>/<b>``, ``number``, ``unit``, ``id``, ``date``, ``email``,
    ``url``, ``phone``, ``money``, ``order``, ``name``, ``asked:<a>/<b>`` (the question word),
    ``tense`` (another time asked about), ``for:<someone>`` (asked for someone), ``scope:<words>``
    (a condition, exception, manner, rate, second item or "everything" added),
    ``detail:<words>`` (a narrowing detail added: "a folding bike"), ``modifier:<a>/<b>`` and
    ``replaced:<a>/<b>`` (asked only when nothing else differs). An empty list means nothing the
    guards know about differs. With ``first``, at most the first kind found: whether the list is
    empty is the same either way.
    """
    found = feature_kinds(query_a, query_b) + prefix_antonyms(query_a, query_b)
    if "negation" not in found and negation_moved(lower_words(query_a), lower_words(query_b)):
        found.append("negation")
    # Only a comparison turned around ("is gold heavier than lead" / "is lead lighter than
    # gold") clears what was found so far, and it needs both queries to hold one "than".
    if first and found and swapped_comparison(query_a, query_b) is None:
        return found[:1]
    if _order_changed(query_a, query_b):
        if _inverse_comparison(query_a, query_b):
            return []
        found.append("order")
    for check in _CHECKS:
        if first and found:
            return found[:1]
        if kind := check(query_a, query_b):
            found.append(kind)
    if not found and (kind := _wording(query_a, query_b)):
        found.append(kind)
    return found


def _order_changed(query_a: str, query_b: str) -> bool:
    return (
        order_differs(query_a, query_b)
        or voice_roles_swapped(query_a, query_b)
        or persons_traded(query_a, query_b)
        or verb_roles_traded(query_a, query_b)
        or doer_replaced(query_a, query_b)
        or asked_doer_swapped(query_a, query_b)
        or exchanged(query_a, query_b)
    )


def _inverse_comparison(query_a: str, query_b: str) -> bool:
    # Nothing but the compared things and the comparative differs (`swapped_comparison`).
    turned = swapped_comparison(query_a, query_b)
    if turned is None:
        return False
    opposite = any(map(polarity, differences(turned.word_a, turned.word_b)))
    return inverse_comparison(turned, opposite)


def _name(query_a: str, query_b: str) -> str | None:
    return "name" if names_differ(query_a, query_b) else None


def _asked(query_a: str, query_b: str) -> str | None:
    asked = asked_role_changed(query_a, query_b)
    return f"asked:{asked}" if asked else None


def _tense(query_a: str, query_b: str) -> str | None:
    return "tense" if time_changed(query_a, query_b) else None


def _asked_for(query_a: str, query_b: str) -> str | None:
    someone = asked_for(query_a, query_b)
    return f"for:{someone}" if someone else None


def _scope_or_detail(query_a: str, query_b: str) -> str | None:
    if scope := scope_changed(query_a, query_b):
        return f"scope:{scope}"
    detail = detail_added(query_a, query_b)
    return f"detail:{detail}" if detail else None


def _wording(query_a: str, query_b: str) -> str | None:
    # Asked only when nothing else differs: one modifier or one word replaced.
    if replaced := modifier_replaced(query_a, query_b):
        return f"modifier:{replaced}"
    replaced = word_replaced(query_a, query_b)
    return f"replaced:{replaced}" if replaced else None


_CHECKS: tuple[Check, ...] = (_name, _asked, _tense, _asked_for, _scope_or_detail)


def load_lexicons() -> None:
    """Read the generated lexicons (antonyms, units, related words, places, verbs, doers,
    adverbs, compounds) now: the first lookup that compares two questions then does not pay the
    ~80 ms of reading them."""
    adverbs()
    compounds()
    doer_nouns()
    antonym_sides()
    unit_words()
    related_words()
    place_names()
    place_openings()
    verb_forms()


def hit_allowed(query_a: str, query_b: str) -> bool:
    """Whether a semantic hit between the two queries may be served (no differences found)."""
    return not differences(query_a, query_b, first=True)
