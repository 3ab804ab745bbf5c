"""Guards on who does what to whom when a query is turned around (order itself:
`cache.guard_structure`).

* **Voice.** "did Germany beat Brazil" asks what "was Brazil beaten by Germany" asks, and not
  what "was Germany beaten by Brazil" asks. A passive clause (a form of *be* or *get*, then a
  past participle, then "by") names its agent after "by" and its patient between *be* and the
  participle ("was Brazil beaten") or before *be* ("my dog was bitten"). An active clause of the
  other query with a form of the same verb (`cache.lexicons.verb_forms`) names its subject just
  before the verb and its object just after. The roles are swapped when the subject is the
  patient and the object the agent. Both voices on one side, or the same voice on both, are
  `cache.guard_structure`'s.
* **Inverse comparisons.** "is gold heavier than lead" asks what "is lead lighter than gold"
  asks: the two things trade places around "than" and the comparative turns into its opposite
  (an antonym, or "less" before a word of the same WordNet sense: "smarter" / "less
  intelligent").
  Two flips cancel out; one alone (order or antonym) is a different question.
* **Doer or done-to asked for.** "what eats a great white shark" asks for the eater, "what does
  a great white shark eat" for the food: the question word is the subject of the verb in one
  query and its object, after "do", "does" or "did", in the other, everything else the same
  ("who killed Kennedy" / "who did Kennedy kill", "what animals eat sharks" / "what animals do
  sharks eat").
* **Another time.** "what was the climate of the Sahara 10,000 years ago" / "what will the
  climate of the Sahara be in 10,000 years": the first auxiliary of one query is past ("was",
  "were", "did") and the other's is "will". Past against present ("is", "are", "do", "does")
  too, when neither query speaks of the asker ("how is / was the pension calculated under
  FERS", "does / did champagne have to come from Champagne"): about the asker's own case a
  paraphrase often moves the tense ("why was my card declined" / "why is my card declined").
  The perfect ("has been declined") is left alone.
* **The role asked for.** "when should I prune roses" and "how should I prune roses" ask for a
  time and a manner: one question word traded for another of a different kind, nothing else
  changed, is another question. "how" and "where" are left alike ("how / where do I find my
  PIN" ask one thing). So is an opening question of another kind about the same content words
  in another order: "how much salt should I add to pasta water" / "when should I add salt to
  pasta water" ("how much", "how long", "how often"... each a kind of its own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from cache.guard_modifiers import share_a_sense
from cache.guard_people import PERSON_WORDS, tokens
from cache.guard_structure import one_change
from cache.guard_words import BE_FORMS, FUNCTION, KEPT, RELATIONS, lower_words
from cache.guards_zh import word_list
from cache.lexicons import verb_forms

# Pronouns are roles too ("fire me" / "me to be fired"); possessives stay function words.
_PERSONS = {word: PERSON_WORDS[word] for word in word_list("i me we us he him she they them you")}
_ARGS = 2  # content words taken as a role on each side of a verb
_REACH = 4  # words a role looks across
_PATIENT_SPAN = 4  # most words between "be" and its participle ("was the 2014 final won by")

_NOT_ROLE = FUNCTION | RELATIONS | BE_FORMS
# What a question word asks for; "how" / "where" are said of one thing ("where do I find it").
_ASKED = {"when": "time", "where": "place", "why": "reason", "who": "person", "whom": "person"}
_ASKED |= {"whose": "owner", "how": "manner"}
_ALIKE_ASKED = frozenset({"how", "where"})
# "how" with these asks for an amount, a count, a time span...: another kind of answer.
_HOW_MUCH = frozenset(word_list("much many long often far old big soon"))
_Roles = tuple[frozenset[str], frozenset[str]]  # (doer, done to)


def voice_roles_swapped(query_a: str, query_b: str) -> bool:
    """Whether a passive clause of one query has the roles of an active clause of the other
    the other way round: "did Germany beat Brazil" / "was Germany beaten by Brazil"."""
    words_a, words_b = lower_words(query_a), lower_words(query_b)
    return _swapped(_passives(words_a), words_b) or _swapped(_passives(words_b), words_a)


def _swapped(passives: Sequence[tuple[frozenset[str], _Roles]], words: Sequence[str]) -> bool:
    for lemmas, (agent, patient) in passives:
        for subject, object_ in _actives(words, lemmas):
            if subject & agent or object_ & patient:
                return False  # the same roles in one reading: not a swap
            if subject & patient and object_ & agent:
                return True
    return False


@lru_cache(maxsize=KEPT)
def _passives(words: tuple[str, ...]) -> tuple[tuple[frozenset[str], _Roles], ...]:
    found = []
    forms = verb_forms()
    for by in (i for i, w in enumerate(words) if w == "by" and i > 1):
        verb = forms.form(words[by - 1])
        if verb is None or not verb.participle:
            continue
        be = next(
            (j for j in range(by - 2, max(by - 3 - _PATIENT_SPAN, -1), -1) if words[j] in BE_FORMS),
            None,
        )
        if be is None:
            continue
        agent = _role(words, range(by + 1, min(by + 1 + _REACH, len(words))))
        between = _role(words, range(be + 1, by - 1))
        patient = between or _role(words, range(be - 1, max(be - 1 - _REACH, -1), -1))
        if agent and patient:
            found.append((verb.lemmas, (agent, patient)))
    return tuple(found)


def _actives(words: Sequence[str], lemmas: frozenset[str]) -> list[_Roles]:
    forms = verb_forms()
    found = []
    for at, word in enumerate(words):
        verb = forms.form(word)
        if verb is None or not verb.lemmas & lemmas:
            continue
        if (at > 0 and words[at - 1] in BE_FORMS and not word.endswith("ing")) or (
            at + 1 < len(words) and words[at + 1] == "by"
        ):
            continue  # passive itself ("is acquiring" is active)
        before = range(at - 1, max(at - 1 - _REACH, -1), -1)
        subject = _role(words, before[1:] if at and words[at - 1] == "to" else before)
        object_ = _role(words, range(at + 1, min(at + 1 + _REACH, len(words))))
        if subject and object_:
            found.append((subject, object_))
    return found


def _role(words: Sequence[str], positions: range) -> frozenset[str]:
    picked: list[str] = []
    for j in positions:
        word = words[j]
        if (word in RELATIONS and j != positions[0]) or len(picked) == _ARGS:
            break
        if word in _PERSONS:
            picked.append(_PERSONS[word])
        elif word not in _NOT_ROLE:
            picked.append(word)
    return frozenset(picked)


class Comparison(NamedTuple):
    """Two queries comparing the same two things the other way round."""

    word_a: str  # the comparative, without "more" / "less": "heavier", "expensive"
    word_b: str
    less_once: bool  # "less" (or "fewer") in one comparative only


_LESS = frozenset({"less", "fewer"})
_DEGREE = frozenset({"more"}) | _LESS  # "more expensive", "less healthy"


def swapped_comparison(query_a: str, query_b: str) -> Comparison | None:
    """The comparatives, when the queries hold the same content words but for the comparative
    before their one "than", and what one says only before "than" the other says only after
    it, both ways: "is gold heavier than lead" / "is lead lighter than gold"."""
    sides_a, sides_b = _compared(lower_words(query_a)), _compared(lower_words(query_b))
    if sides_a is None or sides_b is None:
        return None
    (before_a, word_a, less_a, after_a), (before_b, word_b, less_b, after_b) = sides_a, sides_b
    if before_a + after_a != before_b + after_b:
        return None
    only_before_a, only_before_b = before_a - before_b, before_b - before_a
    if not only_before_a or not only_before_b:
        return None
    if only_before_a != after_b - after_a or only_before_b != after_a - after_b:
        return None
    return Comparison(word_a, word_b, less_a != less_b)


def _compared(words: Sequence[str]) -> tuple[Counter[str], str, bool, Counter[str]] | None:
    # "is gold heavier than lead" -> {gold}, heavier, no "less", {lead}.
    if words.count("than") != 1:
        return None
    than = words.index("than")
    if than < 2:
        return None
    word, start = words[than - 1], than - 1
    less = False
    if words[start - 1] in _DEGREE:
        start -= 1
        less = words[start] in _LESS
    return _content(words[:start]), word, less, _content(words[than + 1 :])


def _content(words: Sequence[str]) -> Counter[str]:
    return Counter(w for w in words if w not in FUNCTION and w not in RELATIONS)


def inverse_comparison(turned: Comparison, opposite: bool) -> bool:
    """Whether the two comparisons say the same thing: the things swapped and the comparative
    flipped once, by an antonym (*opposite*, from the antonym guard) or by "less"."""
    if opposite:
        return not turned.less_once
    return turned.less_once and share_a_sense(turned.word_a, turned.word_b)


_SUBJECT_ASKED = frozenset(word_list("what who which"))
_DO = frozenset(word_list("do does did"))


def asked_doer_swapped(query_a: str, query_b: str) -> bool:
    """Whether one query asks for the subject of a verb and the other for its object: "what eats
    a great white shark" / "what does a great white shark eat"."""
    return _doer_and_done_to(query_a, query_b) or _doer_and_done_to(query_b, query_a)


def _doer_and_done_to(subject_asked: str, object_asked: str) -> bool:
    # subject: wh [noun] VERB rest...; object: wh [noun] do SUBJECT... VERB after...
    s, o = tokens(subject_asked), tokens(object_asked)
    if not s or s[0] not in _SUBJECT_ASKED or s[0] != o[0]:
        return False
    for k in (1, 2):  # "what eats", "what animals eat"
        if len(s) <= k + 1 or len(o) <= k + 2 or s[:k] != o[:k] or o[k] not in _DO:
            continue
        verb = verb_forms().form(s[k])
        if verb is None or s[k] in _DO or s[k] in BE_FORMS:
            continue
        for at in range(k + 2, len(o)):
            form = verb_forms().form(o[at])
            if form is not None and o[at] in form.lemmas and form.lemmas & verb.lemmas:
                subject = o[k + 1 : at]
                return (
                    s[k + 1 : k + 1 + len(subject)] == subject
                    and s[k + 1 + len(subject) :] == o[at + 1 :]
                )
    return False


_TENSES = {"was": "past", "were": "past", "did": "past", "will": "future"}
_TENSES |= dict.fromkeys(word_list("is are am do does"), "present")
_PERFECT = frozenset(word_list("has have"))
_OTHER_AUXILIARIES = frozenset(word_list("had can could would should"))
_AUXILIARY_REACH = 4  # the first auxiliary is among a query's first words
_ASKER = frozenset(word_list("i me my mine we us our you your"))


def time_changed(query_a: str, query_b: str) -> bool:
    """Whether one query asks about another time: past or perfect against future ("what was
    the climate ..." / "what will the climate ... be", "who won" / "who will win", "how has AI
    changed" / "how will AI change"), or past against present in a question that is not about
    the asker ("how is / was the pension calculated")."""
    tenses = {_tense(query_a), _tense(query_b)}
    if "future" in tenses and tenses & {"past", "past verb", "perfect"}:
        return True
    return tenses == {"past", "present"} and not _ASKER.intersection(
        tokens(query_a) + tokens(query_b)
    )


def _tense(query: str) -> str | None:
    words = tokens(query)
    for at, word in enumerate(words[:_AUXILIARY_REACH]):
        if word in _TENSES:
            if words[at + 1 : at + 3] == ("going", "to"):
                return "future"  # "what is going to happen"
            return _TENSES[word]
        if word in _PERFECT:
            return "perfect"
        if word in _OTHER_AUXILIARIES:
            return None
        if at == 1 and words[0] in _SUBJECT_ASKED and _past_form(word):
            # "what happened", "who won": the asked-for subject's verb. Against the future
            # only: "what made Elon Musk so successful" asks "why is he so successful".
            return "past verb"
    return None


def _past_form(word: str) -> bool:
    form = verb_forms().form(word)
    return form is not None and word not in form.lemmas and not word.endswith(("ing", "s"))


def asked_role_changed(query_a: str, query_b: str) -> str | None:
    """``"a/b"`` when the queries differ only in a question word asking for another kind of
    answer: "when should I prune roses" / "how should I prune roses"."""
    words_a, words_b = lower_words(query_a), lower_words(query_b)
    at = one_change(words_a, words_b, alike=_ALIKE_ASKED)
    if at is None:
        return _asked_first(words_a, words_b)
    one, other = words_a[at], words_b[at]
    if one in _ASKED and other in _ASKED and _ASKED[one] != _ASKED[other]:
        return f"{one}/{other}"
    return None


def _asked_first(words_a: Sequence[str], words_b: Sequence[str]) -> str | None:
    # "how much salt should I add to pasta water" / "when should I add salt to pasta water": the
    # opening question asks for another kind of answer, about the same words in another order.
    asked_a, asked_b = _opening(words_a), _opening(words_b)
    if not asked_a or not asked_b or asked_a == asked_b:
        return None
    if {_ASKED.get(asked_a), _ASKED.get(asked_b)} == {_ASKED["how"], _ASKED["where"]}:
        return None
    rest_a = Counter(w for w in words_a[len(asked_a.split()) :] if w not in FUNCTION)
    rest_b = Counter(w for w in words_b[len(asked_b.split()) :] if w not in FUNCTION)
    return f"{asked_a}/{asked_b}" if rest_a and rest_a == rest_b else None


def _opening(words: Sequence[str]) -> str | None:
    # "when", "why", "how much", "how long": the question word a query opens with.
    if not words or words[0] not in _ASKED:
        return None
    if words[0] == "how" and len(words) > 1 and words[1] in _HOW_MUCH:
        return f"how {words[1]}"
    return words[0]
