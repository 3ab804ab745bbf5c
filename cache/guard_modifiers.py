"""Guard on a replaced modifier: "a checking account" / "a savings account".

Two queries that say the same words but for one word before a shared noun ask about another
kind of that noun: economy / business class, a local / remote branch, time / space complexity,
the free / premium plan. Embeddings score them 0.92 to 0.96, and nothing else the guards
know differs. A paraphrase replaces a modifier too, but with a word of the same meaning
(young / little girl, whole / entire list, good / positive reviews, bigger / larger house), so
the replacement is refused unless WordNet relates the two words (`cache.lexicons.related_words`):
they share a sense or an adjective cluster, or one's sense is a hypernym, derivation or
see-also of the other's.

Only a noun or adjective modifier counts: a word WordNet knows only as a verb ("widen" /
"boost sanctions") or a word after a pronoun, modal or "to" ("can I put / leave pizza in the
fridge") is a verb and is left to the score. A word WordNet does not know at all (a product,
a typo) is a modifier of its own: "android apps" / "iphone apps". Numbers are the number
guard's, units the unit guard's, antonyms the antonym guard's.
"""

from __future__ import annotations

from cache.guard_structure import FUNCTION, RELATIONS, WORD, lower_words, one_change
from cache.lexicons import WordSenses, related_words, unit_words

_ARTICLES = frozenset({"a", "an"})
# Words after which the replaced word is a verb: "I need", "can I put", "to leave".
_BEFORE_VERB = frozenset(
    [
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
        "it",
        "to",
        "not",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "don't",
        "doesn't",
        "didn't",
        "can't",
        "won't",
        "cannot",
        "please",
        "let",
    ]
)


def modifier_replaced(query_a: str, query_b: str) -> str | None:
    """``"a/b"`` when the queries differ only in one modifier of a shared noun and WordNet does
    not relate the two modifiers; None otherwise."""
    words_a, words_b = lower_words(query_a), lower_words(query_b)
    # "an international flight" / "a domestic flight": the article follows the modifier.
    at = one_change(words_a, words_b, alike=_ARTICLES)
    if at is None or at + 1 == len(words_a):
        return None
    if _named(query_a, at) or _named(query_b, at):
        return None  # a name: the names guard's ("TypeScript" / "TS" passed it)
    one, other, head = words_a[at], words_b[at], words_a[at + 1]
    if head in FUNCTION or head in RELATIONS or (at and words_a[at - 1] in _BEFORE_VERB):
        return None
    if not (one.isalpha() and other.isalpha()) or one in FUNCTION or other in FUNCTION:
        return None
    if one.startswith(other) or other.startswith(one) or head in (one, other):
        return None  # "setting up" / "set up"; "ah ha, ha" / "ha ha, ha"
    units = unit_words()
    if any(word in units.names or word in units.symbols for word in (one, other)):
        return None  # the unit guard's: "a 2 TB drive" / "a 2 terabyte drive"
    senses_one, senses_other = _senses(one), _senses(other)
    if _verb_only(senses_one) or _verb_only(senses_other):
        return None
    if senses_one is not None and senses_other is not None and _related(senses_one, senses_other):
        return None
    return f"{one}/{other}"


def _named(query: str, at: int) -> bool:
    # The word at ``at`` as written (`lower_words` splits the same way): "TS", "iPhone", or
    # capitalised after the first word.
    token = WORD.findall(query)[at]
    return any(c.isupper() for c in token[1:]) or (at > 0 and token[0].isupper())


def _senses(word: str) -> WordSenses | None:
    # `lower_words` strips a plural "s": "savings" is read as "saving", "classes" as "classe".
    table = related_words()
    for form in (word, word + "s", word[:-1] if word.endswith("e") else "", _y(word)):
        if form and (found := table.senses(form)) is not None:
            return found
    return None


def _y(word: str) -> str:
    return word[:-2] + "y" if word.endswith("ie") else ""


def _verb_only(senses: WordSenses | None) -> bool:
    return senses is not None and not senses.senses


def _related(one: WordSenses, other: WordSenses) -> bool:
    return bool(
        one.senses & other.senses or one.senses & other.neighbours or other.senses & one.neighbours
    )


def share_a_sense(one: str, other: str) -> bool:
    """Whether two nouns or adjectives are one word or share a WordNet sense: smarter /
    intelligent, fast / faster (not bigger / older, which are only one link apart)."""
    if one == other:
        return True
    senses_one, senses_other = _senses(one), _senses(other)
    return bool(senses_one and senses_other and senses_one.senses & senses_other.senses)
