"""Antonym pairs: which side of which pair each query holds, and which pairs count.

Two lexicons feed the pair sides a query's features hold (`cache.guard_features`): the guards' own
pairs, written here (enable / disable, on / off...), and WordNet's (`cache.lexicons`). A pair
differs when the queries hold different members; WordNet's only when each holds one member,
the guards' swap-only pairs only when both hold a member, their marked side (disable) alone
too. Opposite prefixes on one stem (overweight / underweight) are compared from the words.

The second polarity reading (`cache.guard_polarity`) is read here, only when the first finds
a negation or antonym, and only its agreement is asked: "not possible" / "impossible".
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from cache.guard_polarity import SECOND_READING, second_reading
from cache.guard_words import KEPT, lower_words
from cache.guards_zh import pair_list

# A pair differs when the two queries hold different members. Only the marked (negated) side
# of these counts on its own too: "how do I disable X" against "how do I manage X".
_EN_PAIRS = pair_list(
    "enable/disable activate/deactivate lock/unlock subscribe/unsubscribe connect/disconnect "
    "install/uninstall mute/unmute follow/unfollow encrypt/decrypt"
)
# Too common to count on one side alone ("shows up", "before", "more than once", "open an
# account", "my new phone"): only a swap counts.
_EN_SWAP_PAIRS = pair_list(
    "on/off up/down old/new first/last early/late send/receive join/leave cancel/keep "
    "add/remove increase/decrease upgrade/downgrade open/close start/stop allow/block "
    "include/exclude before/after more/less maximum/minimum buy/sell deposit/withdraw "
    "import/export show/hide accept/reject sign_in/sign_out log_in/log_out over/under "
    "above/below at_least/at_most pause/resume approve/deny upload/download higher/lower "
    "private/public next/last next/previous summer/winter summer/autumn winter/autumn"
)
# Phrasal verbs that say what a pair's member says, in the second reading: "turn off location"
# = "disable location".
_PHRASAL = (
    (re.compile(r" (?:turn|switch) (?:it |them )?off "), " disable "),
    (re.compile(r" (?:turn|switch) (?:it |them )?on "), " enable "),
)

# Each member of the guards' own pairs, space-padded, and the side it reads as.
_OWN_SIDES = tuple(
    (f" {member} ", f"ant:{left}/{right}:{side}")
    for left, right in (*_EN_PAIRS, *_EN_SWAP_PAIRS)
    for side, member in enumerate((left, right))
)


def own_pair_readings(padded: str) -> tuple[list[str], list[str]]:
    """The guards' own pair sides in ``padded`` (lemmas, space-padded), "ant:<a>/<b>:<side>",
    as read the first way and the second ("turn off" is "disable")."""
    first = _own_pairs(padded)
    phrasal = padded
    for pattern, member in _PHRASAL:
        phrasal = pattern.sub(member, phrasal)
    return first, _own_pairs(phrasal) if phrasal != padded else first


def _own_pairs(padded: str) -> list[str]:
    return [side for member, side in _OWN_SIDES if member in padded]


def lemma(word: str) -> str:
    # Just enough inflection for the antonym lexicon: enabled -> enable, stopped -> stop.
    if word in _EN_VOCAB:
        return word
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix):
            stem = word[: -len(suffix)] + repl
            for guess in (stem, stem + "e", stem[:-1]):
                if guess in _EN_VOCAB:
                    return guess
    return word


def lexicon_pairs() -> tuple[tuple[str, str], ...]:
    """The English antonym pairs written here (``bench.wordnet_antonyms`` leaves them out)."""
    return tuple(
        (left.replace(" ", "_"), right.replace(" ", "_"))
        for left, right in (*_EN_PAIRS, *_EN_SWAP_PAIRS)
    )


_EN_VOCAB = frozenset(
    w for pair in (*_EN_PAIRS, *_EN_SWAP_PAIRS) for side in pair for w in side.split()
)


def antonym_differences(
    fa: dict[str, Counter[str]], fb: dict[str, Counter[str]], found: list[str]
) -> list[str]:
    """``found`` with its "ant" (the two queries' pair sides differ) replaced by the pairs
    that count, as ``antonym:<a>/<b>``."""
    # Antonym members live under one "ant" key; report per pair, honouring swap-only pairs.
    # The features' pair index (`index_pairs`): a common word ("best") is in a hundred
    # WordNet pairs, and only those both queries hold can count.
    plain = [kind for kind in found if kind != "ant"]
    if "ant" not in found:
        return plain
    sides_a, sides_b = fa.get("ant", Counter()), fb.get("ant", Counter())
    empty: Counter[str] = Counter()
    wn_a, wn_b = fa.get(_INDEX + _WN, empty), fb.get(_INDEX + _WN, empty)
    own = fa.get(_INDEX + _OWN, empty).keys() | fb.get(_INDEX + _OWN, empty).keys()
    for pair in sorted((wn_a.keys() & wn_b.keys()) | own):
        have_a = (f"{pair}:0" in sides_a, f"{pair}:1" in sides_a)
        have_b = (f"{pair}:0" in sides_b, f"{pair}:1" in sides_b)
        if have_a == have_b:
            continue
        if pair.startswith("wn:"):
            # WordNet's pairs hold common words with many senses ("lost my phone, help me
            # find it"): only one member in one query and the other in the other counts.
            if sum(have_a) == sum(have_b) == 1:
                plain.append("antonym:" + pair.removeprefix("wn:"))
            continue
        left, right = pair.removeprefix("ant:").split("/")
        one_sided = not (any(have_a) and any(have_b))
        if one_sided and (left, right) in _EN_SWAP_PAIRS:
            continue
        if one_sided and (left, right) in _EN_PAIRS and not (have_a[1] or have_b[1]):
            continue  # only the unmarked side ("enable") is present, on one side
        plain.append(f"antonym:{left}/{right}")
    return plain


# Feature keys of the pair index: WordNet's pair names, and the guards' own.
_INDEX, _WN, _OWN = "pairs", ":wn", ":own"
# What the second reading is read from, kept for when it is needed: the text the English
# scan saw with the negations counted before it, and the guards' own pairs read the second way.
SECOND_INPUT, SECOND_OWN = "second:input", "second:own"
NOT_COMPARED = frozenset({_INDEX + _WN, _INDEX + _OWN, SECOND_INPUT, SECOND_OWN})


def keep_second_input(
    feats: dict[str, Counter[str]], text: str, other_negations: int, own: list[str]
) -> None:
    """Keep in ``feats`` what the second reading is read from, should it be asked."""
    feats[SECOND_INPUT] = Counter({text: other_negations})
    feats[SECOND_OWN] = Counter(own)


def index_pairs(feats: dict[str, Counter[str]], names: set[str], own: list[str]) -> None:
    """Index the pair names of ``feats``' sides: WordNet's (``names``) and the guards' own."""
    if names:
        feats[_INDEX + _WN] = Counter(names)
    if own:
        feats[_INDEX + _OWN] = Counter(key.rsplit(":", 1)[0] for key in own)


# Prefixes that turn a word into its opposite: overweight / underweight, upstairs / downstairs,
# indoor / outdoor, input / output, prewar / postwar.
# "non" takes no partner: "a non load bearing wall" / "a load bearing wall".
_OPPOSITE_PREFIXES = (
    ("over", "under"),
    ("up", "down"),
    ("in", "out"),
    ("pre", "post"),
    ("non", ""),
)
_MIN_STEM = 4


def prefix_antonyms(query_a: str, query_b: str) -> list[str]:
    words_a, words_b = _non_joined(lower_words(query_a)), _non_joined(lower_words(query_b))
    only_a, only_b = words_a - words_b, words_b - words_a
    found = []
    for left, right in _OPPOSITE_PREFIXES:
        for one, other in ((only_a, only_b), (only_b, only_a)):
            for word in one:
                stem = word[len(left) :]
                if word.startswith(left) and len(stem) >= _MIN_STEM and right + stem in other:
                    found.append(f"antonym:{left}{stem}/{right}{stem}")
    return found


def _non_joined(words: tuple[str, ...]) -> frozenset[str]:
    # "non-profit", "non profit" and "nonprofit" are one word.
    joined: list[str] = []
    for word in words:
        if joined and joined[-1] == "non":
            joined[-1] += word
        else:
            joined.append(word)
    return frozenset(joined)


def polarity(kind: str) -> bool:
    return kind == "negation" or kind.startswith("antonym:")


def second_reading_alike(fa: dict[str, Counter[str]], fb: dict[str, Counter[str]]) -> bool:
    # Read only here, when the first reading found a negation or antonym: most pairs never do.
    sa, sb = _second_of(fa), _second_of(fb)
    negation, antonym = SECOND_READING
    if sa.get(negation) != sb.get(negation):
        return False
    sides_a, sides_b = sa.get(antonym, Counter()), sb.get(antonym, Counter())
    return not antonym_differences(
        {"ant": sides_a, **sa}, {"ant": sides_b, **sb}, ["ant"] * (sides_a != sides_b)
    )


def _second_of(feats: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    ((rest, other_negations),) = feats[SECOND_INPUT].items()
    return _second(rest, other_negations, tuple(sorted(feats[SECOND_OWN].elements())))


@lru_cache(maxsize=KEPT)
def _second(rest: str, other_negations: int, own: tuple[str, ...]) -> dict[str, Counter[str]]:
    """The second reading's features (`cache.guard_polarity`), with their pair index."""
    feats: dict[str, Counter[str]] = {}
    names = second_reading(rest, other_negations, list(own), feats)
    index_pairs(feats, names, list(own))
    return feats
