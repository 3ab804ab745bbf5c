"""Guards on people trading places: who does something, and for or to whom.

Pronouns are function words to the other guards, so two queries that say the same words with
the people in each other's places look alike to them, and embeddings score them 0.95 to 0.99:

* **People traded.** "can I book a room for someone else under my name" / "for myself under
  someone else's name": the same other words, the same people, in each other's places
  (`persons_traded`). A pronoun is read as the person it names (I, me, my, myself are one),
  "someone else" as another person.
* **Doer and done-to traded around one verb.** "can my employer see my browsing history" /
  "can I see my employer's browsing history", "does my wife's insurance cover me" / "does my
  insurance cover my wife" (`verb_roles_traded`): the same words (one may change, "they" for
  "I"), one verb form in both, and its subject, or its object, is another person or thing in
  each query, each named somewhere in the other. A role is the pronoun next to the verb, or the
  noun after a determiner ("my employer", "a tenant") next to it; a word after a determiner is
  no verb ("my deposit"). One role must be a person (a pronoun): a swap of two things is the
  order guard's. "I" against "you" alone is left alone, as a question to an assistant says
  either ("can you send me a card" / "can I get a card from you"), and so is a passive (the
  voice guard's).
* **A new doer.** "what happens if you break a lease" / "what happens if your landlord breaks
  a lease" (`doer_replaced`): one query's subject of a verb is a pronoun, the other's a
  person, animal or group of that pronoun's ("your landlord", `cache.lexicons.doer_nouns`)
  that the first never names. "why can't I connect" / "why can't my phone connect" passes: a
  phone is no doer.
* **Two exchanged.** "what should a teacher do when a parent is rude" / "what should a parent
  do when a teacher is rude" (`exchanged`): two words, other words between them, trade places
  and nothing else changes (articles aside), unless what stands between them joins two equals
  ("and", "or", "vs", "between", "with", "than", a symmetric verb: the order guard's). And
  owner and owned: "my wife's friend" / "my friend's wife".
* **Asked for someone.** "is it legal to ride a bicycle on the sidewalk" / "is it legal for
  children to ride a bicycle on the sidewalk" (`asked_for`): the other query adds only "for"
  and a person, animal or group (for beginners, for my dog, for a small business), which
  narrows whom the answer is about. "for me" adds no one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from cache.guard_structure import alike_but_one, replacement
from cache.guard_words import (
    ARTICLES,
    BE_FORMS,
    FUNCTION,
    KEPT,
    RELATIONS,
    SYMMETRIC,
    WORD,
    bare,
    holds_both_ways,
    lower_words,
    only_relating,
    order_words,
)
from cache.guards_zh import word_list
from cache.lexicons import doer_nouns, verb_forms

# The person each pronoun names: "I", "me", "my" and "myself" are one.
PERSON_WORDS = {"i": "1", "me": "1", "my": "1", "myself": "1", "mine": "1"}
PERSON_WORDS |= {"you": "2", "your": "2", "yourself": "2", "yours": "2"}
PERSON_WORDS |= {"he": "3m", "him": "3m", "his": "3m", "himself": "3m"}
PERSON_WORDS |= {"she": "3f", "her": "3f", "herself": "3f", "hers": "3f"}
PERSON_WORDS |= {"we": "1p", "us": "1p", "our": "1p", "ourselves": "1p", "ours": "1p"}
PERSON_WORDS |= {"they": "3p", "them": "3p", "their": "3p", "themselves": "3p"}
_OTHER_PERSON = frozenset({"someone", "somebody", "anyone", "anybody"})  # "+ else"
# Pronouns that stand as a role by themselves; "my", "your" and "its" stand before a noun.
_ROLE_PRONOUNS = frozenset(
    {"i", "me", "you", "he", "him", "she", "her", "we", "us", "they", "them", "myself"}
)
_DETERMINERS = frozenset(
    {"a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "that"}
)
_PERSONS = frozenset(PERSON_WORDS.values())
_SUBJECT_PRONOUNS = frozenset({"i", "you", "we", "he", "she", "they"})
_POSSESSIVE_OF = {"my": "1", "your": "2", "our": "1p", "his": "3m", "her": "3f", "their": "3p"}
_ADDRESSED = frozenset({"1", "2"})
_AUXILIARIES = BE_FORMS | frozenset(
    {"can", "could", "do", "does", "did", "will", "would", "should", "shall", "may", "might"}
    | {"must", "has", "have", "had"}
)  # the one asking and the one asked: either way round


def persons_traded(query_a: str, query_b: str) -> bool:
    """Whether two people trade places and nothing else changes: "can I book a room for
    someone else under my name" / "for myself under someone else's name"."""
    people_a, rest_a = _people(lower_words(query_a))
    people_b, rest_b = _people(lower_words(query_b))
    return (
        rest_a == rest_b
        and people_a != people_b
        and sorted(set(people_a)) == sorted(set(people_b))
        and len(set(people_a)) > 1
    )


@lru_cache(maxsize=KEPT)
def _people(words: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # The people a query names, in order, and its other words.
    people: list[str] = []
    rest: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        if word in _OTHER_PERSON and at + 1 < len(words) and words[at + 1] == "else":
            people.append("other")
            at += 2
            continue
        if word in PERSON_WORDS:
            people.append(PERSON_WORDS[word])
        else:
            rest.append(word)
        at += 1
    return tuple(people), tuple(rest)


def verb_roles_traded(query_a: str, query_b: str) -> bool:
    """Whether the subject or the object of one verb is another person or thing in each
    query, each named on the verb's other side in the other query: "can my employer see my
    browsing history" / "can I see my employer's browsing history"."""
    tokens_a, tokens_b = tokens(query_a), tokens(query_b)
    roles_a, roles_b = _verb_roles(tokens_a), _verb_roles(tokens_b)
    if not roles_a.keys() & roles_b.keys():
        return False  # no verb form in both
    if not alike_but_one(_named(tokens_a), _named(tokens_b)):
        return False
    if _passive(tokens_a) or _passive(tokens_b):
        return False
    for verb, verb_roles_a in roles_a.items():
        if verb not in roles_b:
            continue
        at_a, at_b = tokens_a.index(verb), tokens_b.index(verb)
        sides_a = (_named(tokens_a[at_a + 1 :]), _named(tokens_a[:at_a]))
        sides_b = (_named(tokens_b[at_b + 1 :]), _named(tokens_b[:at_b]))
        # The subject (index 0) comes back after the verb, the object (1) before it.
        for role, (one, other) in enumerate(zip(verb_roles_a, roles_b[verb], strict=True)):
            if one is None or other is None or one == other or {one, other} <= _ADDRESSED:
                continue
            if one in sides_b[role] and other in sides_a[role] and {one, other} & _PERSONS:
                return True
    return False


@lru_cache(maxsize=KEPT)
def tokens(query: str) -> tuple[str, ...]:
    # Words as written, lower case, "employer's" kept whole: a possessive is a determiner.
    return tuple(WORD.findall(query.lower().replace("’", "'")))


@lru_cache(maxsize=KEPT)
def _named(tokens: tuple[str, ...]) -> Counter[str]:
    # The people and content words a query names: "my" and "I" both name the one asking.
    # Cached: callers only read it.
    named = Counter[str]()
    for token in tokens:
        word = token.removesuffix("'s")
        if word in PERSON_WORDS:
            named[PERSON_WORDS[word]] += 1
        elif word not in FUNCTION and word not in RELATIONS and word not in BE_FORMS:
            named[bare(word)] += 1
    return named


def _passive(tokens: Sequence[str]) -> bool:
    # "can I be sued by my employer": the voice guard's.
    return "by" in tokens and any(token in BE_FORMS for token in tokens)


@lru_cache(maxsize=KEPT)
def _verb_roles(tokens: tuple[str, ...]) -> dict[str, tuple[str | None, str | None]]:
    # Each verb form said once, with its subject and object where they stand next to it.
    forms = verb_forms()
    counts = Counter(tokens)
    roles: dict[str, tuple[str | None, str | None]] = {}
    for at, token in enumerate(tokens):
        if counts[token] > 1 or token in FUNCTION or forms.form(token) is None:
            continue
        if at and (tokens[at - 1] in _DETERMINERS or tokens[at - 1].endswith("'s")):
            continue  # "my deposit", "the fee": a noun
        roles[token] = (_subject(tokens, at), _object(tokens, at))
    return roles


def _subject(tokens: Sequence[str], at: int) -> str | None:
    before = tokens[at - 1] if at else ""
    if before in _ROLE_PRONOUNS:
        return PERSON_WORDS[before]
    # "can my employer see", "does my wife's insurance cover": not "with a PIN change"
    if (
        at > 2
        and _determines(tokens[at - 2])
        and before not in FUNCTION
        and tokens[at - 3] in _AUXILIARIES
    ):
        return _role_word(before)
    return None


def _object(tokens: Sequence[str], at: int) -> str | None:
    after = tokens[at + 1] if at + 1 < len(tokens) else ""
    following = tokens[at + 2] if at + 2 < len(tokens) else ""
    if _determines(after) and following and following not in FUNCTION:
        return _role_word(following)  # "cover my wife", "see her card"
    if after in _ROLE_PRONOUNS:
        # "provide me the number": the pronoun is who gets it, not what is given
        return None if _determines(following) else PERSON_WORDS[after]
    return None


def _determines(token: str) -> bool:
    return token in _DETERMINERS or token.endswith("'s")


def _role_word(token: str) -> str:
    word = token.removesuffix("'s")
    return PERSON_WORDS.get(word) or bare(word)


def doer_replaced(query_a: str, query_b: str) -> bool:
    """Whether a pronoun that does something in one query is replaced, as the one doing the
    same thing, by someone of its own in the other: "if you break a lease" / "if your landlord
    breaks a lease", "should I spend" / "should our team spend"."""
    tokens_a, tokens_b = tokens(query_a), tokens(query_b)
    return _new_doer(tokens_a, tokens_b) or _new_doer(tokens_b, tokens_a)


def _new_doer(pronoun_side: tuple[str, ...], noun_side: tuple[str, ...]) -> bool:
    pronouns, owned = _pronoun_doers(pronoun_side), _owned_doers(noun_side)
    return any(
        # "I" / "my landlord" and "I" / "our team": the same speaker, someone else doing it
        lemmas & other_lemmas and owner[0] == person[0] and doer not in _named(pronoun_side)
        for lemmas, person in pronouns
        for other_lemmas, owner, doer in owned
    )


@lru_cache(maxsize=KEPT)
def _pronoun_doers(tokens: tuple[str, ...]) -> tuple[tuple[frozenset[str], str], ...]:
    # ("break" lemmas, "2") for "you break"
    return tuple(
        (lemmas, PERSON_WORDS[tokens[at - 1]])
        for at, lemmas in _verbs(tokens)
        if tokens[at - 1] in _SUBJECT_PRONOUNS
    )


@lru_cache(maxsize=KEPT)
def _owned_doers(tokens: tuple[str, ...]) -> tuple[tuple[frozenset[str], str, str], ...]:
    # ("break" lemmas, "2", "landlord") for "your landlord breaks"
    found = []
    for at, lemmas in _verbs(tokens):
        owner, doer = tokens[at - 2] if at > 1 else "", bare(tokens[at - 1])
        if owner in _POSSESSIVE_OF and _doer(doer):
            found.append((lemmas, _POSSESSIVE_OF[owner], doer))
    return tuple(found)


def _verbs(tokens: tuple[str, ...]) -> list[tuple[int, frozenset[str]]]:
    # Verb forms after the first word, with their lemmas.
    forms = verb_forms()
    found = []
    for at, token in enumerate(tokens):
        form = forms.form(token) if at and token not in FUNCTION else None
        if form is not None:
            found.append((at, form.lemmas))
    return found


_BEFORE_DOER = frozenset({"a", "an", "the", "my", "your", "our", "their", "his", "her", "some"})


_FOR_SOMEONE = frozenset({"for", "to", "with"})


# Words between two exchanged words that make them equals: "a virus and a bacteria".
_JOINING = frozenset(word_list("and or nor vs versus with between than"))
_POSSESSIVE_END = re.compile(r"['’]s$")


def exchanged(query_a: str, query_b: str) -> bool:
    """Whether two words trade places with nothing else changed (articles aside), or an owner
    and what it owns do: "a teacher ... when a parent" / "a parent ... when a teacher"."""
    words_a, words_b = _unarticled(query_a), _unarticled(query_b)
    if len(words_a) == len(words_b):
        changed = [i for i, (a, b) in enumerate(zip(words_a, words_b, strict=True)) if a != b]
        if len(changed) == 2:
            i, j = changed
            between = words_a[i + 1 : j]
            if (
                words_a[i] == words_b[j]
                and words_a[j] == words_b[i]
                and words_a[i] not in FUNCTION
                and words_a[j] not in FUNCTION
                and between
                and not any(w in _JOINING or w in SYMMETRIC for w in between)
                and not (
                    only_relating(between)
                    and any(holds_both_ways(words_a, k) for k in range(i + 1, j))
                )
            ):
                return True
    return _possession_moved(query_a, query_b)


def _possession_moved(query_a: str, query_b: str) -> bool:
    # Owner and owned swapped ("my wife's friend" / "my friend's wife", "my brother's best
    # friend" / "my best friend's brother"), or one owner's "'s" moved to another thing both
    # queries name ("my neighbor's cat in my garden" / "my cat in my neighbor's garden").
    owned_a, owned_b = _owned(query_a), _owned(query_b)
    if any(
        x != y and x in owned_b.get(y, frozenset()) for x, things in owned_a.items() for y in things
    ):
        return True
    # What one query's owner has stands unowned in the other: "my cat" / "my neighbor's cat".
    free_a = set(lower_words(query_a)).difference(*owned_a.values())  # already bare
    free_b = set(lower_words(query_b)).difference(*owned_b.values())
    return any(
        not things & owned_b[owner] and things & free_b and owned_b[owner] & free_a
        for owner, things in owned_a.items()
        if owner in owned_b
    )


@lru_cache(maxsize=KEPT)
def _owned(query: str) -> dict[str, frozenset[str]]:
    # {"brother": {"best", "friend"}} for "my brother's best friend": the owner and the first
    # two words after it that are no function words (one of them names what is owned). Shared
    # by the cache: callers only read it.
    found: dict[str, frozenset[str]] = {}
    words = WORD.findall(query.lower())
    for at, word in enumerate(words):
        if not _POSSESSIVE_END.search(word) or word in FUNCTION:
            continue
        things = []
        for after in words[at + 1 : at + 3]:
            if after in FUNCTION or after in RELATIONS:
                break
            things.append(bare(after))
        if things:
            owner = bare(_POSSESSIVE_END.sub("", word))
            found[owner] = found.get(owner, frozenset()) | frozenset(things)
    return found


@lru_cache(maxsize=KEPT)
def _unarticled(query: str) -> tuple[str, ...]:
    return tuple(w for w in order_words(query) if w not in ARTICLES)


def asked_for(query_a: str, query_b: str) -> str | None:
    """The doer when one query is the other with "for", "to" or "with" and a doer added: "is it
    legal to ride a bicycle on the sidewalk" / "is it legal for children to ride a bicycle on the
    sidewalk" gives "children", "not pay overtime" / "not pay overtime to contractors"
    "contractors"."""
    _, one, other = replacement(lower_words(query_a), lower_words(query_b))
    added = one or other
    if (one and other) or len(added) < 2 or added[0] not in _FOR_SOMEONE:
        return None
    named = [word for word in added[1:] if word not in _BEFORE_DOER]
    return named[-1] if named and _doer(named[-1]) else None


def _doer(word: str) -> bool:
    # `bare` took a plural "s" off: "puppies" is read as "puppie", "kids" as "kid".
    doers = doer_nouns()
    return any(
        form in doers for form in (word, word + "s", word[:-2] + "y" if word.endswith("ie") else "")
    )
