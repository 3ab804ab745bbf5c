"""Build ``cache/data/related_en.tsv``: which English nouns and adjectives WordNet 3.0 relates.

Development-time only; the gateway reads the TSV and needs neither library. Needs nltk and
lemminflect (``pip install nltk lemminflect``) and the WordNet 3.0 database as Debian ships it
(``apt-get install wordnet-base``: /usr/share/wordnet). Run:

    python -m bench.wordnet_related [--wordnet /usr/share/wordnet]

Each line: ``word<TAB>senses<TAB>neighbours``, both space-separated synset ids (``n``, ``a``, ``v``
and the offset in base 36). A word's senses are its noun and adjective synsets, plus the head of
each adjective cluster it is a satellite of (little -> young); its neighbours are the synsets one
link away: hypernyms, see-also adjectives, derivations and pertainyms. Two words are
related when they share a sense or one's sense is the other's neighbour (teenager / adolescent,
young / little, explosion / blast); checking / savings or economy / business are not.
Inflected forms carry their lemma's senses: an adjective's (bigger, largest), a noun's
irregular plural (children), a verb's when the verb is a noun or adjective too ("checking",
"showed"); words known only as verbs or adverbs, and their forms, have none.
Kept: single lower-case words of 2+ letters.
"""

from __future__ import annotations

from pathlib import Path

from bench.wordnet_source import wordnet_and_output

OUT = Path(__file__).resolve().parent.parent / "cache" / "data" / "related_en.tsv"


def _id(synset) -> str:  # type: ignore[no-untyped-def]
    pos = {"n": "n", "v": "v"}.get(synset.pos(), "a")
    return pos + _base36(synset.offset())


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _forms(word: str, upos: str) -> set[str]:
    from lemminflect import getAllInflections

    return {
        form.lower()
        for forms in getAllInflections(word, upos=upos).values()
        for form in forms
        if form.isalpha()
    }


def _kept(synset) -> bool:  # type: ignore[no-untyped-def]
    return synset.pos() in ("n", "a", "s")


def main() -> None:
    wn, out = wordnet_and_output(__doc__.split("\n")[0], OUT)
    senses: dict[str, set[str]] = {}
    neighbours: dict[str, set[str]] = {}
    for synset in wn.all_synsets():
        if not _kept(synset):
            continue
        own = {_id(synset)}
        if synset.pos() == "s":
            own |= {_id(head) for head in synset.similar_tos()}
        near = {
            _id(other)
            for other in (synset.hypernyms() + synset.instance_hypernyms() + synset.also_sees())
            if _kept(other)
        }
        for lemma in synset.lemmas():
            near |= {
                _id(other.synset())
                for other in lemma.derivationally_related_forms() + lemma.pertainyms()
                if _kept(other.synset())
            }
        for lemma in synset.lemmas():
            word = lemma.name()
            if not (word.isalpha() and word.islower() and len(word) > 1):
                continue
            # "bigger" and "largest" are "big" and "large"; "children" is "child" (a regular
            # plural's "s" is stripped where the guards look a word up).
            forms = _forms(word, "NOUN" if synset.pos() == "n" else "ADJ") - {word}
            for form in {word} | {f for f in forms if synset.pos() != "n" or f[-1] != "s"}:
                senses.setdefault(form, set()).update(own)
                neighbours.setdefault(form, set()).update(near)
    # A verb's inflected forms read as modifiers too ("a checking account", "boiled eggs"):
    # they get the verb's senses when the verb is also a noun or adjective ("showed" and
    # "shown" then share "show"'s). Words WordNet knows only as verbs or adverbs, and the
    # forms of such verbs, get no senses: known, and never taken for a modifier.
    nominal = {word for word, found in senses.items() if found}
    for synset in wn.all_synsets():
        for lemma in synset.lemmas():
            word = lemma.name()
            if not (word.isalpha() and word.islower() and len(word) > 1):
                continue
            senses.setdefault(word, set())
            neighbours.setdefault(word, set())
            if synset.pos() != "v":
                continue
            for form in _forms(word, "VERB") - {word}:
                senses.setdefault(form, set())
                neighbours.setdefault(form, set())
                if word in nominal:
                    senses[form].add(_id(synset))
                    neighbours[form].update(_id(up) for up in synset.hypernyms())
    lines = [
        f"{word}\t{' '.join(sorted(senses[word]))}\t"
        f"{' '.join(sorted(neighbours[word] - senses[word]))}\n"
        for word in sorted(senses)
    ]
    out.write_text("".join(lines))
    print(f"{len(lines)} words -> {out}")


if __name__ == "__main__":
    main()
