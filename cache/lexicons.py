"""The guards' generated English lexicons: antonyms from WordNet, units from pint.

* ``cache/data/antonyms_en.tsv``, built from WordNet 3.0 by ``python -m bench.wordnet_antonyms``
  (WordNet licence: ``cache/data/WORDNET_LICENSE``): which side of which antonym pair a word
  stands for. The guards count a pair only when the two queries hold opposite members (raise /
  lower, cheapest / most expensive, permanently / temporarily).
* ``cache/data/related_en.tsv``, built from WordNet 3.0 by ``python -m bench.wordnet_related``:
  each noun and adjective's senses and the senses one link away. The guards refuse a query
  whose one modifier is replaced by a word WordNet does not relate to it (a checking account /
  a savings account).
* ``cache/data/verb_forms_en.tsv``, built from WordNet 3.0 by ``python -m bench.wordnet_verbs``:
  each verb form's lemmas and whether it is a past participle. The voice guard reads "was Brazil
  beaten by Germany" as "Germany beat Brazil".
* ``cache/data/doers_en.tsv``, built from WordNet 3.0 by ``python -m bench.wordnet_doers``:
  nouns whose first sense is a person, an animal or a group (landlord, son, dog, company). The
  people guard refuses "if you break a lease" / "if your landlord breaks a lease".
* ``cache/data/places_en.tsv``, built from WordNet 3.0 by ``python -m bench.wordnet_places``:
  the other names of a place and the places an adjective stands for (Spanish: Spain; American:
  America, United States, US, USA). The names guard reads them as the same name.
* ``cache/data/units_en.tsv``, built from pint's unit definitions by ``python -m
  bench.pint_units``: what a unit word measures ("miles" and "km" both length). The guards
  count units only when both queries name a unit of one dimension the other does not.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

_DATA = Path(__file__).resolve().parent / "data"

# word -> ((pair key "a/b", side 0 or 1), ...)
Sides = MappingProxyType[str, tuple[tuple[str, int], ...]]


@cache
def antonym_sides() -> Sides:
    """Every inflected form of a WordNet antonym member, with the pairs it belongs to."""
    found: dict[str, list[tuple[str, int]]] = {}
    for line in (_DATA / "antonyms_en.tsv").read_text(encoding="utf-8").splitlines():
        a, b, forms_a, forms_b = line.split("\t")
        for side, forms in enumerate((forms_a, forms_b)):
            for form in forms.split():
                found.setdefault(form, []).append((f"{a}/{b}", side))
    return MappingProxyType({word: tuple(sides) for word, sides in found.items()})


@lru_cache(maxsize=65536)
def wordnet_keys(word: str, opposite: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The guards' feature keys for ``word``'s WordNet pairs, ``"wn:<pair>:<side>"`` (the other
    side when ``opposite``: "least expensive"), and the pair names ``"wn:<pair>"``. Cached: a
    common word ("best") is in over a hundred pairs."""
    sides = antonym_sides().get(word, ())
    keys = tuple(f"wn:{pair}:{1 - side if opposite else side}" for pair, side in sides)
    return keys, tuple(f"wn:{pair}" for pair, _ in sides)


class Unit(NamedTuple):
    unit: str  # pint's canonical name: "kilometer"
    dimension: str  # "length", "mass", "time", "area", "volume", "temperature", "speed"


class UnitWords(NamedTuple):
    names: MappingProxyType[str, Unit]  # count wherever they occur: "miles", "kilograms"
    symbols: MappingProxyType[str, Unit]  # count only after a number: "5 km", "70 kg"


@cache
def unit_words() -> UnitWords:
    """Every unit word of the table, names apart from symbols."""
    names: dict[str, Unit] = {}
    symbols: dict[str, Unit] = {}
    for line in (_DATA / "units_en.tsv").read_text(encoding="utf-8").splitlines():
        word, unit, dimension, kind = line.split("\t")
        (symbols if kind == "symbol" else names)[word] = Unit(unit, dimension)
    return UnitWords(MappingProxyType(names), MappingProxyType(symbols))


class WordSenses(NamedTuple):
    senses: frozenset[str]  # noun and adjective synsets (empty: a verb or adverb only)
    neighbours: frozenset[str]  # synsets one link away: hypernyms, derivations, see-also


class TsvTable:
    """A generated TSV sorted by its first field, searched in place: the table stays one bytes
    object with its line offsets, instead of tens of thousands of parsed entries in every
    process."""

    def __init__(self, table: bytes) -> None:
        self._table = table
        ends = np.flatnonzero(np.frombuffer(table, dtype=np.uint8) == ord("\n"))
        self._starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
        self._keys = _LineKeys(table, self._starts)

    def fields(self, key: str) -> list[str] | None:
        """The fields after *key* on its line, or None when the table does not hold it."""
        encoded = key.encode()
        at = bisect_left(self._keys, encoded)
        if at == len(self._starts) or self._keys[at] != encoded:
            return None
        start = int(self._starts[at])
        return self._table[start : self._table.index(b"\n", start)].decode().split("\t")[1:]


class _LineKeys:
    # The first field of each line, as a sequence `bisect` can search without copying.
    def __init__(self, table: bytes, starts: np.ndarray) -> None:
        self._table, self._starts = table, starts

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index: int) -> bytes:
        start = int(self._starts[index])
        return self._table[start : self._table.index(b"\t", start)]


class RelatedWords:
    """WordNet's nouns and adjectives (``related_en.tsv``, 2 MB)."""

    def __init__(self, table: bytes) -> None:
        self._table = TsvTable(table)

    def senses(self, word: str) -> WordSenses | None:
        """The word's senses and neighbours, or None when WordNet does not know the word."""
        found = self._table.fields(word)
        if found is None:
            return None
        senses, neighbours = found
        return WordSenses(frozenset(senses.split()), frozenset(neighbours.split()))


class VerbForm(NamedTuple):
    lemmas: frozenset[str]  # "found": find and found
    participle: bool  # a past participle of one of them ("beaten", "paid", "killed")


class VerbForms:
    """WordNet's verbs with every inflected form (``verb_forms_en.tsv``)."""

    def __init__(self, table: bytes) -> None:
        self._table = TsvTable(table)

    @lru_cache(maxsize=4096)  # noqa: B019 - one table per process, kept for its life
    def form(self, word: str) -> VerbForm | None:
        """The verbs *word* is a form of, or None when it is no form of a WordNet verb."""
        found = self._table.fields(word)
        if found is None:
            return None
        lemmas, participle = found
        return VerbForm(frozenset(lemmas.split(",")), participle == "1")


@cache
def related_words() -> RelatedWords:
    return RelatedWords((_DATA / "related_en.tsv").read_bytes())


@cache
def verb_forms() -> VerbForms:
    return VerbForms((_DATA / "verb_forms_en.tsv").read_bytes())


class Compounds:
    """WordNet's nouns of two words (``compounds_en.tsv``, 50,509): common cold, brown rice."""

    def __init__(self, table: bytes) -> None:
        self._table = TsvTable(table)

    def holds(self, first: str, second: str) -> bool:
        """Whether "first second" is a noun, both words in the guards' singular form."""
        found = self._table.fields(first)
        return found is not None and second in found[0].split()


@cache
def compounds() -> Compounds:
    return Compounds((_DATA / "compounds_en.tsv").read_bytes())


@cache
def doer_nouns() -> frozenset[str]:
    """Nouns that name someone who acts (``doers_en.tsv``, 18,572 words with plurals)."""
    return frozenset((_DATA / "doers_en.tsv").read_text(encoding="utf-8").split())


@cache
def adverbs() -> frozenset[str]:
    """Single words WordNet knows as adverbs (``adverbs_en.tsv``, 3,622 words)."""
    return frozenset((_DATA / "adverbs_en.tsv").read_text(encoding="utf-8").split())


@cache
def place_openings() -> frozenset[tuple[str, str]]:
    """The first two words of every place name of two words or more (``place_runs_en.tsv``,
    1,176 names): ("new", "york"), ("north", "korea")."""
    names = (_DATA / "place_runs_en.tsv").read_text(encoding="utf-8").splitlines()
    return frozenset((words[0], words[1]) for words in map(str.split, names) if len(words) > 1)


@cache
def place_names() -> MappingProxyType[str, tuple[tuple[str, ...], ...]]:
    """A place's other names and an adjective's places, each name as its lower-case words."""
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for line in (_DATA / "places_en.tsv").read_text(encoding="utf-8").splitlines():
        word, names = line.split("\t")
        found[word] = tuple(tuple(name.split()) for name in names.split("|"))
    return MappingProxyType(found)
