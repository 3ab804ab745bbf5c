"""Guards on a query's structure: which way a relation points (names: `cache.guard_names`).

Embeddings are nearly blind to it. "Convert Celsius to Fahrenheit" and "convert Fahrenheit to
Celsius" share every word (cosine 0.995), and so do "from savings to checking" and its reverse.

* **Order.** Around each relation word (to, from, in, than, per, vs...) the nearest content
  words on either side (up to `_ARGS` each) are its two arguments. The direction differs when
  the other query has a relation whose arguments hold the same two words the other way round
  ("Celsius to Fahrenheit" / "Fahrenheit to Celsius"). Both queries must state the relation:
  a reordering with no relation word reversed ("for data science, the best way to learn
  Python", active against passive) is left to the score. One more order counts: the same
  content words where two phrases of up to `_SPAN` words trade places between the same
  neighbours ("the dog chases the cat" / "the cat chases the dog", "did Manchester United beat
  Liverpool" / "did Liverpool beat Manchester United"). And the activities of a time relation
  traded: "after eating, take my medication" / "after taking my medication, eat", "stretch
  before or after running" / "run before or after stretching" (the "-ing" word right after a
  relation is another verb in each query, each said by the other).
* **Order that does not matter** passes: two things listed with "vs", "and" or "or" trading
  places whole ("Mac vs PC for video editing", "baking soda and baking powder"), a relation
  that holds both ways ("married to", "similar to", "how far is London from Paris", "share a
  border with"; `cache.guard_words.holds_both_ways`) or a symmetric verb alone between the two
  ("did Federer play Nadal"). "the euro dropped vs the dollar", "Python and then JavaScript"
  and "the impact of social media on teenagers" still have a direction.
* **Order in Chinese**, written without spaces: `cache.guard_order_zh`.

The words themselves (relation, function and "be" words, places) come from `cache.guard_words`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from cache.guard_order_zh import zh_order_differs
from cache.guard_words import (
    ARTICLES,
    FUNCTION,
    KEPT,
    RELATION_ALIASES,
    RELATIONS,
    SYMMETRIC_RELATIONS,
    holds_both_ways,
    only_relating,
    order_words,
    word_set,
)
from cache.lexicons import adverbs, verb_forms

_REACH = 4  # how many words a relation looks at on each side
_ARGS = 2  # content words taken on each side as the relation's arguments

_Relation = tuple[frozenset[str], frozenset[str]]


def order_differs(query_a: str, query_b: str) -> bool:
    """Whether a relation of one query (X to Y, from X, X than Y, X with Y) is reversed in the
    other, two roles around one word are swapped (the dog chases the cat / the cat chases the
    dog), two amounts of one unit trade places (a 15 amp breaker with a 20 amp one), or the
    activities of a time relation do (stretch before running / run before stretching)."""
    words_a, words_b = order_words(query_a), order_words(query_b)
    return (
        any(_swapped_across(words_a, words_b, r) for r in _shared_relations(words_a, words_b))
        or _spans_swapped(words_a, words_b)
        or _amounts_swapped(words_a, words_b)
        or _direction_flipped(words_a, words_b)
        or _ends_swapped(words_a, words_b)
        or _activities_traded(words_a, words_b)
        or zh_order_differs(query_a, query_b)
    )


# Direction words that flip a query when one stands where the other query has its partner.
_FLIPS = {frozenset(pair.split()) for pair in ("to from", "in out", "up down", "on off")}
_FLIPS |= {frozenset(pair.split()) for pair in ("to out_of", "in out_of")}
# Verbs whose particle flip keeps the meaning: "fill in a form" is "fill out a form".
_SAME_EITHER_WAY = frozenset({"fill", "filled", "filling"})


def _activities_traded(words_a: tuple[str, ...], words_b: tuple[str, ...]) -> bool:
    # "after eating" / "after taking": each query's activity is the other's other verb.
    doing_a, doing_b = _activities(words_a), _activities(words_b)
    lemmas_a, lemmas_b = _lemmas(words_a), _lemmas(words_b)
    return any(
        doing_a[r] != doing_b[r] and doing_a[r] in lemmas_b and doing_b[r] in lemmas_a
        for r in doing_a.keys() & doing_b.keys()
    )


@lru_cache(maxsize=KEPT)
def _activities(words: tuple[str, ...]) -> dict[str, str]:
    # The verb of the first "-ing" content word after each relation word used once.
    counts = Counter(RELATION_ALIASES.get(w, w) for w in words if w in RELATIONS)
    found = {}
    for at, word in enumerate(words):
        relation = RELATION_ALIASES.get(word, word)
        if word not in RELATIONS or counts[relation] > 1:
            continue
        following = [w for w in words[at + 1 : at + 1 + _REACH] if w not in FUNCTION]
        head = next((w for w in following if w not in RELATIONS), "")
        if head.endswith("ing") and (lemma := _lemma(head)) != head:
            found[relation] = lemma
    return found


@lru_cache(maxsize=KEPT)
def _lemmas(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_lemma(w) for w in words)


def _lemma(word: str) -> str:
    form = verb_forms().form(word)
    return next(iter(form.lemmas)) if form is not None and len(form.lemmas) == 1 else word


def _direction_flipped(words_a: Sequence[str], words_b: Sequence[str]) -> bool:
    # "a gift from my parents" / "a gift to my parents", "zoom in on a Mac" / "zoom out on a
    # Mac", "bring medication into Japan" / "out of Japan": the same words with one direction
    # word where the other query has its opposite.
    words_a, words_b = _out_of_joined(words_a), _out_of_joined(words_b)
    at = one_change(words_a, words_b)
    if at is None:
        return False
    flip = frozenset(RELATION_ALIASES.get(w[at], w[at]) for w in (words_a, words_b))
    return flip in _FLIPS and not (at and words_a[at - 1] in _SAME_EITHER_WAY)


def _out_of_joined(words: Sequence[str]) -> Sequence[str]:
    # "out of" is one direction word, the opposite of "into" and "in".
    joined: list[str] = []
    for word in words:
        if word == "of" and joined and joined[-1] == "out":
            joined[-1] = "out_of"
        else:
            joined.append(word)
    return joined


# Relation words that name where a movement starts or ends.
_ENDS = {"from": "start", "to": "end", "into": "end", "onto": "end", "toward": "end"}
_ENDS |= {"towards": "end"}
_NOT_PHRASE = FUNCTION | RELATIONS


def _ends_swapped(words_a: Sequence[str], words_b: Sequence[str]) -> bool:
    # "money from Wise to Revolut" / "money to Wise from Revolut": the words stay in place and
    # the direction words trade places, so what one query moves from the other moves to.
    # "from London to Paris" / "to Paris from London" keeps each end.
    ends_a, ends_b = _ends(words_a), _ends(words_b)
    return any(
        len(ends_a[phrase]) == len(ends_b[phrase]) == 1 and ends_a[phrase] != ends_b[phrase]
        for phrase in ends_a.keys() & ends_b.keys()
    )


def _ends(words: Sequence[str]) -> dict[tuple[str, ...], set[str]]:
    # Each end is the whole phrase right after its direction word: "from [my old] iPhone 12",
    # not the "train" of "to Paris by train" (a phrase only half the same is no end moved).
    found: dict[tuple[str, ...], set[str]] = {}
    for i, word in enumerate(words):
        if word not in _ENDS:
            continue
        at = i + 1
        while at < len(words) and words[at] in FUNCTION:
            at += 1
        end = at
        while end < min(at + _SPAN, len(words)) and words[end] not in _NOT_PHRASE:
            end += 1
        if end > at:
            found.setdefault(tuple(words[at:end]), set()).add(_ENDS[word])
    return found


def one_change(
    words_a: Sequence[str], words_b: Sequence[str], alike: frozenset[str] = frozenset()
) -> int | None:
    """Where two word lists of one length differ, when they differ in one place only (two
    words that together make ``alike``, such as {"a", "an"}, count as the same)."""
    if len(words_a) != len(words_b):
        return None
    changed = [
        i
        for i, (a, b) in enumerate(zip(words_a, words_b, strict=True))
        if a != b and {a, b} != alike
    ]
    return changed[0] if len(changed) == 1 else None


def replacement(
    words_a: Sequence[str], words_b: Sequence[str]
) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """Where two word lists differ and what each says there, the words they share before and
    after removed: (3, ("sanding",), ("painting",)) for "... dry before sanding" / "... dry
    before painting"."""
    shortest = min(len(words_a), len(words_b))
    start = 0
    while start < shortest and words_a[start] == words_b[start]:
        start += 1
    end = 0
    while end < shortest - start and words_a[-1 - end] == words_b[-1 - end]:
        end += 1
    return (
        start,
        tuple(words_a[start : len(words_a) - end]),
        tuple(words_b[start : len(words_b) - end]),
    )


def _shared_relations(words_a: Sequence[str], words_b: Sequence[str]) -> set[str]:
    shared = {RELATION_ALIASES.get(w, w) for w in words_a if w in RELATIONS} & {
        RELATION_ALIASES.get(w, w) for w in words_b if w in RELATIONS
    }
    if "vs" in shared and _listed_either_way(words_a, words_b):
        shared.discard("vs")
    return {
        r for r in shared if not (_symmetric_before(words_a, r) and _symmetric_before(words_b, r))
    }


def _listed_either_way(words_a: Sequence[str], words_b: Sequence[str]) -> bool:
    # "Mac vs PC for video editing" / "PC vs Mac for video editing": the phrases on either side
    # of "vs" trade places whole. "the euro dropped vs the dollar" / "the dollar dropped vs the
    # euro" moves a word that does not touch "vs": a direction reversed.
    bare_a = [w for w in words_a if w not in ARTICLES]
    bare_b = [w for w in words_b if w not in ARTICLES]
    at = [i for i, w in enumerate(bare_a) if RELATION_ALIASES.get(w, w) == "vs"]
    if len(at) != 1:
        return False
    start = end = at[0]
    while start > max(0, at[0] - _SPAN) and bare_a[start - 1] not in _NOT_PHRASE:
        start -= 1
    while end < min(len(bare_a) - 1, at[0] + _SPAN) and bare_a[end + 1] not in _NOT_PHRASE:
        end += 1
    left, right = bare_a[start : at[0]], bare_a[at[0] + 1 : end + 1]
    turned = [*bare_a[:start], *right, bare_a[at[0]], *left, *bare_a[end + 1 :]]
    return bool(left) and bool(right) and turned == bare_b


def _symmetric_before(words: Sequence[str], relation: str) -> bool:
    at = [i for i, w in enumerate(words) if RELATION_ALIASES.get(w, w) == relation]
    return len(at) == 1 and holds_both_ways(words, at[0])


def _swapped_across(words_a: Sequence[str], words_b: Sequence[str], relation: str) -> bool:
    """Whether one content word moves across ``relation`` one way and another the other way:
    "brown rice healthier than white rice" / "white rice healthier than brown rice". A phrase
    moved whole to the other side ("from New York to London, how long is the flight") moves
    one way only."""
    sides_a, sides_b = _sides(words_a, relation), _sides(words_b, relation)
    if sides_a is None or sides_b is None:
        return _reversed_nearby(words_a, words_b, relation)
    (before_a, after_a), (before_b, after_b) = sides_a, sides_b
    return bool(before_a & after_b) and bool(after_a & before_b)


def _sides(words: Sequence[str], relation: str) -> tuple[set[str], set[str]] | None:
    """The content words only before and only after ``relation``, when it occurs once."""
    at = [i for i, w in enumerate(words) if RELATION_ALIASES.get(w, w) == relation]
    if len(at) != 1:
        return None
    before, after = set(_content(words[: at[0]])), set(_content(words[at[0] + 1 :]))
    return before - after, after - before


def _reversed_nearby(words_a: Sequence[str], words_b: Sequence[str], relation: str) -> bool:
    # The relation occurs more than once: compare the words next to each occurrence.
    relations_b = _relations(words_b, relation)
    return any(
        left_a & right_b and right_a & left_b
        for left_a, right_a in _relations(words_a, relation)
        for left_b, right_b in relations_b
    )


def _amounts_swapped(words_a: Sequence[str], words_b: Sequence[str]) -> bool:
    # "a 3 prong plug in a 2 prong outlet" / "a 2 prong plug in a 3 prong outlet": the same
    # numbers before the same unit, in the other order. Numbers before different words
    # ("for 4 at 7pm" / "at 7pm for 4") may move freely.
    amounts_a, amounts_b = _amounts(words_a), _amounts(words_b)
    if len(amounts_a) < 2 or sorted(amounts_a) != sorted(amounts_b) or amounts_a == amounts_b:
        return False
    return any(
        unit_a == unit_b and number_a != number_b
        for i, (number_a, unit_a) in enumerate(amounts_a)
        for number_b, unit_b in amounts_a[i + 1 :]
        if amounts_b.index((number_b, unit_b)) < amounts_b.index((number_a, unit_a))
    )


def _amounts(words: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (word, words[i + 1] if i + 1 < len(words) else "")
        for i, word in enumerate(words)
        if word.isdigit()
    ]


def _content(words: Sequence[str]) -> list[str]:
    return [words[i] for i in _content_at(words)]


# Words that list things rather than relate them: "baking soda and baking powder".
_COORDINATORS = word_set("and or nor vs versus &")
_SPAN = 3  # longest phrase taken as one role ("Manchester United", "my new kitten")


def _spans_swapped(words_a: Sequence[str], words_b: Sequence[str]) -> bool:
    """X M Y in one query and Y M X in the other, X and Y phrases of up to `_SPAN` content
    words that trade places between the same neighbours: "did Manchester United beat
    Liverpool" / "did Liverpool beat Manchester United", "my cat hisses at my new kitten" /
    "my new kitten hisses at my cat". A clause moved whole ("I bought something I need a
    refund for" / "I need a refund for something I bought") changes the neighbours."""
    at_a, at_b = _content_at(words_a), _content_at(words_b)
    content_a, content_b = [words_a[i] for i in at_a], [words_b[i] for i in at_b]
    if (
        len(content_a) != len(content_b)  # a swap, and one word replaced, keep the count
        or content_a == content_b
        or not alike_but_one(Counter(content_a), Counter(content_b))
    ):
        return False
    n = len(content_a)
    for start in range(n):
        for x_end in range(start + 1, min(start + _SPAN, n) + 1):
            # The middle may be empty when relation words of their own part X and Y: "the
            # impact of social media on teenagers" / "the impact of teenagers on social media".
            for m_end in range(x_end, min(x_end + _SPAN, n) + 1):
                between = words_a[at_a[x_end - 1] + 1 : at_a[m_end]] if m_end < n else ()
                if m_end == n or _listed(between):
                    continue  # "baking soda and baking powder": a list, in any order
                if m_end == x_end and _no_relation(words_a, at_a[x_end - 1] + 1, at_a[m_end]):
                    continue
                if m_end > x_end and _symmetric_middle(content_a[x_end:m_end]):
                    continue
                for y_end in range(m_end + 1, min(m_end + _SPAN, n) + 1):
                    x, middle, y = (
                        content_a[start:x_end],
                        content_a[x_end:m_end],
                        content_a[m_end:y_end],
                    )
                    if set(x) & set(y):
                        continue  # not two things: "ha, ha" / "ha, ha, ha"
                    for j in _occurrences(content_b, y + middle + x):
                        # Y now where X stood and X where Y stood, each between the same words.
                        x_in_b = j + len(y) + len(middle)
                        if _frame(words_a, at_a, (start, x_end)) == _frame(
                            words_b, at_b, (j, j + len(y))
                        ) and _frame(words_a, at_a, (m_end, y_end)) == _frame(
                            words_b, at_b, (x_in_b, x_in_b + len(x))
                        ):
                            return True
    return False


def _no_relation(words: Sequence[str], start: int, end: int) -> bool:
    # Between two adjacent phrases, only articles, or a relation that holds both ways ("how
    # far is London from Paris").
    return all(w in ARTICLES for w in words[start:end]) or any(
        holds_both_ways(words, k) for k in range(start, end)
    )


def _listed(between: Sequence[str]) -> bool:
    # What stands between two listed things: "and", and perhaps an article or a word the two
    # share ("soda [and baking] powder"); a verb ("negative [and the baby is Rh] positive")
    # makes it two clauses, an adverb ("Python [and then] JavaScript") a sequence.
    return any(w in _COORDINATORS for w in between) and all(
        w in _COORDINATORS or w in ARTICLES or (w not in FUNCTION and w not in adverbs())
        for w in between
    )


def _symmetric_middle(middle: Sequence[str]) -> bool:
    # "did Tyson ever fight Holyfield": a symmetric verb, perhaps with adverbs around it;
    # "France [shares a border] with Spain": a symmetric relation and nothing else.
    return any(w in SYMMETRIC_RELATIONS for w in middle) and all(
        only_relating((w,)) or w in adverbs() for w in middle
    )


def alike_but_one(counts_a: Counter[str], counts_b: Counter[str]) -> bool:
    """The same words, or one replaced: a swap may come with one more change ("can an
    employer sue an employee for breaking a non-compete" / "can an employee sue an employer
    for enforcing")."""
    return (counts_a - counts_b).total() <= 1 and (counts_b - counts_a).total() <= 1


def _content_at(words: Sequence[str]) -> list[int]:
    return [i for i, w in enumerate(words) if w not in FUNCTION and w not in RELATIONS]


def _occurrences(sequence: list[str], part: list[str]) -> list[int]:
    width = len(part)
    return [j for j in range(len(sequence) - width + 1) if sequence[j : j + width] == part]


def _frame(words: Sequence[str], at: list[int], span: tuple[int, int]) -> tuple[str, str]:
    # The words just before and just after a phrase of content words (positions in `at`),
    # past an article: "can Windows read" and "can a Mac read" frame their phrase alike.
    # A swapped subject changes its verb's agreement and its possessive ("does the dollar rate
    # affect" / "do gold prices affect", "against his wife" / "against her husband"): those
    # words frame alike.
    first, last = at[span[0]], at[span[1] - 1]
    before = first - 1
    while before >= 0 and words[before] in ARTICLES:
        before -= 1
    framed = (
        words[before] if before >= 0 else "",
        words[last + 1] if last + 1 < len(words) else "",
    )
    return (_AGREEMENT.get(framed[0], framed[0]), _AGREEMENT.get(framed[1], framed[1]))


_AGREEMENT = {"does": "do", "are": "is", "were": "was", "has": "have"}
_AGREEMENT |= dict.fromkeys(("his", "her", "its", "their"), "their")


def _relations(words: Sequence[str], relation: str) -> list[_Relation]:
    found = []
    for i, word in enumerate(words):
        if RELATION_ALIASES.get(word, word) != relation:
            continue
        left = _arguments(words, range(i - 1, max(i - 1 - _REACH, -1), -1))
        right = _arguments(words, range(i + 1, min(i + 1 + _REACH, len(words))))
        if left and right:
            found.append((left - right, right - left))
    return found


def _arguments(words: Sequence[str], positions: range) -> frozenset[str]:
    picked: list[str] = []
    for j in positions:
        if words[j] in RELATIONS or len(picked) == _ARGS:
            break
        if words[j] not in FUNCTION:
            picked.append(words[j])
    return frozenset(picked)
