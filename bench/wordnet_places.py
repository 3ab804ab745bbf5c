"""Build ``cache/data/places_en.tsv``: places, their other names and their adjectives, from
WordNet 3.0.

Development-time only (nltk over Debian's ``wordnet-base``, as ``bench.wordnet_antonyms``). Run:

    python -m bench.wordnet_places [--wordnet /usr/share/wordnet]

Each line: ``word<TAB>names`` where ``word`` is a capitalised adjective or a one-word place
name, lower case, and ``names`` the place's names it stands for, ``|``-separated, each a
space-separated run of words: ``spanish<TAB>spain``, ``american<TAB>america|united states|
united states of america|us|usa``, ``holland<TAB>kingdom of the netherlands|nederland|
netherlands``. An adjective gets the names of every place it pertains to (WordNet's
pertainyms: Spanish -> Spain); a place name gets the other names of its own synset. Left out:
names with characters other than letters and spaces ("U.S.": the guards split words there),
names of two places ("China" is also Taiwan's) and names holding one ("Republic of China"),
and adjectives none of whose place's names starts like them. An adjective whose places all
have one name it starts like takes that name, even a name of two places ("chinese<TAB>china",
"japanese<TAB>japan").
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "places_en.tsv"


def place_name(lemma) -> str | None:  # type: ignore[no-untyped-def]
    """A capitalised lemma's name in lower case, or None (letters and spaces only)."""
    text = str(lemma.name()).replace("_", " ")
    if not text[0].isupper() or not text.replace(" ", "").isalpha():
        return None
    return text.lower()


def _place_names(synset) -> set[str]:  # type: ignore[no-untyped-def]
    return {n for n in map(place_name, synset.lemmas()) if n}


def _is_place(synset) -> bool:  # type: ignore[no-untyped-def]
    return bool(synset.pos() == "n" and synset.lexname() == "noun.location")


def _continent(synset) -> bool:  # type: ignore[no-untyped-def]
    # WordNet files continents as objects: an adjective that names no location may name one
    # (Australian, Asian, European).
    return bool(synset.pos() == "n" and synset.lexname() == "noun.object")


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    places = [synset for synset in wn.all_synsets("n") if _is_place(synset)]
    # A name of two places ("China": the People's Republic and Taiwan) bridges neither.
    seen: dict[str, int] = {}
    for synset in places:
        for name in _place_names(synset):
            seen[name] = seen.get(name, 0) + 1
    ambiguous = {name for name, count in seen.items() if count > 1}
    # ... nor does a longer name holding one ("Republic of China").
    ambiguous |= {name for name in seen if set(name.split()) & ambiguous}
    names: dict[str, set[str]] = {}
    for synset in places:
        all_names = _place_names(synset) - ambiguous
        for word in all_names:
            if " " not in word and len(all_names) > 1:
                names.setdefault(word, set()).update(all_names - {word})
    pertains: dict[str, set[object]] = {}
    continents: dict[str, set[object]] = {}
    for synset in wn.all_synsets("a"):
        for lemma in synset.lemmas():
            adjective = place_name(lemma)
            if adjective is not None and " " not in adjective:
                pertains.setdefault(adjective, set()).update(
                    p.synset() for p in lemma.pertainyms() if _is_place(p.synset())
                )
                continents.setdefault(adjective, set()).update(
                    p.synset() for p in lemma.pertainyms() if _continent(p.synset())
                )
    for adjective, objects in continents.items():
        if not pertains.get(adjective):
            pertains[adjective] = objects
    for adjective, targets in pertains.items():
        if len(targets) == 1:
            found: set[str] = _place_names(next(iter(targets))) - ambiguous
            # Kept only when a name shares the adjective's first letters (Spanish / Spain,
            # American / America): WordNet's "Russian" pertains to the Soviet Union.
            if any(word[:3] == adjective[:3] for name in found for word in name.split()):
                names.setdefault(adjective, set()).update(found)
        if adjective not in names and targets:
            # "Chinese" (China or Taiwan, both named "China"), "Japanese" (the country and the
            # islands): the one-word name every place has and the adjective starts like.
            shared = set.intersection(*(_place_names(target) for target in targets))
            alike = {name for name in shared if " " not in name and name[:3] == adjective[:3]}
            if alike:
                names[adjective] = alike
    lines = [
        f"{word}\t{'|'.join(sorted(found))}\n" for word, found in sorted(names.items()) if found
    ]
    out.write_text("".join(lines))
    print(f"{len(lines)} words -> {out}")


if __name__ == "__main__":
    main()
