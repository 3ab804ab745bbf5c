"""Guards on a replaced word: "a checking account" / "a savings account", "dry before sanding" /
"dry before painting".

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

A replaced word elsewhere (`word_replaced`) asks about another thing or another aspect of one
thing: how long mud dries before sanding / before painting, whether creatine is safe / effective,
a lens on a crop sensor / full frame camera. The replacement is one or two content words
against one or two, everything around them the same, and it passes when WordNet relates any
word of one side to any of the other, one link apart or two through a shared broader sense
(town / city, night / week, boy / kid): a paraphrase that swaps a single noun or adjective
almost always picks a word of that family. Verbs are left to the score, since a paraphrase often
swaps a verb for one WordNet does not relate ("make" / "book" an appointment, "set up" / "open"
an account): a word known only as a verb or adverb, a verb form after a subject, modal, "to" or
*be*, after the one-word subject of an auxiliary ("do cyclists have / need to yield"), first in
the query, or before its object, and the semi-modals ("gotta" / "wanna" know); an adjective
after "is it" is a complement, not a verb ("is it better / cheaper to"). So are typos and
spellings (recieve / receive), abbreviations that are no word of their own (avg / average,
govt / government), acronyms (IRA / individual retirement account) and names, which the names
guard compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from cache.guard_polarity import NEGATIONS
from cache.guard_structure import one_change, replacement
from cache.guard_words import BE_FORMS, FUNCTION, RELATIONS, WORD, bare, lower_words
from cache.guards_zh import word_list
from cache.lexicons import WordSenses, related_words, unit_words, verb_forms

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
        "who",
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
    if _abbreviated(one, other):
        return None  # "the avg / average salary"
    units = unit_words()
    if any(word in units.names or word in units.symbols for word in (one, other)):
        return None  # the unit guard's: "a 2 TB drive" / "a 2 terabyte drive"
    senses_one, senses_other = _senses(one), _senses(other)
    if _verb_only(senses_one) or _verb_only(senses_other):
        return None
    if senses_one is not None and senses_other is not None and _related(senses_one, senses_other):
        return None
    return f"{one}/{other}"


_MOST_REPLACED = 2  # words on each side of a replacement
_SPELLING_ALIKE = 0.75  # difflib ratio from which two words are one spelt two ways
# Before its object a word is a verb: "make an appointment", "reserve me a flight".
_OBJECT_STARTS = frozenset(
    word_list(
        "a an the my your our their his her its this that these those some any me you us them "
        "him it more all every each"
    )
)
_PRONOUNS = frozenset(word_list("it i you we they he she this that"))
# An auxiliary two words back makes a verb of the word after its one-word subject (as
# `lower_words` reads it: "does" is "doe").
_AUXILIARIES = frozenset(
    map(bare, word_list("do does did can could will would should shall may might must"))
)
_SHORTEST_ABBREVIATION, _LONGEST_ABBREVIATION, _ABBREVIATED_BY = 2, 4, 3
_SEMI_MODALS = frozenset(word_list("gotta wanna gonna hafta"))  # "i gotta know" / "i wanna know"


def word_replaced(query_a: str, query_b: str) -> str | None:
    """``"a/b"`` when the queries differ only in one or two content words replaced by one or
    two others that WordNet does not relate, none of them a verb; None otherwise."""
    words_a, words_b = lower_words(query_a), lower_words(query_b)
    at, one, other = replacement(words_a, words_b)
    if not one or not other or len(one) > _MOST_REPLACED or len(other) > _MOST_REPLACED:
        return None
    replaced = one + other
    if not all(word.isascii() and word.isalpha() for word in replaced):
        return None  # numbers, Chinese: their own guards
    units = unit_words()
    if any(
        w in FUNCTION
        or w in NEGATIONS
        or w in _SEMI_MODALS
        or w in units.names
        or w in units.symbols
        for w in replaced
    ):
        return None
    if (
        _spelt_alike(one, other)
        or _named_span(query_a, at, len(one))
        or _named_span(query_b, at, len(other))
    ):
        return None
    if _verb_at(words_a, at, len(one)) or _verb_at(words_b, at, len(other)):
        return None
    senses = {word: _senses(word) for word in replaced}
    if any(_verb_only(found) for found in senses.values()):
        return None
    for word_one in one:
        for word_other in other:
            s, t = senses[word_one], senses[word_other]
            if s is not None and t is not None and (_related(s, t) or s.neighbours & t.neighbours):
                return None
    return f"{' '.join(one)}/{' '.join(other)}"


def _spelt_alike(one: Sequence[str], other: Sequence[str]) -> bool:
    # "recieve" / "receive", "transfering" / "transferring money", "IRA" / "individual retirement
    # account", "setup" / "set up".
    joined_one, joined_other = "".join(one), "".join(other)
    if joined_one.startswith(joined_other) or joined_other.startswith(joined_one):
        return True
    if joined_one == "".join(w[0] for w in other) or joined_other == "".join(w[0] for w in one):
        return True
    if _abbreviated(joined_one, joined_other):
        return True
    return SequenceMatcher(None, joined_one, joined_other).ratio() >= _SPELLING_ALIKE


def _named_span(query: str, at: int, width: int) -> bool:
    tokens = WORD.findall(query)
    return any(_named(query, i) for i in range(at, min(at + width, len(tokens))))


def _verb_at(words: Sequence[str], at: int, width: int) -> bool:
    after = words[at + width] if at + width < len(words) else ""
    form = verb_forms().form(words[at])
    if form is None:
        return False
    before = words[at - 1] if at else ""
    if at > 1 and words[at - 2] in _AUXILIARIES and before not in FUNCTION:
        return True  # "do cyclists have / need to": the word after a one-word subject
    if at > 1 and words[at - 2] in BE_FORMS and before in _PRONOUNS and _adjective(words[at]):
        return False  # "is it better / cheaper to", "are they clean": a complement
    base = words[at] in form.lemmas
    if before in BE_FORMS and base and _adjective(words[at]):
        return False  # "who was better / more famous": after *be* a verb is a participle
    return not at or before in _BEFORE_VERB or before in BE_FORMS or after in _OBJECT_STARTS


def _adjective(word: str) -> bool:
    found = _senses(word)
    return found is not None and any(sense.startswith("a") for sense in found.senses)


def _abbreviated(one: str, other: str) -> bool:
    # "avg" / "average", "govt" / "government": the short one's letters in order in the long
    # one, from its first letter, and the short one no word of its own ("cat" / "contact").
    short, long = sorted((one, other), key=len)
    if not _SHORTEST_ABBREVIATION <= len(short) <= _LONGEST_ABBREVIATION:
        return False
    if _senses(short) is not None or verb_forms().form(short) is not None:
        return False
    if len(long) < len(short) + _ABBREVIATED_BY or short[0] != long[0]:
        return False
    rest = iter(long[1:])
    return all(letter in rest for letter in short[1:])


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
