"""WordNet's English antonym pairs, inflected: which pair sides a word stands for.

Built from WordNet 3.0 by ``python -m bench.wordnet_antonyms`` into
``cache/data/antonyms_en.tsv`` (WordNet licence: see ``cache/data/WORDNET_LICENSE``). The guards
count a pair only when the two queries hold opposite members (raise / lower, cheapest / most
expensive, permanently / temporarily); one member on one side alone says nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import MappingProxyType

_TABLE = Path(__file__).resolve().parent / "data" / "antonyms_en.tsv"

# word -> ((pair key "a/b", side 0 or 1), ...)
Sides = MappingProxyType[str, tuple[tuple[str, int], ...]]


@cache
def antonym_sides() -> Sides:
    """Every inflected form of a WordNet antonym member, with the pairs it belongs to."""
    found: dict[str, list[tuple[str, int]]] = {}
    for line in _TABLE.read_text(encoding="utf-8").splitlines():
        a, b, forms_a, forms_b = line.split("\t")
        for side, forms in enumerate((forms_a, forms_b)):
            for form in forms.split():
                found.setdefault(form, []).append((f"{a}/{b}", side))
    return MappingProxyType({word: tuple(sides) for word, sides in found.items()})
